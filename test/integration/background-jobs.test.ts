/**
 * The service's background jobs, each driven directly on a database of its own:
 * expiry by Effect's Clock (proved with TestClock), and failures that are
 * logged with their class and do not end the job.
 */
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Duration, Effect, Layer, Logger } from "effect"
import { TestClock } from "effect/testing"
import { expireIdempotencyKeys, IdempotencyKeyExpiryLive } from "../../src/customers/IdempotencyKeyExpiry.ts"
import { DatabaseLive } from "../../src/platform/Database.ts"
import { pruneOutbox } from "../../src/platform/OutboxRelay.ts"
import { scopedDatabase } from "../support/TestService.ts"

/** A migrated database of the suite's own, on the live clock (the pool's timers need it); tests bring a TestClock. */
const OwnDatabase = Layer.unwrap(Effect.map(scopedDatabase, (database) =>
  DatabaseLive.pipe(
    Layer.provide(Logger.layer([])),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ DATABASE_URL: database.url, DB_POOL_MAX: "2" })))
  )))

const now = Date.parse("2027-06-01T12:00:00Z")
const hoursAgo = (hours: number) => new Date(now - hours * 3_600_000)
const customerId = "0190a7c0-0000-7000-8000-000000000001"

const idempotencyKeys = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ readonly key: string }>`SELECT key FROM idempotency_keys ORDER BY key`).pipe(
    Effect.map((rows) => rows.map((row) => row.key))
  )

const outboxSubjects = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ readonly subject: string }>`SELECT subject FROM outbox ORDER BY id`).pipe(
    Effect.map((rows) => rows.map((row) => row.subject))
  )

layer(OwnDatabase, { excludeTestServices: true })("expiry by the Clock", (it) => {
  it.effect("an idempotency key is deleted once it is older than its time to live, by the Clock", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* TestClock.setTime(now)
      yield* sql`INSERT INTO idempotency_keys (principal, key, customer_id, created_at) VALUES
        ('clock', 'a-25h', ${customerId}, ${hoursAgo(25)}),
        ('clock', 'b-23h', ${customerId}, ${hoursAgo(23)}),
        ('clock', 'c-1h', ${customerId}, ${hoursAgo(1)})`

      yield* expireIdempotencyKeys(Duration.hours(24))
      assert.deepStrictEqual(yield* idempotencyKeys, ["b-23h", "c-1h"])

      yield* TestClock.adjust("2 hours")
      yield* expireIdempotencyKeys(Duration.hours(24))
      assert.deepStrictEqual(yield* idempotencyKeys, ["c-1h"])
    }).pipe(Effect.provide(TestClock.layer())))

  it.effect("a published outbox row is pruned once it is older than the retention, by the Clock; a waiting one never", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* TestClock.setTime(now)
      yield* sql`INSERT INTO outbox (event_id, subject, payload, created_at, published_at) VALUES
        ('0190a7c0-0000-7000-8000-0000000000a1', 'published-25h', '{}', ${hoursAgo(26)}, ${hoursAgo(25)}),
        ('0190a7c0-0000-7000-8000-0000000000a2', 'published-23h', '{}', ${hoursAgo(24)}, ${hoursAgo(23)}),
        ('0190a7c0-0000-7000-8000-0000000000a3', 'waiting-48h', '{}', ${hoursAgo(48)}, NULL)`

      yield* pruneOutbox(Duration.hours(24))
      assert.deepStrictEqual(yield* outboxSubjects, ["published-23h", "waiting-48h"])

      yield* TestClock.adjust("2 hours")
      yield* pruneOutbox(Duration.hours(24))
      assert.deepStrictEqual(yield* outboxSubjects, ["waiting-48h"])
    }).pipe(Effect.provide(TestClock.layer())))
})

interface LoggedLine {
  readonly level: string
  readonly message: unknown
  readonly annotations: Record<string, unknown>
}

/** Waits (on the live clock, at most 10 s) until `done` holds. */
const untilLogged = (done: () => boolean) =>
  TestClock.withLive(Effect.gen(function*() {
    for (let waited = 0; waited < 10_000 && !done(); waited += 20) yield* Effect.sleep("20 millis")
  }))

layer(OwnDatabase, { excludeTestServices: true })("failures in background jobs", (it) => {
  it.effect("a failed expiry run is logged with its cause class and the next run still comes", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      // This suite's own database: without the table every run fails.
      yield* sql`DROP TABLE idempotency_keys`
      const lines: Array<LoggedLine> = []
      const capture = Logger.make((options) => {
        lines.push(Logger.formatStructured.log(options))
      })
      const failures = () => lines.filter((line) => line.message === "idempotency keys: expiry failed")

      yield* Layer.build(IdempotencyKeyExpiryLive).pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({}))),
        Effect.provide(Logger.layer([capture]))
      )
      // The run is real I/O: wait for it on the live clock, then move the TestClock for the next.
      yield* untilLogged(() => failures().length >= 1)
      assert.strictEqual(failures().length, 1, JSON.stringify(lines))
      assert.strictEqual(failures()[0].level, "WARN")
      assert.strictEqual(failures()[0].annotations.error, "SqlError/SqlSyntaxError", "the class, with the driver reason (a missing table)")

      yield* TestClock.adjust("9 minutes")
      yield* TestClock.withLive(Effect.sleep("200 millis"))
      assert.strictEqual(failures().length, 1, "no run before its interval")
      yield* TestClock.adjust("1 minute")
      yield* untilLogged(() => failures().length >= 2)
      assert.strictEqual(failures().length, 2, "the job runs again after its interval")
    }).pipe(Effect.scoped, Effect.provide(TestClock.layer())))
})
