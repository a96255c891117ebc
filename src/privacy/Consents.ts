/**
 * Consent as both doors (REST and RPC) use it: reads straight from the repository, changes through the
 * customer's entity (ConsentCommand.ts), with the permission checked first. A read reveals the person's choices
 * (personal data, and telling: a withdrawal of analytics or an objection to marketing), so it is audited as a
 * read of personal fields is (`customer.consent.read`, buffered like `customer.read`).
 */
import { Context, Effect, Layer, Option } from "effect"
import type { Sharding } from "effect/cluster"
import { type Actor, type CommandOptions, requirePermission } from "../domain/Access.ts"
import type { ChangeConsent, ConsentHistoryPage, ConsentHistoryQuery, CustomerConsent } from "../domain/Consent.ts"
import type { CustomerId } from "../domain/Customer.ts"
import {
  type ChangeConsentErrors,
  type ConsentHistoryErrors,
  CustomerNotFound,
  type ErrorOf,
  type GetConsentErrors
} from "../domain/Errors.ts"
import { CustomerEntity } from "../customers/CustomerEntity.ts"
import { CustomerRepo } from "../customers/CustomerRepo.ts"
import { clusterFailuresUnavailable } from "../customers/Customers.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { AuditLog } from "./AuditLog.ts"
import { ConsentRepo } from "./ConsentRepo.ts"

export class Consents extends Context.Service<Consents, {
  get(actor: Actor, id: CustomerId): Effect.Effect<CustomerConsent, ErrorOf<typeof GetConsentErrors>>
  change(
    options: CommandOptions & {
      readonly id: CustomerId
      readonly input: ChangeConsent
      /** The customer's version the caller read (If-Match, RPC's expectedVersion); null: any. */
      readonly expectedVersion: number | null
    }
  ): Effect.Effect<CustomerConsent, ErrorOf<typeof ChangeConsentErrors>>
  history(
    actor: Actor,
    id: CustomerId,
    query: ConsentHistoryQuery
  ): Effect.Effect<ConsentHistoryPage, ErrorOf<typeof ConsentHistoryErrors>>
}>()("cms/privacy/Consents") {
  static readonly layer: Layer.Layer<
    Consents,
    never,
    CustomerRepo | ConsentRepo | AuditLog | Sharding.Sharding
  > = Layer.effect(
    Consents,
    Effect.gen(function*() {
      const customers = yield* CustomerRepo
      const consents = yield* ConsentRepo
      const entityFor = yield* CustomerEntity.client
      const audit = yield* AuditLog

      /** The customer's version, failing for an unknown or erased customer (their consent is not served). */
      const versionOf = (id: CustomerId) =>
        customers.currentVersion(id).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new CustomerNotFound({ customerId: id })),
            onSome: Effect.succeed
          }))
        )

      const view = (id: CustomerId, version: number) =>
        Effect.map(consents.current(id), (purposes): CustomerConsent => ({ customerId: id, purposes, version }))

      /** `fields`: what was served (`consent.<purpose>`, or `consent.history`), as `customer.read` names fields. */
      const auditRead = (actor: Actor, id: CustomerId, fields: ReadonlyArray<string>) =>
        Effect.flatMap(
          CurrentRequestId,
          (requestId) => audit.recordReads([{ actor, action: "customer.consent.read", customerId: id, requestId, fields }])
        )

      // Every role reads consent (Access.ts): authentication was the whole check.
      const get = Effect.fn("Consents.get")(function*(actor: Actor, id: CustomerId) {
        const consent = yield* view(id, yield* versionOf(id))
        yield* auditRead(actor, id, consent.purposes.map((entry) => `consent.${entry.purpose}`))
        return consent
      })

      const change = Effect.fn("Consents.change")(function*(
        { actor, expectedVersion, id, input, requestId }: CommandOptions & {
          readonly id: CustomerId
          readonly input: ChangeConsent
          readonly expectedVersion: number | null
        }
      ) {
        yield* requirePermission(actor, "consent:write")
        const after = yield* entityFor(id).ChangeConsent({
          actor,
          requestId,
          changes: input.changes,
          reason: input.reason ?? null,
          expectedVersion
        }).pipe(clusterFailuresUnavailable)
        return yield* view(id, after.version)
      })

      const history = Effect.fn("Consents.history")(function*(actor: Actor, id: CustomerId, query: ConsentHistoryQuery) {
        yield* versionOf(id)
        const page = yield* consents.history(id, query)
        yield* auditRead(actor, id, ["consent.history"])
        return page
      })

      return Consents.of({ get, change, history })
    })
  )
}
