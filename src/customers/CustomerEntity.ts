/**
 * Each customer is a cluster entity keyed by its id: one fiber serialises its
 * commands, and each command writes atomically the row, an outbox event and an
 * audit entry: in one transaction, or in one statement when every value is
 * known before the write (a create; an update, guarded by the version it read),
 * which concurrent commands of other customers may share (one commit for all).
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Context, Effect, Layer, Option, Request, Schema } from "effect"
import { Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { Actor } from "../domain/Access.ts"
import { ConsentChange, creationChanges } from "../domain/Consent.ts"
import { CreateCustomer, Customer, CustomerId, PatchCustomer, ReadOnlyEcho } from "../domain/Customer.ts"
import { eventCustomerOf } from "../domain/CustomerEvents.ts"
import {
  applyPatch,
  changedReadOnlyField,
  consentSufficient,
  isVerificationExpired,
  statusTransition,
  verificationExpiry
} from "../domain/CustomerRules.ts"
import { createdCustomer, erasedState, initialState, stateOf } from "../domain/CustomerState.ts"
import {
  ConsentRequired,
  CustomerDeleted,
  CustomerNotFound,
  EmailAlreadyExists,
  Forbidden,
  IdempotencyKeyReused,
  IdentitySuppressed,
  InvalidStatusTransition,
  InvalidVerificationToken,
  MarketingObjection,
  ReadOnlyFieldChanged,
  VersionConflict
} from "../domain/Errors.ts"
import { randomToken, sha256 } from "../platform/Ids.ts"
import { EventErasure } from "../events/EventErasure.ts"
import { DestinationRepo } from "../destinations/DestinationRepo.ts"
import { profileFactFields } from "../segments/CustomerFacts.ts"
import { SegmentEvaluationQueue } from "../segments/EvaluationQueue.ts"
import { SegmentRepo } from "../segments/SegmentRepo.ts"
import { type NewEvent, Outbox } from "../platform/Outbox.ts"
import { type AuditEntry, AuditLog } from "../privacy/AuditLog.ts"
import { ConsentCommand } from "../privacy/ConsentCommand.ts"
import { ConsentRepo } from "../privacy/ConsentRepo.ts"
import { Keyring } from "../privacy/Keyring.ts"
import { DataExportJobRepo } from "../privacy/DataExportJobRepo.ts"
import { Erasure } from "../privacy/Erasure.ts"
import { anonymizedState, fieldsChanged } from "../domain/Erasure.ts"
import { CommandSql, groupedWrites, GroupedWrites, inOneStatement } from "../platform/Database.ts"
import { CustomerRepo, uniqueViolationOrDie } from "./CustomerRepo.ts"
import { EmailVerificationRepo, type PendingVerification } from "./EmailVerificationRepo.ts"
import { IdempotencyKeyRepo, type KeyedAnswer } from "./IdempotencyKeyRepo.ts"

const CommandContext = {
  actor: Actor,
  requestId: Schema.NullOr(Schema.String)
}

export const Idempotency = Schema.Struct({ principal: Schema.String, key: Schema.String, requestHash: Schema.String })

export const Create = Rpc.make("Create", {
  payload: { ...CommandContext, input: CreateCustomer, idempotency: Schema.NullOr(Idempotency) },
  success: Schema.Struct({ customer: Customer, replayed: Schema.Boolean }),
  error: Schema.Union([EmailAlreadyExists, IdentitySuppressed, ConsentRequired, IdempotencyKeyReused, CustomerDeleted])
})

export const Update = Rpc.make("Update", {
  payload: { ...CommandContext, patch: PatchCustomer, echo: ReadOnlyEcho, expectedVersion: Schema.NullOr(Schema.Int) },
  success: Customer,
  error: Schema.Union([
    CustomerNotFound,
    VersionConflict,
    EmailAlreadyExists,
    IdentitySuppressed,
    InvalidStatusTransition,
    ReadOnlyFieldChanged,
    Forbidden
  ])
})

export const Delete = Rpc.make("Delete", {
  payload: { ...CommandContext, expectedVersion: Schema.NullOr(Schema.Int) },
  error: Schema.Union([CustomerNotFound, VersionConflict])
})

export const ConfirmEmail = Rpc.make("ConfirmEmail", {
  payload: { ...CommandContext, token: Schema.String },
  success: Customer,
  error: Schema.Union([CustomerNotFound, InvalidVerificationToken, EmailAlreadyExists, IdentitySuppressed])
})

export const ChangeConsent = Rpc.make("ChangeConsent", {
  payload: {
    ...CommandContext,
    changes: Schema.Array(ConsentChange),
    reason: Schema.NullOr(Schema.String),
    expectedVersion: Schema.NullOr(Schema.Int)
  },
  success: Customer,
  error: Schema.Union([CustomerNotFound, VersionConflict, MarketingObjection])
})

/** Irreversible removal of the identifying fields; a customer already anonymous is answered as it is. */
export const Anonymize = Rpc.make("Anonymize", {
  payload: { ...CommandContext, reason: Schema.NullOr(Schema.String) },
  success: Customer,
  error: CustomerNotFound
})

export const CustomerEntity = Entity.make("Customer", [Create, Update, Delete, ConfirmEmail, ChangeConsent, Anonymize])

/** One command, one transaction: commit, then wake the relay; errors leave the transaction rolled back. */
const commandTransaction = (sql: PgClient.PgClient, outbox: Outbox["Service"]) =>
<A, E, R>(effect: Effect.Effect<A, E, R>) =>
  sql.withTransaction(effect).pipe(
    Effect.catchTag("SqlError", Effect.die),
    Effect.tap(() => outbox.committed)
  )

/** The change event every command publishes: who changed the customer into what. */
const changeEvent = (id: CustomerId) => (customer: Customer, actor: Actor, requestId: string | null) => ({
  customerId: id,
  version: customer.version,
  occurredAt: customer.updatedAt,
  actor: { kind: actor.kind, subject: actor.subject, role: actor.role },
  requestId,
  customer: eventCustomerOf(customer)
})

const emailTaken = () => new EmailAlreadyExists({ field: "email" })

/** What a create writes, all known before the write: the row, its first answer to a key, event and audit entry. */
class CreateWrite extends Request.Class<{
  readonly customer: Customer
  readonly keyed: KeyedAnswer | null
  readonly event: NewEvent
  readonly audit: AuditEntry
}, void, EmailAlreadyExists | IdentitySuppressed | IdempotencyKeyReused> {}

/**
 * A customer's first command. Its entity runs it when a retry may race the
 * original (an Idempotency-Key maps both to one id); a create without a key
 * gets a fresh UUIDv7 nobody else can know before the answer, so no other
 * command can target that customer meanwhile and it runs without the entity hop.
 */
export class CustomerCreation extends Context.Service<CustomerCreation, {
  create(id: CustomerId, command: typeof Create.payloadSchema.Type): Effect.Effect<
    typeof Create.successSchema.Type,
    EmailAlreadyExists | IdentitySuppressed | ConsentRequired | IdempotencyKeyReused | CustomerDeleted
  >
}>()("cms/customers/CustomerCreation") {
  static readonly layer = Layer.effect(
    CustomerCreation,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const commandSql = yield* CommandSql
      const repo = yield* CustomerRepo
      const idempotencyKeys = yield* IdempotencyKeyRepo
      const outbox = yield* Outbox
      const audit = yield* AuditLog
      const evaluations = yield* SegmentEvaluationQueue
      const consents = yield* ConsentRepo
      const erasure = yield* Erasure

      /**
       * Everything a group of creates writes, known before it writes, as one statement: atomic without a
       * transaction, one round trip and one commit for the group instead of one each.
       */
      const writeTogether = (writes: ReadonlyArray<CreateWrite>) => {
        const keyed = writes.flatMap((write) => write.keyed === null ? [] : [write.keyed])
        const ids = writes.map((write) => write.customer.id)
        // A new customer may already match dynamic segments: queued as of the group's latest create.
        const queuedAt = new Date(Math.max(...writes.map((write) => Date.parse(write.customer.createdAt))))
        const inserts = repo.inserts(writes.map((write) => write.customer))
        return inOneStatement(commandSql, [
          ...inserts.statements,
          ...(keyed.length === 0 ? [] : [idempotencyKeys.recordStatement(keyed, inserts.sealerOf)]),
          outbox.appendAllStatement(writes.map((write) => write.event)),
          audit.recordAllStatement(writes.map((write) => write.audit)),
          evaluations.queueProfileStatement(sql`SELECT unnest(${ids}::uuid[])`, queuedAt),
          // The consent given at creation: the first entries of the customer's consent history.
          ...consents.recordStatements(writes.flatMap(({ audit: { actor, requestId }, customer }) =>
            creationChanges(customer.consent).map((change) => ({
              customerId: customer.id,
              change,
              at: customer.createdAt,
              actor,
              requestId,
              reason: null
            }))
          ))
        ], // Before anything is written: the addresses' locks, then an erased person's address refused (the
        // statement fails), also when its erasure committed while this statement ran.
        erasure.claimExpression(writes.map((write) => write.customer.email))).pipe(
          Effect.tap(() => inserts.committed),
          Effect.asVoid,
          uniqueViolationOrDie,
          Effect.catchTag("UniqueViolation", (violation) =>
            Effect.fail<EmailAlreadyExists | IdentitySuppressed | IdempotencyKeyReused>(
              violation.constraint === "identity_suppressed"
                ? new IdentitySuppressed({ field: "email" })
                : violation.constraint.includes("email")
                ? emailTaken()
                : new IdempotencyKeyReused({ field: "Idempotency-Key" })
            ))
        )
      }

      // Concurrent creates share one statement; should it be refused (an address or a key already taken), each
      // is written alone, so only the one at fault fails.
      const creates = groupedWrites((writes: ReadonlyArray<CreateWrite>) =>
        writeTogether(writes).pipe(Effect.as(writes.map(() => undefined)))
      )

      return CustomerCreation.of({
        create: Effect.fn("CustomerCreation.create")(function*(id, { actor, requestId, input, idempotency }) {
          if (idempotency !== null) {
            const previous = yield* idempotencyKeys.find(idempotency.principal, idempotency.key)
            if (Option.isSome(previous)) {
              // Erased since: the retry learns that, never the erased profile.
              if (previous.value.response === null) return yield* new CustomerDeleted({ field: "Idempotency-Key" })
              if (previous.value.requestHash !== idempotency.requestHash) {
                return yield* new IdempotencyKeyReused({ field: "Idempotency-Key" })
              }
              return { customer: previous.value.response, replayed: true }
            }
          }
          if (!consentSufficient(input.consent)) {
            return yield* new ConsentRequired({ field: "consent.dataProcessing" })
          }
          const now = new Date(yield* Clock.currentTimeMillis).toISOString()
          const customer = createdCustomer(id, initialState(input), now)
          yield* Effect.request(
            new CreateWrite({
              customer,
              keyed: idempotency === null ? null : { ...idempotency, customer },
              event: { type: "customer.created", ...changeEvent(id)(customer, actor, requestId) },
              audit: { actor, action: "customer.create", customerId: id, requestId, fields: Object.keys(input) }
            }),
            creates
          )
          yield* outbox.committed
          yield* evaluations.wake
          return { customer, replayed: false }
        })
      })
    })
  )
}

export const CustomerEntityLayer = CustomerEntity.toLayer(
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const groupedWrites = yield* GroupedWrites
    const repo = yield* CustomerRepo
    const idempotencyKeys = yield* IdempotencyKeyRepo
    const verifications = yield* EmailVerificationRepo
    const outbox = yield* Outbox
    const eventErasure = yield* EventErasure
    const segments = yield* SegmentRepo
    const destinations = yield* DestinationRepo
    const evaluations = yield* SegmentEvaluationQueue
    const audit = yield* AuditLog
    const keyring = yield* Keyring
    const erasure = yield* Erasure
    const exportJobs = yield* DataExportJobRepo
    const { entityId } = yield* Entity.CurrentAddress
    const id = CustomerId.make(entityId)

    const creation = yield* CustomerCreation
    const consentCommand = yield* ConsentCommand
    const transact = commandTransaction(sql, outbox)
    const changeOf = changeEvent(id)

    const current = repo.findById(id).pipe(
      Effect.flatMap(Option.match({
        onNone: () => Effect.fail(new CustomerNotFound({ customerId: id })),
        onSome: Effect.succeed
      }))
    )

    const checkVersion = (customer: Customer, expected: number | null) =>
      expected === null || expected === customer.version
        ? Effect.void
        : Effect.fail(new VersionConflict({ expectedVersion: expected, currentVersion: customer.version }))

    /**
     * The row changed under the command (its version guard matched nothing): report the version it has now,
     * or none when it is gone; the entity serialises its commands, so this is another writer's doing.
     */
    const lostRace = (expectedVersion: number) =>
      repo.currentVersion(id).pipe(
        Effect.flatMap((version) =>
          Effect.fail(
            new VersionConflict(
              Option.isSome(version) ? { expectedVersion, currentVersion: version.value } : { expectedVersion }
            )
          )
        )
      )

    /**
     * An update reads the row, decides, then writes the row, its event(s), the audit entry and any change to
     * the pending verification as one statement guarded by the version it read: no transaction, one round trip
     * for the write, shared with the updates of other customers running at the same time (GroupedWrites).
     * This entity already serialises the customer's commands, so the guard only fails when
     * another process changed the row meanwhile: the caller learns the version the row has now.
     */
    const update = (
      { actor, requestId, patch, echo, expectedVersion }: typeof Update.payloadSchema.Type
    ): Effect.Effect<Customer, typeof Update.errorSchema.Type> =>
      Effect.gen(function*() {
        // Through the batched read: concurrent commands of many customers share one SELECT.
        const before = yield* repo.lookup(id).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new CustomerNotFound({ customerId: id })),
            onSome: Effect.succeed
          }))
        )
        yield* checkVersion(before, expectedVersion)
        const changedReadOnly = changedReadOnlyField(before, echo)
        if (changedReadOnly !== undefined) return yield* new ReadOnlyFieldChanged({ field: changedReadOnly })
        if (patch.status !== undefined) {
          const verdict = statusTransition(before.status, patch.status, actor)
          if (verdict === "needs-suspend-permission") {
            return yield* new Forbidden({ permission: "customers:suspend" })
          }
          if (verdict === "never") {
            return yield* new InvalidStatusTransition({ field: "status", from: before.status, to: patch.status })
          }
        }
        const outcome = applyPatch(stateOf(before), patch)
        if (outcome.changedFields.length === 0) return before
        if (outcome.emailChange !== undefined && (yield* repo.emailTakenByAnother(id, outcome.emailChange))) {
          return yield* emailTaken()
        }
        // An erased person's address is not taken up again by another profile either.
        if (outcome.emailChange !== undefined && (yield* erasure.isSuppressed(outcome.emailChange))) {
          return yield* new IdentitySuppressed({ field: "email" })
        }
        const now = new Date(yield* Clock.currentTimeMillis).toISOString()
        const after: Customer = { ...before, ...outcome.state, version: before.version + 1, updatedAt: now }
        const events: Array<NewEvent> = [
          { type: "customer.updated", ...changeOf(after, actor, requestId), changes: outcome.changedFields }
        ]
        const withdrawn = before.pendingEmail !== null && after.pendingEmail === null
        let pending: PendingVerification | undefined
        if (outcome.emailChange !== undefined) {
          const token = randomToken()
          const expiresAt = yield* verificationExpiry
          pending = { email: outcome.emailChange, tokenHash: sha256(token), expiresAt }
          // The notification service mails this token; it is single-use and short-lived.
          events.push({
            type: "customer.email-verification-requested",
            customerId: id,
            token,
            expiresAt: expiresAt.toISOString()
          })
        }
        const movesSegments = outcome.changedFields.some((field) => profileFactFields.includes(field))
        const auditEntry = { actor, action: "customer.update", customerId: id, requestId, fields: outcome.changedFields }
        // Each write names the guard it depends on: updates of other customers may share the statement.
        const dependents = (guard: string) => [
          ...(withdrawn ? [verifications.removeGuardedStatement(id, guard)] : []),
          ...(pending === undefined ? [] : [verifications.saveGuardedStatement(id, pending, guard)]),
          ...(movesSegments
            ? [evaluations.queueProfileStatement(sql`SELECT id FROM ${sql.literal(guard)}`, new Date(now))]
            : []),
          outbox.appendGuardedStatement(events, guard),
          audit.recordGuardedStatement(auditEntry, guard)
        ]
        const matched = yield* groupedWrites.guarded({
          guard: yield* repo.updateGuard(id, before.version, outcome.state, now),
          dependents
        }).pipe(
          uniqueViolationOrDie,
          Effect.catchTag("UniqueViolation", () => Effect.fail(emailTaken()))
        )
        if (!matched) return yield* lostRace(before.version)
        yield* outbox.committed
        if (movesSegments) yield* evaluations.wake
        return after
      })

    return CustomerEntity.of({
      Create: ({ payload }) => creation.create(id, payload),

      Update: ({ payload }) => update(payload),

      ChangeConsent: ({ payload: { actor, changes, expectedVersion, reason, requestId } }) =>
        consentCommand.change(id, { actor, changes, expectedVersion, reason, requestId }),

      Delete: ({ payload: { actor, requestId, expectedVersion } }) =>
        transact(Effect.gen(function*() {
          const before = yield* current
          yield* checkVersion(before, expectedVersion)
          // Before the row changes: a create or a verification of the address either committed before (and
          // fails on the address this customer still holds) or waits and then finds it suppressed.
          yield* erasure.lockIdentity(before.email)
          const after = yield* repo.markDeleted(id, before.version, erasedState(id, stateOf(before)))
          if (Option.isNone(after)) return yield* lostRace(before.version)
          // Crypto-shredding: every copy of the customer's sealed values (backups, replicas) becomes unreadable.
          yield* keyring.destroy(id)
          yield* verifications.remove(id)
          yield* idempotencyKeys.forgetResponses(id)
          yield* outbox.eraseCustomer(id)
          yield* eventErasure.eraseCustomer(id)
          yield* evaluations.forgetCustomer(id)
          yield* segments.eraseCustomer(id)
          yield* destinations.eraseCustomer(id)
          yield* exportJobs.eraseCustomer(id)
          yield* outbox.append({ type: "customer.deleted", ...changeOf(after.value, actor, requestId) })
          yield* audit.record({ actor, action: "customer.delete", customerId: id, requestId, fields: [] })
          // The steps after this transaction (data key, JetStream purge, publication) resume from this row.
          yield* erasure.begin({ customerId: id, email: before.email, actor, requestId })
        }).pipe(Effect.tap(() => erasure.wake))),

      Anonymize: ({ payload: { actor, requestId, reason } }) =>
        transact(Effect.gen(function*() {
          const before = yield* current
          const state = anonymizedState(id, stateOf(before))
          const changes = fieldsChanged(stateOf(before), state)
          if (changes.length === 0) return before
          // A fresh data key: copies of the identifying fields sealed before (backups, replicas) become unreadable.
          yield* keyring.rekey(id)
          const after = yield* repo.update(id, before.version, state).pipe(
            // The anonymous address is derived from the id: no one else can hold it.
            Effect.catchTag("UniqueViolation", Effect.die),
            Effect.flatMap(Option.match({ onNone: () => lostRace(before.version), onSome: Effect.succeed }))
          )
          yield* verifications.remove(id)
          // Stored create answers and waiting events hold the profile as it was.
          yield* idempotencyKeys.forgetResponses(id)
          yield* outbox.stripPersonal(id)
          yield* evaluations.queueProfileStatement(sql`SELECT ${id}::uuid`, new Date(after.updatedAt)).pipe(Effect.orDie)
          yield* outbox.append({ type: "customer.anonymized", ...changeOf(after, actor, requestId), changes })
          yield* audit.record({
            actor,
            action: "customer.anonymize",
            customerId: id,
            requestId,
            fields: changes,
            ...(reason === null ? {} : { reason })
          })
          return after
        }).pipe(Effect.catchTag("VersionConflict", Effect.die))),

      ConfirmEmail: ({ payload: { actor, requestId, token } }) =>
        transact(Effect.gen(function*() {
          const before = yield* current
          const pending = yield* verifications.find(id)
          if (
            Option.isNone(pending) || before.pendingEmail === null || pending.value.tokenHash !== sha256(token) ||
            (yield* isVerificationExpired(pending.value.expiresAt))
          ) {
            return yield* new InvalidVerificationToken({ field: "token" })
          }
          // The address may have been erased (elsewhere) since it was requested: under its lock, an erasure that
          // committed meanwhile is seen.
          yield* erasure.lockIdentity(before.pendingEmail)
          if (yield* erasure.isSuppressed(before.pendingEmail)) return yield* new IdentitySuppressed({ field: "email" })
          // The unique index sees the current blind index key only; during a rotation the holder may be under another.
          if (yield* repo.emailTakenByAnother(id, before.pendingEmail)) return yield* emailTaken()
          const after = yield* repo.update(id, before.version, {
            ...stateOf(before),
            email: before.pendingEmail,
            emailVerified: true,
            pendingEmail: null
          }).pipe(
            Effect.catchTag("UniqueViolation", () => Effect.fail(emailTaken())),
            Effect.flatMap(Option.match({
              onNone: () => Effect.fail(new CustomerNotFound({ customerId: id })),
              onSome: Effect.succeed
            }))
          )
          yield* verifications.remove(id)
          yield* outbox.append({ type: "customer.email-verified", ...changeOf(after, actor, requestId) })
          yield* audit.record({ actor, action: "customer.verify-email", customerId: id, requestId, fields: ["email"] })
          return after
        }))
    })
  }),
  // A defect (an unexpected database error, a bug) fails that one request with a 500;
  // without this the entity would restart and replay the same message forever.
  // An entity keeps no state between commands (each reads its row), so it need not stay resident long: the
  // runner holds at most 10,000 entities (ShardingConfig.maxResidentEntities) and refuses new ones with
  // MailboxFull (a 503) beyond that: a minute of idle time capped writes at ~170 distinct customers/s, five
  // seconds at ~2,000/s (the bench's updates got 503s); one second leaves room for ~10,000/s.
  { maxIdleTime: "1 second", mailboxCapacity: 256, disableFatalDefects: true }
)
