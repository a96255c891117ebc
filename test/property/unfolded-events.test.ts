/**
 * Facts before the fold equal facts after it: for random tracked events
 * (types, days back to over a year, revenue in and out of the reporting
 * currency, refunds, purchases before the first known one), a customer's
 * rollups with the committed events the fold has not reached added in memory
 * (CustomerFactsRepo.loadBeforeFold + UnfoldedEvents.withUnfolded, what
 * real-time membership evaluates) are exactly the facts loaded once the real
 * fold of the running service has folded them.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import type { CustomerId } from "../../src/domain/Customer.ts"
import { type CustomerFacts, CustomerFactsRepo } from "../../src/segments/CustomerFacts.ts"
import { allDailyRows } from "../../src/segments/Evaluation.ts"
import { withUnfolded } from "../../src/segments/UnfoldedEvents.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer } from "../support/Http.ts"
import type { TestService } from "../support/TestService.ts"

const numRuns = 15
const dayMillis = 86_400_000

const event = fc.record({
  type: fc.constantFrom("purchase", "page_view", "login"),
  daysAgo: fc.oneof(fc.constantFrom(0, 1, 30, 400), fc.integer({ min: 0, max: 500 })),
  millis: fc.integer({ min: 0, max: dayMillis - 1 }),
  paid: fc.option(
    fc.record({
      revenue: fc.oneof(fc.constantFrom(0, 10, -5.5, 0.0001), fc.integer({ min: -1e6, max: 1e8 }).map((units) => units / 10_000)),
      currency: fc.constantFrom("USD", "EUR")
    }),
    { nil: null }
  )
})
type TrackedEvent = typeof event extends fc.Arbitrary<infer A> ? A : never

/** Batches of events, each one request (and one committed batch). */
const batches = fc.array(fc.array(event, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 })

/** Facts with their rows in a fixed order and the daily rows summed per day and type, for comparison. */
const normalised = (facts: CustomerFacts) => {
  const days = new Map<string, { day: number; type: string; events: number; revenue: bigint }>()
  for (const row of facts.days) {
    const key = `${row.day}/${row.type}`
    const known = days.get(key)
    days.set(key, { ...row, events: (known?.events ?? 0) + row.events, revenue: (known?.revenue ?? 0n) + row.revenue })
  }
  return {
    ...facts,
    types: [...facts.types].sort((left, right) => left.type.localeCompare(right.type)),
    days: [...days.entries()].sort(([left], [right]) => left.localeCompare(right)).map(([, row]) => row)
  }
}

const track = (customerId: string, events: ReadonlyArray<TrackedEvent>) =>
  Effect.gen(function*() {
    const today = Math.floor(Date.now() / dayMillis) * dayMillis
    const body = events.map(({ daysAgo, millis, paid, type }) => ({
      customerId,
      type,
      // Never ahead of the clock.
      occurredAt: new Date(Math.min(today - daysAgo * dayMillis + millis, Date.now() - 1_000)).toISOString(),
      ...(paid === null ? {} : paid)
    }))
    const response = yield* call("POST", "/api/v1/events/batch", { body: { events: body }, role: "service" })
    assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.text()))
  })

const rolledUpEvents = (customerId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly events: number }>`SELECT coalesce((SELECT events::int FROM customer_activity
      WHERE customer_id = ${customerId}), 0) AS events`.pipe(Effect.orDie, Effect.map(([row]) => row.events)))

layer(testServiceWithDatabase(), { excludeTestServices: true })("facts before the fold (property)", (it) => {
  it.effect("rollups plus unfolded events are the facts after the fold", () =>
    Effect.gen(function*() {
      const services = yield* Effect.context<PgClient.PgClient | TestService>()
      const run = Effect.runPromiseWith(services)
      const check = (before: ReadonlyArray<ReadonlyArray<TrackedEvent>>, after: ReadonlyArray<ReadonlyArray<TrackedEvent>>) =>
        Effect.gen(function*() {
          const sql = yield* PgClient.PgClient
          const repo = yield* CustomerFactsRepo
          const customer = yield* createCustomer()
          const id = customer.id as CustomerId
          // Some history folded first, at least one event so that the customer has a rollup row to hold.
          const first: TrackedEvent = { type: "login", daysAgo: 3, millis: 0, paid: null }
          const folded = [[first], ...before]
          for (const batch of folded) yield* track(customer.id, batch)
          const foldedCount = folded.flat().length
          yield* eventually("the history to be folded", rolledUpEvents(customer.id), (events) => events === foldedCount)

          // The monthly partitions the new events need, made first (by another customer's events at the same
          // instants): making one waits for the fold's read of the parent table, which waits for the lock below.
          const other = yield* createCustomer()
          yield* track(other.id, after.flat().map((tracked) => ({ ...tracked, type: "login", paid: null })))
          // The fold waits for the customer's rollup row while this transaction holds it.
          const merged = yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`SELECT 1 FROM customer_activity WHERE customer_id = ${id} FOR UPDATE`.pipe(Effect.orDie)
            for (const batch of after) yield* track(customer.id, batch)
            // No batch held in memory here: every unfolded one is read from the database.
            const found = (yield* repo.loadBeforeFold([id], allDailyRows, {
              own: [],
              ownBatchIds: [],
              purchasesOf: [],
              reportingCurrency: "USD"
            })).get(id)!
            assert.strictEqual(found.foreign.length, after.flat().length)
            return withUnfolded(found.facts, found.foreign, found.purchases, allDailyRows)
          }))
          const total = foldedCount + after.flat().length
          yield* eventually("the new events to be folded", rolledUpEvents(customer.id), (events) => events === total)
          const loaded = (yield* repo.loadMany([id], allDailyRows)).get(id)!
          assert.deepStrictEqual(normalised(merged), normalised(loaded))
          return true
        }).pipe(Effect.provide(CustomerFactsRepo.layer))
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(batches, batches, (before, after) => run(check(before, after))), { numRuns })
      )
    }), 180_000)
})
