/**
 * The RFM breakpoints job: quintiles of the customer base computed into one
 * row (migrations/0008), left alone while younger than the interval, by
 * Effect's Clock (TestClock); the scores a customer gets from them.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import { refreshRfmBreakpoints } from "../../src/analytics/RfmBreakpoints.ts"
import type { CustomerId } from "../../src/domain/Customer.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { createCustomer } from "../support/Http.ts"
import { atTime, seedRollups } from "../support/Rollups.ts"

const now = Date.parse("2026-03-15T12:00:00Z")

/** A buyer with `purchaseDays` purchase days, the last on `lastPurchaseOn`, and `revenue` in all. */
const buyer = (purchaseDays: number, lastPurchaseOn: string, revenue: number) => ({
  activity: {
    firstSeenAt: "2025-01-01T00:00:00Z",
    lastSeenAt: `${lastPurchaseOn}T12:00:00Z`,
    events: purchaseDays,
    revenue,
    purchaseDays,
    firstPurchaseOn: "2025-01-01",
    lastPurchaseOn,
    repeatRevenue: revenue
  }
})

const storedBreakpoints = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{
    readonly customers: number
    readonly recency: ReadonlyArray<string>
    readonly frequency: ReadonlyArray<number>
    readonly monetary: ReadonlyArray<number>
    readonly computedAt: Date
  }>`SELECT customers::int, (SELECT array_agg(to_char(d, 'YYYY-MM-DD')) FROM unnest(recency) d) AS recency,
      frequency, monetary::float8[] AS monetary, computed_at AS "computedAt" FROM rfm_breakpoints`.pipe(Effect.orDie))

const refreshAt = (time: number, maxAge: Duration.Input) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(time)
    yield* refreshRfmBreakpoints(Duration.fromInputUnsafe(maxAge))
  }).pipe(Effect.provide(TestClock.layer()))

// The service's own job is off: the test drives the refresh.
layer(testServiceWithDatabase({ env: { RFM_REFRESH_MINUTES: "0" } }), { excludeTestServices: true })(
  "RFM breakpoints",
  (it) => {
    it.effect("quintiles of the buyers, recomputed only once older than the interval; scores from them", () =>
      Effect.gen(function*() {
        // No buyers yet: nothing to rank, no row.
        yield* refreshAt(now, "60 minutes")
        assert.lengthOf(yield* storedBreakpoints, 0)

        // Five buyers (1 to 5 purchase days, revenue 10 to 50, last purchases a month apart) and a browser.
        const ids: Array<string> = []
        for (const [n, last] of ["2025-11-15", "2025-12-15", "2026-01-15", "2026-02-15", "2026-03-15"].entries()) {
          const { id } = yield* createCustomer()
          yield* seedRollups(id, buyer(n + 1, last, 10 * (n + 1)))
          ids.push(id)
        }
        const { id: browser } = yield* createCustomer()
        yield* seedRollups(browser, { activity: { firstSeenAt: "2026-03-01T00:00:00Z", lastSeenAt: "2026-03-01T00:00:00Z", events: 4 } })

        yield* refreshAt(now, "60 minutes")
        // percentile_disc over five values: the 1st, 2nd, 3rd and 4th.
        assert.deepStrictEqual(yield* storedBreakpoints, [{
          customers: 5,
          recency: ["2025-11-15", "2025-12-15", "2026-01-15", "2026-02-15"],
          frequency: [1, 2, 3, 4],
          monetary: [10, 20, 30, 40],
          computedAt: new Date(now)
        }])

        const rfm = (id: string) => atTime(now, (service) => service.analytics(id as CustomerId)).pipe(
          Effect.map((analytics) => analytics.rfm)
        )
        const top = yield* rfm(ids[4])
        assert.deepInclude(top, { status: "scored", segment: "champions", rankedCustomers: 5 })
        assert.deepStrictEqual(top.status === "scored" && [top.recency.score, top.frequency.score, top.monetary.score], [5, 5, 5])
        const bottom = yield* rfm(ids[0])
        assert.deepStrictEqual(
          bottom.status === "scored" && [bottom.recency.score, bottom.frequency.score, bottom.monetary.score, bottom.segment],
          [1, 1, 1, "hibernating"]
        )
        assert.deepInclude(yield* rfm(browser), { status: "unavailable", reason: "no-purchases" })

        // A sixth buyer: within the hour the breakpoints stand; after it they are recomputed.
        const { id: sixth } = yield* createCustomer()
        yield* seedRollups(sixth, buyer(6, "2026-03-15", 60))
        yield* refreshAt(now + 59 * 60_000, "60 minutes")
        assert.strictEqual((yield* storedBreakpoints)[0].customers, 5)
        yield* refreshAt(now + 61 * 60_000, "60 minutes")
        const [recomputed] = yield* storedBreakpoints
        assert.strictEqual(recomputed.customers, 6)
        // Six values: the 20th percentile is the 2nd (cumulative 2/6 >= 0.2), then the 3rd, 4th and 5th.
        assert.deepStrictEqual(recomputed.frequency, [2, 3, 4, 5])
        assert.deepStrictEqual(recomputed.computedAt, new Date(now + 61 * 60_000))
      }))
  }
)
