/**
 * Looking into the service's database from a test: a PgClient of the test's
 * own, what was (or was not) written, and the outbox.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer } from "effect"
import { TestService, testDatabaseClient, testService, type TestServiceOptions } from "./TestService.ts"

/** A PgClient to the service's database, apart from the service's own pool (needs TestService). */
export const TestDatabase = Layer.unwrap(Effect.gen(function*() {
  const { databaseUrl } = yield* TestService
  return testDatabaseClient(databaseUrl)
}))

/** The whole service, and TestDatabase as the PgClient tests query. */
export const testServiceWithDatabase = (options?: TestServiceOptions) =>
  TestDatabase.pipe(Layer.provideMerge(testService(options)))

export interface WriteCounts {
  readonly customers: number
  readonly outbox: number
  readonly audit: number
  readonly idempotency: number
}

/** How many rows each table a command writes holds: equal before and after, nothing was written. */
export const writeCounts = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const [counts] = yield* sql<WriteCounts>`SELECT
    (SELECT count(*) FROM customers)::int AS customers,
    (SELECT count(*) FROM outbox)::int AS outbox,
    (SELECT count(*) FROM audit_log)::int AS audit,
    (SELECT count(*) FROM idempotency_keys)::int AS idempotency`
  return counts
})

export interface OutboxRow {
  readonly id: string
  readonly eventId: string
  readonly subject: string
  readonly payload: {
    readonly type: string
    readonly customerId: string
    readonly version: number
    /** The state after the change (created, updated, deleted, email-verified events), without personal fields. */
    readonly customer?: { readonly version: number; readonly [field: string]: unknown }
    /** Updates: the fields that changed. */
    readonly changes?: ReadonlyArray<string>
    /** Email verification requests: the token the notification service mails (to `pendingEmail`, read through the API). */
    readonly token?: string
  }
  readonly published: boolean
}

/** The outbox in the order it was written, every row or those of one subject. */
export const outboxRows = (subject?: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<OutboxRow>`SELECT id::text AS id, event_id::text AS "eventId", subject, payload,
      published_at IS NOT NULL AS published
      FROM outbox WHERE ${subject === undefined ? sql`TRUE` : sql`subject = ${subject}`}
      ORDER BY outbox.id`.pipe(Effect.orDie))

/** The token of the customer's latest email verification request, as the notification service gets it. */
export const verificationToken = (customerId: string) =>
  Effect.gen(function*() {
    const rows = yield* outboxRows(`customers.${customerId}.email-verification-requested`)
    const token = rows.at(-1)?.payload.token
    if (token === undefined) return yield* Effect.die(new Error(`no verification requested for ${customerId}`))
    return token
  })
