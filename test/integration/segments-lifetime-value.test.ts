/**
 * The `lifetimeValue` criterion end to end, on the real database: customers
 * whose purchases are tracked through the API, a fitted CLV model, and a
 * dynamic segment "predicted lifetime value at least V". Its calculation
 * selects exactly the customers whose figure in GET /customers/:id/analytics
 * is at least V (to the ten-thousandth, the threshold itself included), and a
 * later purchase that lifts a customer's figure over V joins them in real time.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { CustomerAnalytics } from "../../src/domain/Analytics.ts"
import { toValuePrecision } from "../../src/segments/LifetimeValue.ts"
import { customersPath, newCustomer, unique } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer } from "../support/Http.ts"
import { createSegment, dynamicSegment } from "../support/SegmentsApi.ts"
import { json } from "../support/TestService.ts"

const dayMillis = 86_400_000

/**
 * Fader, Hardie & Lee's CDNOW parameters as the model in force. Stamped as finished an hour ahead, so that it
 * stays the latest should the scheduled fit run over this test's few customers meanwhile.
 */
const fittedModel = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql`INSERT INTO clv_models (id, status, trigger, period_to, r, alpha, a, b, bg_nbd_log_likelihood,
      p, q, v, gamma_gamma_log_likelihood, requested_at, finished_at)
    VALUES (${crypto.randomUUID()}, 'succeeded', 'requested', now(), 0.243, 4.414, 0.793, 2.426, -9582.4,
      6.25, 3.74, 15.44, -4000, now(), now() + interval '1 hour')`.pipe(Effect.orDie))

/** Purchases through the batch endpoint, one a day `daysAgo` (at noon UTC), each of `revenue` USD. */
const trackPurchases = (customerId: string, purchases: ReadonlyArray<{ readonly daysAgo: number; readonly revenue: number }>) =>
  Effect.gen(function*() {
    const noon = Math.floor(Date.now() / dayMillis) * dayMillis + dayMillis / 2
    const events = purchases.map(({ daysAgo, revenue }) => ({
      customerId,
      type: "purchase",
      // Today's purchase a minute ago at most: never ahead of the clock.
      occurredAt: new Date(Math.min(noon - daysAgo * dayMillis, Date.now() - 60_000)).toISOString(),
      revenue,
      currency: "USD"
    }))
    const response = yield* call("POST", "/api/v1/events/batch", { body: { events }, role: "service" })
    assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.text()))
  })

/** The customer's predicted lifetime value as the analytics endpoint reports it, once `purchaseDays` are folded. */
const reportedValue = (customerId: string, purchaseDays: number) =>
  Effect.gen(function*() {
    const analytics = yield* eventually(
      `analytics of ${customerId} with ${purchaseDays} purchase days`,
      Effect.flatMap(call("GET", `${customersPath}/${customerId}/analytics`), (response) => json<CustomerAnalytics>(response)),
      (found) => found.purchases.purchaseDays === purchaseDays && found.clv.status === "scored",
      10_000
    )
    assert.strictEqual(analytics.clv.status, "scored")
    return analytics.clv.status === "scored" ? analytics.clv.lifetimeValue : Number.NaN
  })

const currentMembers = (segmentId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly customerId: string }>`SELECT customer_id::text AS "customerId" FROM customer_segment_memberships
      WHERE segment_id = ${segmentId} AND left_at IS NULL ORDER BY 1`.pipe(
      Effect.orDie,
      Effect.map((rows) => rows.map((row) => row.customerId))
    ))

const settled = (segmentId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    eventually(
      `segment ${segmentId} to settle`,
      sql<{ readonly status: string }>`SELECT status FROM segment_calculations WHERE segment_id = ${segmentId}`.pipe(
        Effect.orDie
      ),
      (rows) => rows.length > 0 && rows.every((row) => row.status === "succeeded")
    ))

layer(
  testServiceWithDatabase({ env: { SEGMENT_CALCULATION_POLL_SECONDS: "0.2", SEGMENT_REALTIME_POLL: "200 millis" } }),
  { excludeTestServices: true }
)("the lifetime value criterion", (it) => {
  it.effect("a calculation selects the customers whose analytics figure reaches the threshold; a purchase that lifts one over it joins them in real time", () =>
    Effect.gen(function*() {
      yield* fittedModel
      const tag = `clv-${unique()}`
      const create = () => Effect.map(createCustomer(newCustomer({ tags: [tag] })), (customer) => customer.id)
      const occasional = yield* create()
      const loyal = yield* create()
      const lapsed = yield* create()
      const newcomer = yield* create()
      const browser = yield* create()
      yield* trackPurchases(occasional, [{ daysAgo: 90, revenue: 20 }, { daysAgo: 40, revenue: 15 }])
      yield* trackPurchases(loyal, [60, 45, 30, 15, 3].map((daysAgo) => ({ daysAgo, revenue: 80 })))
      yield* trackPurchases(lapsed, [{ daysAgo: 700, revenue: 300 }, { daysAgo: 650, revenue: 300 }])
      yield* trackPurchases(newcomer, [{ daysAgo: 2, revenue: 25 }])

      const values = {
        occasional: yield* reportedValue(occasional, 2),
        loyal: yield* reportedValue(loyal, 5),
        lapsed: yield* reportedValue(lapsed, 2),
        newcomer: yield* reportedValue(newcomer, 1)
      }
      // The loyal buyer's figure, to the ten-thousandth, as the threshold: it is in (bounds are inclusive).
      const threshold = toValuePrecision(values.loyal)
      assert.isBelow(values.occasional, threshold, JSON.stringify(values))
      assert.isBelow(values.lapsed, threshold, JSON.stringify(values))
      const ids = { occasional, loyal, lapsed, newcomer }
      const expected = Object.entries(values)
        .filter(([, value]) => toValuePrecision(value) >= threshold)
        .map(([label]) => ids[label as keyof typeof ids])
        .sort()
      assert.include(expected, loyal)

      const segment = yield* createSegment(dynamicSegment({
        criteria: {
          kind: "all",
          criteria: [{ kind: "tags", match: "any", tags: [tag] }, { kind: "lifetimeValue", atLeast: threshold }]
        }
      }))
      yield* settled(segment.id)
      assert.deepStrictEqual(yield* currentMembers(segment.id), expected)
      // No purchase, no prediction: the browser is in no lifetime value segment.
      assert.notInclude(yield* currentMembers(segment.id), browser)

      // A large purchase today lifts the occasional buyer's figure over the threshold: the fold queues them,
      // and the real-time round joins them without a calculation.
      yield* trackPurchases(occasional, [{ daysAgo: 0, revenue: 2000 }])
      const lifted = yield* reportedValue(occasional, 3)
      assert.isAtLeast(toValuePrecision(lifted), threshold)
      const members = yield* eventually(
        "the occasional buyer to join",
        currentMembers(segment.id),
        (found) => found.includes(occasional),
        10_000
      )
      assert.deepStrictEqual(members, [...expected, occasional].sort())
    }))
})
