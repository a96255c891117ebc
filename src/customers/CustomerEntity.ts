/**
 * Each customer is a cluster entity keyed by its id: one fiber serialises its
 * commands, and each command is one transaction writing the row, an outbox
 * event and an audit entry.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Option, Schema } from "effect"
import { Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { Actor } from "../domain/Access.ts"
import { CreateCustomer, Customer, CustomerId, PatchCustomer, ReadOnlyEcho } from "../domain/Customer.ts"
import {
  applyPatch,
  changedReadOnlyField,
  consentSufficient,
  erasedState,
  statusTransition
} from "../domain/CustomerRules.ts"
import type { CustomerState } from "../domain/CustomerState.ts"
import { stateOf } from "../domain/CustomerState.ts"
import {
  ConsentRequired,
  CustomerDeleted,
  CustomerNotFound,
  EmailAlreadyExists,
  Forbidden,
  IdempotencyKeyReused,
  InvalidStatusTransition,
  InvalidVerificationToken,
  ReadOnlyFieldChanged,
  VersionConflict
} from "../domain/Errors.ts"
import { randomToken, sha256 } from "../platform/Ids.ts"
import { Outbox } from "../platform/Outbox.ts"
import { AuditLog } from "../privacy/AuditLog.ts"
import { CustomerRepo } from "./CustomerRepo.ts"

const CommandContext = {
  actor: Actor,
  requestId: Schema.NullOr(Schema.String)
}

export const Idempotency = Schema.Struct({ principal: Schema.String, key: Schema.String, requestHash: Schema.String })

export const Create = Rpc.make("Create", {
  payload: { ...CommandContext, input: CreateCustomer, idempotency: Schema.NullOr(Idempotency) },
  success: Schema.Struct({ customer: Customer, replayed: Schema.Boolean }),
  error: Schema.Union([EmailAlreadyExists, ConsentRequired, IdempotencyKeyReused, CustomerDeleted])
})

export const Update = Rpc.make("Update", {
  payload: { ...CommandContext, patch: PatchCustomer, echo: ReadOnlyEcho, expectedVersion: Schema.NullOr(Schema.Int) },
  success: Customer,
  error: Schema.Union([
    CustomerNotFound,
    VersionConflict,
    EmailAlreadyExists,
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
  error: Schema.Union([CustomerNotFound, InvalidVerificationToken, EmailAlreadyExists])
})

export const CustomerEntity = Entity.make("Customer", [Create, Update, Delete, ConfirmEmail])

/** How long a pending email change waits for its verification. */
const verificationTtlHours = 24

export const CustomerEntityLayer = CustomerEntity.toLayer(
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const repo = yield* CustomerRepo
    const outbox = yield* Outbox
    const audit = yield* AuditLog
    const { entityId } = yield* Entity.CurrentAddress
    const id = CustomerId.make(entityId)

    /** Commit, then wake the relay; errors leave the transaction rolled back. */
    const transact = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      sql.withTransaction(effect).pipe(
        Effect.catchTag("SqlError", Effect.die),
        Effect.tap(() => outbox.committed)
      )

    const publish = (event: string, customer: Customer, context: typeof Actor.Type, requestId: string | null,
      extra: Record<string, unknown> = {}) =>
      outbox.append({
        subject: `customers.${id}.${event}`,
        payload: {
          type: `customer.${event}`,
          customerId: id,
          version: customer.version,
          occurredAt: customer.updatedAt,
          actor: { kind: context.kind, subject: context.subject, role: context.role },
          requestId,
          customer,
          ...extra
        }
      })

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

    const emailTaken = () => new EmailAlreadyExists({ field: "email" })

    return CustomerEntity.of({
      Create: ({ payload: { actor, requestId, input, idempotency } }) =>
        transact(Effect.gen(function*() {
          if (idempotency !== null) {
            const [previous] = yield* sql<{ readonly request_hash: string | null; readonly response: Customer | null }>`
              SELECT request_hash, response FROM idempotency_keys
              WHERE principal = ${idempotency.principal} AND key = ${idempotency.key}`
            if (previous !== undefined) {
              // Erased since: the retry learns that, never the erased profile.
              if (previous.response === null) return yield* new CustomerDeleted({ field: "Idempotency-Key" })
              if (previous.request_hash !== idempotency.requestHash) {
                return yield* new IdempotencyKeyReused({ field: "Idempotency-Key" })
              }
              return { customer: previous.response, replayed: true }
            }
          }
          if (!consentSufficient(input.consent)) {
            return yield* new ConsentRequired({ field: "consent.dataProcessing" })
          }
          const state: CustomerState = {
            email: input.email,
            emailVerified: false,
            pendingEmail: null,
            name: input.name,
            age: input.age ?? null,
            gender: input.gender ?? null,
            location: input.location ?? null,
            preferences: input.preferences ?? {},
            tags: input.tags ?? [],
            metadata: input.metadata ?? {},
            consent: input.consent,
            status: input.status ?? "ACTIVE"
          }
          const customer = yield* repo.insert(id, state).pipe(
            Effect.catchTag("UniqueViolation", (violation) =>
              Effect.fail<EmailAlreadyExists | IdempotencyKeyReused>(
                violation.constraint.includes("email")
                  ? emailTaken()
                  : new IdempotencyKeyReused({ field: "Idempotency-Key" })
              ))
          )
          if (idempotency !== null) {
            yield* sql`INSERT INTO idempotency_keys (principal, key, request_hash, response, customer_id)
              VALUES (${idempotency.principal}, ${idempotency.key}, ${idempotency.requestHash},
                ${sql.json(Schema.encodeSync(Customer)(customer))}, ${id})`
          }
          yield* publish("created", customer, actor, requestId)
          yield* audit.record({ actor, action: "customer.create", customerId: id, requestId, fields: Object.keys(input) })
          return { customer, replayed: false }
        })),

      Update: ({ payload: { actor, requestId, patch, echo, expectedVersion } }) =>
        transact(Effect.gen(function*() {
          const before = yield* current
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
          if (outcome.emailChange !== undefined) {
            const [taken] = yield* sql`SELECT 1 FROM customers
              WHERE lower(email) = lower(${outcome.emailChange}) AND status <> 'DELETED' AND id <> ${id}`
            if (taken !== undefined) return yield* emailTaken()
          }
          const after = yield* repo.update(id, before.version, outcome.state).pipe(
            Effect.catchTag("UniqueViolation", () => Effect.fail(emailTaken())),
            Effect.flatMap(Option.match({
              onNone: () =>
                Effect.fail(new VersionConflict({ expectedVersion: before.version, currentVersion: before.version + 1 })),
              onSome: Effect.succeed
            }))
          )
          yield* publish("updated", after, actor, requestId, { changes: outcome.changedFields })
          if (before.pendingEmail !== null && after.pendingEmail === null) {
            yield* sql`DELETE FROM email_verifications WHERE customer_id = ${id}`
          }
          if (outcome.emailChange !== undefined) {
            const token = randomToken()
            const expiresAt = new Date(Date.now() + verificationTtlHours * 3_600_000)
            yield* sql`INSERT INTO email_verifications (customer_id, email, token_hash, expires_at)
              VALUES (${id}, ${outcome.emailChange}, ${sha256(token)}, ${expiresAt})
              ON CONFLICT (customer_id) DO UPDATE SET email = EXCLUDED.email, token_hash = EXCLUDED.token_hash,
                expires_at = EXCLUDED.expires_at`
            // The notification service mails this token; it is single-use and short-lived.
            yield* outbox.append({
              subject: `customers.${id}.email-verification-requested`,
              payload: {
                type: "customer.email-verification-requested",
                customerId: id,
                email: outcome.emailChange,
                token,
                expiresAt: expiresAt.toISOString()
              }
            })
          }
          yield* audit.record({ actor, action: "customer.update", customerId: id, requestId, fields: outcome.changedFields })
          return after
        })),

      Delete: ({ payload: { actor, requestId, expectedVersion } }) =>
        transact(Effect.gen(function*() {
          const before = yield* current
          yield* checkVersion(before, expectedVersion)
          const after = yield* repo.markDeleted(id, before.version, erasedState(id, stateOf(before)))
          if (Option.isNone(after)) {
            return yield* new VersionConflict({ expectedVersion: before.version, currentVersion: before.version + 1 })
          }
          yield* sql`DELETE FROM email_verifications WHERE customer_id = ${id}`
          yield* sql`UPDATE idempotency_keys SET response = NULL, request_hash = NULL WHERE customer_id = ${id}`
          // Earlier events hold the person's data: published ones go, those still waiting
          // go out without it (the event stays: consumers still learn that something changed).
          yield* sql`DELETE FROM outbox WHERE subject LIKE ${`customers.${id}.%`} AND published_at IS NOT NULL`
          yield* sql`UPDATE outbox SET payload = payload - 'customer' - 'email' - 'token'
            WHERE subject LIKE ${`customers.${id}.%`} AND published_at IS NULL`
          yield* publish("deleted", after.value, actor, requestId)
          yield* audit.record({ actor, action: "customer.delete", customerId: id, requestId, fields: [] })
        })),

      ConfirmEmail: ({ payload: { actor, requestId, token } }) =>
        transact(Effect.gen(function*() {
          const before = yield* current
          const [pending] = yield* sql<{ readonly email: string; readonly token_hash: string; readonly expires_at: Date }>`
            SELECT email, token_hash, expires_at FROM email_verifications WHERE customer_id = ${id}`
          if (
            pending === undefined || pending.token_hash !== sha256(token) || pending.expires_at.getTime() < Date.now()
          ) {
            return yield* new InvalidVerificationToken({ field: "token" })
          }
          const after = yield* repo.update(id, before.version, {
            ...stateOf(before),
            email: pending.email,
            emailVerified: true,
            pendingEmail: null
          }).pipe(
            Effect.catchTag("UniqueViolation", () => Effect.fail(emailTaken())),
            Effect.flatMap(Option.match({
              onNone: () => Effect.fail(new CustomerNotFound({ customerId: id })),
              onSome: Effect.succeed
            }))
          )
          yield* sql`DELETE FROM email_verifications WHERE customer_id = ${id}`
          yield* publish("email-verified", after, actor, requestId)
          yield* audit.record({ actor, action: "customer.verify-email", customerId: id, requestId, fields: ["email"] })
          return after
        }))
    })
  }),
  // A defect (an unexpected database error, a bug) fails that one request with a 500;
  // without this the entity would restart and replay the same message forever.
  // An entity keeps no state between commands (each reads its row), so it need not stay resident long: the
  // runner holds at most 10,000 entities (ShardingConfig.maxResidentEntities) and refuses new ones with
  // MailboxFull (a 503) beyond that, so a minute of idle time capped writes at ~170 distinct customers/s.
  { maxIdleTime: "5 seconds", mailboxCapacity: 256, disableFatalDefects: true }
)
