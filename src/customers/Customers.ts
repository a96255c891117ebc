/**
 * The customer capability as both doors (REST and RPC) use it: permissions,
 * then queries straight to the repository and commands to the customer's entity.
 */
import { Context, Effect, Layer, Option, Predicate } from "effect"
import type { ClusterError, Sharding } from "effect/cluster"
import type { Actor, CommandOptions } from "../domain/Access.ts"
import { mayQuery, personalFieldsServed, requirePermission, unmasked, visibleTo, writesMasked } from "../domain/Access.ts"
import {
  type CreateCustomer,
  type Customer,
  CustomerId,
  type PatchCustomer,
  type ReadOnlyEcho,
  type ReplaceCustomer
} from "../domain/Customer.ts"
import { echoOf } from "../domain/Customer.ts"
import { toPatch } from "../domain/CustomerState.ts"
import { type CustomerPage, fieldsReadBy, type ListCustomersQuery, type ServedCustomer } from "../domain/CustomerQuery.ts"
import {
  type CreateCustomerErrors,
  CustomerNotFound,
  type DeleteCustomerErrors,
  FieldNotVisible,
  type ErrorOf,
  type GetCustomerErrors,
  type ListCustomersErrors,
  type ReplaceCustomerErrors,
  Unavailable,
  type UpdateCustomerErrors,
  type VerifyEmailErrors
} from "../domain/Errors.ts"
import type { AnonymizeCustomerErrors } from "../domain/Erasure.ts"
import { sha256, uuidFromParts, uuidv7 } from "../platform/Ids.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { AuditLog } from "../privacy/AuditLog.ts"
import { CustomerCreation, CustomerEntity } from "./CustomerEntity.ts"
import { CustomerRepo } from "./CustomerRepo.ts"

type ClusterFailure =
  | ClusterError.MailboxFull
  | ClusterError.AlreadyProcessingMessage
  | ClusterError.EntityNotAssignedToRunner
  | ClusterError.PersistenceError

/** The cluster's own failures (full mailbox, runner moving) are the caller's cue to retry later. */
export const clusterFailuresUnavailable = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    effect,
    (error): error is Extract<E, ClusterFailure> =>
      Predicate.isTagged(error, "MailboxFull") || Predicate.isTagged(error, "AlreadyProcessingMessage") ||
      Predicate.isTagged(error, "EntityNotAssignedToRunner") || Predicate.isTagged(error, "PersistenceError"),
    (failure) => Predicate.isTagged(failure, "PersistenceError") ? Effect.die(failure) : Effect.fail(new Unavailable({}))
  )

export interface Created {
  readonly customer: ServedCustomer
  readonly replayed: boolean
}

export class Customers extends Context.Service<Customers, {
  get(actor: Actor, id: CustomerId): Effect.Effect<ServedCustomer, ErrorOf<typeof GetCustomerErrors>>
  list(actor: Actor, query: ListCustomersQuery): Effect.Effect<CustomerPage, ErrorOf<typeof ListCustomersErrors>>
  create(
    options: CommandOptions & { readonly input: CreateCustomer; readonly idempotencyKey: string | undefined }
  ): Effect.Effect<Created, ErrorOf<typeof CreateCustomerErrors>>
  replace(
    options: CommandOptions & {
      readonly id: CustomerId
      readonly replacement: ReplaceCustomer
      readonly expectedVersion: number | null
    }
  ): Effect.Effect<ServedCustomer, ErrorOf<typeof ReplaceCustomerErrors>>
  update(
    options: CommandOptions & {
      readonly id: CustomerId
      readonly patch: PatchCustomer
      readonly expectedVersion: number | null
    }
  ): Effect.Effect<ServedCustomer, ErrorOf<typeof UpdateCustomerErrors>>
  delete(
    options: CommandOptions & { readonly id: CustomerId; readonly expectedVersion: number | null }
  ): Effect.Effect<void, ErrorOf<typeof DeleteCustomerErrors>>
  verifyEmail(
    options: CommandOptions & { readonly id: CustomerId; readonly token: string }
  ): Effect.Effect<ServedCustomer, ErrorOf<typeof VerifyEmailErrors>>
  anonymize(
    options: CommandOptions & { readonly id: CustomerId; readonly reason: string | null }
  ): Effect.Effect<ServedCustomer, ErrorOf<typeof AnonymizeCustomerErrors>>
}>()("cms/customers/Customers") {
  static readonly layer: Layer.Layer<
    Customers,
    never,
    CustomerRepo | CustomerCreation | AuditLog | Sharding.Sharding
  > = Layer.effect(
    Customers,
    Effect.gen(function*() {
      const repo = yield* CustomerRepo
      const entityFor = yield* CustomerEntity.client
      const creation = yield* CustomerCreation
      const audit = yield* AuditLog

      /** Every answer carrying a customer is the view the actor's role may see (Access.ts). */
      const servedTo = (actor: Actor) => (customer: Customer): ServedCustomer => visibleTo(actor.role, customer)

      /**
       * A read that served personal fields is audited, one entry per customer (who, which fields, the request);
       * reads of the same moment share one insert (AuditLog.recordReads).
       */
      const auditRead = (actor: Actor, customerIds: ReadonlyArray<string>, selected?: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const fields = personalFieldsServed(actor.role, selected)
          if (fields.length === 0 || customerIds.length === 0) return
          const requestId = yield* CurrentRequestId
          yield* audit.recordReads(
            customerIds.map((customerId) => ({ actor, action: "customer.read", customerId, requestId, fields }))
          )
        })

      // Every role reads (see Access.ts): authentication was the whole check.
      const get = Effect.fn("Customers.get")(function*(actor: Actor, id: CustomerId) {
        const customer = yield* repo.lookup(id).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new CustomerNotFound({ customerId: id })),
            onSome: Effect.succeed
          }))
        )
        yield* auditRead(actor, [id])
        return servedTo(actor)(customer)
      })

      const list = Effect.fn("Customers.list")(function*(actor: Actor, query: ListCustomersQuery) {
        const refused = fieldsReadBy(query).find(({ field, needs }) => !mayQuery(actor.role, field, needs))
        if (refused !== undefined) return yield* new FieldNotVisible({ field: refused.parameter })
        const page = yield* repo.list(query)
        yield* auditRead(actor, page.data.map((customer) => customer.id), query.fields)
        return { ...page, data: page.data.map((customer) => visibleTo(actor.role, customer)) }
      })

      const create = Effect.fn("Customers.create")(function*(
        { actor, requestId, input, idempotencyKey }: CommandOptions & {
          readonly input: CreateCustomer
          readonly idempotencyKey: string | undefined
        }
      ) {
        yield* requirePermission(actor, "customers:write")
        // A fresh id no one else knows yet: nothing can race this first command (see CustomerCreation).
        const served = ({ customer, replayed }: { readonly customer: Customer; readonly replayed: boolean }): Created => ({
          customer: servedTo(actor)(customer),
          replayed
        })
        if (idempotencyKey === undefined) {
          return served(
            yield* creation.create(CustomerId.make(uuidv7()), { actor, requestId, input, idempotency: null })
          )
        }
        const principal = `${actor.kind}:${actor.subject}`
        // A retried request maps to the same customer id, so its entity serialises the original and the retry.
        const id = CustomerId.make(uuidFromParts("create-customer", principal, idempotencyKey))
        const idempotency = { principal, key: idempotencyKey, requestHash: sha256(JSON.stringify(input)) }
        return served(
          yield* entityFor(id).Create({ actor, requestId, input, idempotency }).pipe(clusterFailuresUnavailable)
        )
      })

      /** An update through the customer's entity; `echo` holds the read-only fields a replacement sent back. */
      const sendUpdate = (
        { actor, requestId, id, expectedVersion }: CommandOptions & {
          readonly id: CustomerId
          readonly expectedVersion: number | null
        },
        written: PatchCustomer,
        writtenEcho: ReadOnlyEcho
      ) =>
        Effect.gen(function*() {
          yield* requirePermission(actor, "customers:write")
          // A role served masked addresses sends them back as it read them: they stand for the stored ones.
          const stored = writesMasked(actor.role, written) || writesMasked(actor.role, writtenEcho)
            ? yield* repo.lookup(id)
            : Option.none()
          const [patch, echo] = Option.match(stored, {
            onNone: () => [written, writtenEcho] as const,
            onSome: (customer) =>
              [unmasked(actor.role, written, customer), unmasked(actor.role, writtenEcho, customer)] as const
          })
          return yield* entityFor(id).Update({ actor, requestId, patch, echo, expectedVersion }).pipe(
            clusterFailuresUnavailable,
            Effect.map(servedTo(actor))
          )
        })

      const replace = Effect.fn("Customers.replace")(function*(
        options: CommandOptions & {
          readonly id: CustomerId
          readonly replacement: ReplaceCustomer
          readonly expectedVersion: number | null
        }
      ) {
        return yield* sendUpdate(options, toPatch(options.replacement), echoOf(options.replacement))
      })

      const update = Effect.fn("Customers.update")(function*(
        options: CommandOptions & {
          readonly id: CustomerId
          readonly patch: PatchCustomer
          readonly expectedVersion: number | null
        }
      ) {
        // Only a replacement echoes read-only fields; with none sent, none can differ.
        return yield* sendUpdate(options, options.patch, {}).pipe(Effect.catchTag("ReadOnlyFieldChanged", Effect.die))
      })

      const remove = Effect.fn("Customers.delete")(function*(
        { actor, requestId, id, expectedVersion }: CommandOptions & {
          readonly id: CustomerId
          readonly expectedVersion: number | null
        }
      ) {
        yield* requirePermission(actor, "customers:delete")
        yield* entityFor(id).Delete({ actor, requestId, expectedVersion }).pipe(clusterFailuresUnavailable)
      })

      const verifyEmail = Effect.fn("Customers.verifyEmail")(function*(
        { actor, requestId, id, token }: CommandOptions & { readonly id: CustomerId; readonly token: string }
      ) {
        yield* requirePermission(actor, "customers:write")
        return yield* entityFor(id).ConfirmEmail({ actor, requestId, token }).pipe(
          clusterFailuresUnavailable,
          Effect.map(servedTo(actor))
        )
      })

      const anonymize = Effect.fn("Customers.anonymize")(function*(
        { actor, requestId, id, reason }: CommandOptions & { readonly id: CustomerId; readonly reason: string | null }
      ) {
        yield* requirePermission(actor, "privacy:anonymize")
        return yield* entityFor(id).Anonymize({ actor, requestId, reason }).pipe(
          clusterFailuresUnavailable,
          Effect.map(servedTo(actor))
        )
      })

      return Customers.of({ get, list, create, replace, update, delete: remove, verifyEmail, anonymize })
    })
  )
}
