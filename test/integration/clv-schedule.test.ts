/**
 * The CLV fit's schedule, driven directly on a database of its own by Effect's Clock: a fit of all history is
 * queued once none was requested within the interval (CLV_FIT_INTERVAL_HOURS), and not before the first purchase.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Logger } from "effect"
import { TestClock } from "effect/testing"
import { ClvModels } from "../../src/analytics/ClvModels.ts"
import { DatabaseLive } from "../../src/platform/Database.ts"
import { scopedDatabase } from "../support/TestService.ts"

const Env = Layer.unwrap(Effect.map(scopedDatabase, (database) =>
  ClvModels.layer.pipe(
    Layer.provideMerge(DatabaseLive),
    Layer.provide(Logger.layer([])),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({
      DATABASE_URL: database.url,
      DB_POOL_MAX: "2",
      CLV_FIT_INTERVAL_HOURS: "24"
    })))
  )))

const now = Date.parse("2027-06-01T12:00:00Z")

const scheduledFits = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ readonly requestedAt: Date; readonly status: string }>`SELECT requested_at AS "requestedAt", status
    FROM clv_models WHERE trigger = 'scheduled' ORDER BY requested_at`).pipe(Effect.orDie)

layer(Env, { excludeTestServices: true })("the CLV fit schedule", (it) => {
  it.effect("queues (and runs) a fit of all history when none was made within the interval, once there are purchases", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const models = yield* ClvModels
      yield* TestClock.setTime(now)

      yield* models.runPending
      assert.lengthOf(yield* scheduledFits, 0, "no purchases yet: nothing to fit")

      yield* sql`INSERT INTO customer_daily_activity (customer_id, day, type, events, revenue) VALUES
        ('0190a7c0-0000-7000-8000-000000000001', '2027-01-10', 'purchase', 1, 20),
        ('0190a7c0-0000-7000-8000-000000000001', '2027-03-02', 'purchase', 1, 30),
        ('0190a7c0-0000-7000-8000-000000000002', '2027-02-01', 'purchase', 1, 15)`
      yield* models.runPending
      const [first] = yield* scheduledFits
      assert.strictEqual(first.requestedAt.getTime(), now)
      // Run to the end, successfully or not: nothing is left queued or running.
      assert.oneOf(first.status, ["succeeded", "failed"])

      yield* TestClock.adjust("23 hours")
      yield* models.runPending
      assert.lengthOf(yield* scheduledFits, 1, "within the interval: no new fit")

      yield* TestClock.adjust("2 hours")
      yield* models.runPending
      const fits = yield* scheduledFits
      assert.lengthOf(fits, 2)
      assert.strictEqual(fits[1].requestedAt.getTime(), now + 25 * 3_600_000)
    }).pipe(Effect.provide(TestClock.layer())))
})
