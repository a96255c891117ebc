/**
 * Partition upkeep of customer_events, driven directly on a database of its
 * own under TestClock: the coming months made ahead, whole months past the
 * retention dropped, and events older than the retention refused.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Logger, Option } from "effect"
import { TestClock } from "effect/testing"
import type { CustomerId } from "../../src/domain/Customer.ts"
import { EventIngest } from "../../src/events/EventIngest.ts"
import { retentionHorizon, upkeepPartitions } from "../../src/events/EventRetention.ts"
import { EventStore } from "../../src/events/EventStore.ts"
import { Keyring } from "../../src/privacy/Keyring.ts"
import { TrackingPlan } from "../../src/events/TrackingPlan.ts"
import { TrackingPlanRepo } from "../../src/events/TrackingPlanRepo.ts"
import { DatabaseLive } from "../../src/platform/Database.ts"
import { scopedDatabase } from "../support/TestService.ts"

const Env = Layer.unwrap(Effect.map(scopedDatabase, (database) =>
  EventIngest.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(EventStore.layer, TrackingPlan.layer)),
    Layer.provideMerge(Keyring.layer),
    Layer.provideMerge(TrackingPlanRepo.layer),
    Layer.provideMerge(DatabaseLive),
    Layer.provide(Logger.layer([])),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({
      DATABASE_URL: database.url,
      DB_POOL_MAX: "2",
      EVENTS_RETENTION_MONTHS: "12"
    })))
  )))

const partitions = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ readonly name: string }>`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'customer_events'::regclass ORDER BY 1`).pipe(Effect.orDie, Effect.map((rows) => rows.map((row) => row.name)))

const june2027 = Date.parse("2027-06-15T12:00:00Z")

layer(Env, { excludeTestServices: true })("partition upkeep", (it) => {
  it.effect("makes the current month's partition and the next N, by the Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2031-11-20T00:00:00Z"))
      yield* upkeepPartitions(2, Option.none())
      assert.includeMembers(yield* partitions, ["customer_events_p203111", "customer_events_p203112", "customer_events_p203201"])
      assert.notInclude(yield* partitions, "customer_events_p203202")
    }).pipe(Effect.provide(TestClock.layer())))

  it.effect("with a retention of 12 months, drops whole months before the horizon and keeps the rest", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* store.ensurePartitions([Date.parse("2026-05-31T23:59:59Z"), Date.parse("2026-06-01T00:00:00Z")])
      yield* TestClock.setTime(june2027)
      const dropped = yield* upkeepPartitions(0, Option.some(12))
      assert.include(dropped, "customer_events_p202605")
      const left = yield* partitions
      assert.notInclude(left, "customer_events_p202605")
      assert.includeMembers(left, ["customer_events_p202606", "customer_events_p202706"])
      // Made again on demand should an event need it (the store forgot it was there).
      yield* store.ensurePartitions([Date.parse("2026-05-10T00:00:00Z")])
      assert.include(yield* partitions, "customer_events_p202605")
    }).pipe(Effect.provide(TestClock.layer())))

  it.effect("the horizon is the first day of the month `months` before the current one (UTC)", () =>
    Effect.sync(() => {
      assert.strictEqual(new Date(retentionHorizon(june2027, 12)).toISOString(), "2026-06-01T00:00:00.000Z")
      assert.strictEqual(new Date(retentionHorizon(Date.parse("2027-01-31T23:00:00Z"), 1)).toISOString(), "2026-12-01T00:00:00.000Z")
    }))

  it.effect("an event older than the retention horizon is rejected naming occurredAt; one inside is not", () =>
    Effect.gen(function*() {
      const ingest = yield* EventIngest
      yield* TestClock.setTime(june2027)
      // No such customer: an event past the time check is "not found", one before it is refused for its time.
      const customerId = crypto.randomUUID() as CustomerId
      const [old, kept] = yield* ingest.track([
        { customerId, type: "page_view", occurredAt: "2026-05-31T23:59:59Z" },
        { customerId, type: "page_view", occurredAt: "2026-06-01T00:00:00Z" }
      ])
      assert.deepStrictEqual(old.problem, {
        type: "/problems/occurred-before-retention",
        title: "The event's time is older than the events the service keeps",
        field: "occurredAt"
      })
      assert.strictEqual(kept.problem?.type, "/problems/customer-not-found")
    }).pipe(Effect.provide(TestClock.layer())))
})
