/**
 * GET /api/v1/customers/:id/analytics: every figure of a customer whose
 * rollup rows are seeded by hand, checked against hand computation at a
 * fixed "now" (TestClock); then the HTTP door: zeros for a customer without
 * events, 404 for unknown and erased customers, every role may read.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { ClvScorer, type RepeatPurchaseSummary } from "../../src/analytics/ClvScorer.ts"
import type { CustomerAnalytics as Analytics } from "../../src/domain/Analytics.ts"
import type { CustomerId } from "../../src/domain/Customer.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { atTime, type CustomerRollups, sampleBreakpoints, seedRfmBreakpoints, seedRollups } from "../support/Rollups.ts"
import { json } from "../support/TestService.ts"

const now = Date.parse("2026-03-15T12:00:00Z")

/**
 * Thirteen events on four days (ages 0, 14, 28 and 98 days before 2026-03-15), three purchase days,
 * revenue 100 in the reporting currency (USD 50 as sent, EUR 45 worth USD 50), three sessions.
 */
const history: CustomerRollups = {
  activity: {
    firstSeenAt: "2025-12-07T10:00:00Z",
    lastSeenAt: "2026-03-15T09:30:00Z",
    events: 13,
    revenue: 100,
    purchaseDays: 3,
    firstPurchaseOn: "2025-12-07",
    lastPurchaseOn: "2026-03-15",
    repeatRevenue: 50
  },
  daily: [
    { day: "2026-03-15", type: "page_view", events: 3 },
    { day: "2026-03-15", type: "purchase", events: 1, revenue: 20 },
    { day: "2026-03-01", type: "page_view", events: 2 },
    { day: "2026-02-15", type: "page_view", events: 4 },
    { day: "2026-02-15", type: "purchase", events: 2, revenue: 30 },
    { day: "2025-12-07", type: "purchase", events: 1, revenue: 50 }
  ],
  revenue: [
    { currency: "USD", revenue: 50, events: 3 },
    { currency: "EUR", revenue: 45, events: 1 }
  ],
  sessions: [
    { sessionId: "s-1", startedAt: "2026-03-15T09:00:00Z", endedAt: "2026-03-15T09:30:00Z", events: 4 },
    { sessionId: "s-2", startedAt: "2026-02-15T20:00:00Z", endedAt: "2026-02-15T20:10:00Z", events: 6 },
    { sessionId: "s-3", startedAt: "2026-03-01T08:00:00Z", endedAt: "2026-03-01T08:00:00Z", events: 2 }
  ]
}


/**
 * Until the fitted model is plugged in, a scorer of the test's own shows what the port is given: it
 * answers from the summary, so the summary can be read back from the answer.
 */
const summaryEcho = Layer.succeed(
  ClvScorer,
  ClvScorer.of({
    score: (summary: RepeatPurchaseSummary) =>
      Effect.succeed({
        status: "scored",
        probabilityAlive: 0.8,
        churnRisk: 0.2,
        horizonDays: summary.T,
        expectedPurchases: summary.x,
        expectedAverageSpend: summary.meanRepeatSpend ?? 0,
        lifetimeValue: summary.tx,
        modelFittedAt: "2026-03-01T00:00:00.000Z"
      })
  })
)

const Env = testServiceWithDatabase({ env: { RFM_REFRESH_MINUTES: "0" } })

const analyticsAt = (id: string, scorer: Layer.Layer<ClvScorer> = ClvScorer.noModel) =>
  atTime(now, (service) => service.analytics(id as CustomerId), scorer)

const seededCustomer = Effect.gen(function*() {
  const { id } = yield* createCustomer()
  yield* seedRollups(id, history)
  yield* seedRfmBreakpoints(sampleBreakpoints)
  return id
})

layer(Env, { excludeTestServices: true })("a customer's analytics, from its rollup rows", (it) => {
  it.effect("counts per type (most frequent first), active days, first and last seen", () =>
    Effect.gen(function*() {
      const analytics = yield* analyticsAt(yield* seededCustomer)
      assert.strictEqual(analytics.asOf, "2026-03-15T12:00:00.000Z")
      assert.strictEqual(analytics.firstSeenAt, "2025-12-07T10:00:00.000Z")
      assert.strictEqual(analytics.lastSeenAt, "2026-03-15T09:30:00.000Z")
      assert.deepStrictEqual(analytics.events, {
        total: 13,
        activeDays: 4,
        byType: [
          { type: "page_view", events: 3 + 2 + 4, lastOn: "2026-03-15" },
          { type: "purchase", events: 1 + 2 + 1, lastOn: "2026-03-15" }
        ]
      })
    }))

  it.effect("windows of 7, 30 and 90 days count today and the days before it", () =>
    Effect.gen(function*() {
      const analytics = yield* analyticsAt(yield* seededCustomer)
      assert.deepStrictEqual(analytics.windows, [
        // 2026-03-15 only.
        { days: 7, events: 4, activeDays: 1, revenue: 20 },
        // 03-15, 03-01 (14 days ago) and 02-15 (28 days ago).
        { days: 30, events: 4 + 2 + 6, activeDays: 3, revenue: 20 + 30 },
        // 2025-12-07 is 98 days ago: outside.
        { days: 90, events: 12, activeDays: 3, revenue: 50 }
      ])
    }))

  it.effect("sessions: count, mean length (a one-event session lasts 0 s) and mean events", () =>
    Effect.gen(function*() {
      const analytics = yield* analyticsAt(yield* seededCustomer)
      // (1800 s + 600 s + 0 s) / 3 and (4 + 6 + 2) / 3.
      assert.deepStrictEqual(analytics.sessions, { count: 3, averageSeconds: 800, averageEvents: 4 })
    }))

  it.effect("revenue in the reporting currency and per currency as sent, largest first; purchase days", () =>
    Effect.gen(function*() {
      const analytics = yield* analyticsAt(yield* seededCustomer)
      assert.deepStrictEqual(analytics.revenue, {
        reportingCurrency: "USD",
        total: 100,
        byCurrency: [
          { currency: "USD", revenue: 50, events: 3 },
          { currency: "EUR", revenue: 45, events: 1 }
        ]
      })
      assert.deepStrictEqual(analytics.purchases, {
        purchaseDays: 3,
        firstPurchaseOn: "2025-12-07",
        lastPurchaseOn: "2026-03-15",
        repeatRevenue: 50
      })
    }))

  it.effect("RFM: quintile scores against the stored breakpoints, and the segment of R and F", () =>
    Effect.gen(function*() {
      const analytics = yield* analyticsAt(yield* seededCustomer)
      assert.deepStrictEqual(analytics.rfm, {
        status: "scored",
        // 2026-03-15 is after all four recency breakpoints.
        recency: { lastPurchaseOn: "2026-03-15", days: 0, score: 5 },
        // 3 purchase days exceed 1, 1 and 2, not 3.
        frequency: { purchaseDays: 3, score: 4 },
        // 100 exceeds 20, 40 and 80, not 150.
        monetary: { revenue: 100, score: 4 },
        segment: "champions",
        rankedCustomers: 250,
        breakpointsComputedAt: "2026-03-15T11:00:00.000Z"
      })
    }))

  it.effect("engagement: recency, frequency and intensity with a 14-day half-life", () =>
    Effect.gen(function*() {
      const analytics = yield* analyticsAt(yield* seededCustomer)
      // Weights 2^(-age/14): ages 0, 14, 28, 98 -> 1, 0.5, 0.25, 2^-7 = 0.0078125.
      const decayedActiveDays = 1 + 0.5 + 0.25 + 0.0078125
      // Events 4, 2, 6, 1.
      const decayedEvents = 4 * 1 + 2 * 0.5 + 6 * 0.25 + 1 * 0.0078125
      const frequency = decayedActiveDays / (decayedActiveDays + 2)
      const perDay = decayedEvents / decayedActiveDays
      const intensity = perDay / (perDay + 5)
      assert.deepStrictEqual(analytics.engagement, {
        // 100 * (0.4 * 1 + 0.35 * 0.46778 + 0.25 * 0.42543) = 67.0
        score: 67,
        halfLifeDays: 14,
        recency: 1,
        frequency: 0.4678,
        intensity: 0.4254,
        daysSinceLastActive: 0,
        decayedActiveDays: 1.7578,
        decayedEvents: 6.5078
      })
      assert.closeTo(frequency, 0.4678, 0.00005)
      assert.closeTo(intensity, 0.4254, 0.00005)
      assert.strictEqual(Math.round(100 * (0.4 + 0.35 * frequency + 0.25 * intensity)), 67)
    }))

  it.effect("without a fitted CLV model the prediction is absent, with that reason", () =>
    Effect.gen(function*() {
      const analytics = yield* analyticsAt(yield* seededCustomer)
      assert.deepStrictEqual(analytics.clv, {
        status: "unavailable",
        reason: "no-model-fitted",
        detail: "No CLV model has been fitted over the customer base yet"
      })
    }))

  it.effect("the CLV scorer is given x, t_x and T in days and the mean repeat spend", () =>
    Effect.gen(function*() {
      const analytics = yield* analyticsAt(yield* seededCustomer, summaryEcho)
      // x = 3 purchase days - 1; t_x = T = 2026-03-15 - 2025-12-07 = 98 days; repeat revenue 50 over 2 days.
      assert.deepInclude(analytics.clv, { horizonDays: 98, expectedPurchases: 2, lifetimeValue: 98, expectedAverageSpend: 25 })
    }))

  it.effect("a customer without events has zeros, and no score that needs events", () =>
    Effect.gen(function*() {
      const { id } = yield* createCustomer()
      const analytics: Analytics = yield* analyticsAt(id)
      assert.strictEqual(analytics.firstSeenAt, null)
      assert.strictEqual(analytics.lastSeenAt, null)
      assert.deepStrictEqual(analytics.events, { total: 0, activeDays: 0, byType: [] })
      assert.deepStrictEqual(analytics.windows.map((window) => [window.events, window.activeDays, window.revenue]), [
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0]
      ])
      assert.deepStrictEqual(analytics.sessions, { count: 0, averageSeconds: 0, averageEvents: 0 })
      assert.deepStrictEqual(analytics.revenue, { reportingCurrency: "USD", total: 0, byCurrency: [] })
      assert.deepStrictEqual(analytics.engagement, {
        score: 0,
        halfLifeDays: 14,
        recency: 0,
        frequency: 0,
        intensity: 0,
        daysSinceLastActive: null,
        decayedActiveDays: 0,
        decayedEvents: 0
      })
      assert.strictEqual(analytics.rfm.status, "unavailable")
      assert.deepInclude(analytics.clv, { status: "unavailable", reason: "no-purchases" })
    }))
})

layer(Env, { excludeTestServices: true })("GET /api/v1/customers/:id/analytics", (it) => {
  const get = (id: string, role: "admin" | "agent" | "analyst" | "service" = "analyst") =>
    call("GET", `${customersPath}/${id}/analytics`, { role })

  it.effect("answers the figures of the customer's rollups", () =>
    Effect.gen(function*() {
      const id = yield* seededCustomer
      const response = yield* get(id)
      assert.strictEqual(response.status, 200)
      const analytics = yield* json<Analytics>(response)
      assert.strictEqual(analytics.customerId, id)
      assert.strictEqual(analytics.events.total, 13)
      assert.strictEqual(analytics.revenue.total, 100)
      assert.strictEqual(analytics.rfm.status, "scored")
    }))

  it.effect("every role may read analytics", () =>
    Effect.gen(function*() {
      const { id } = yield* createCustomer()
      for (const role of ["admin", "agent", "analyst", "service"] as const) {
        assert.strictEqual((yield* get(id, role)).status, 200, role)
      }
    }))

  it.effect("a customer without events: 200 with zeros", () =>
    Effect.gen(function*() {
      const { id } = yield* createCustomer()
      const analytics = yield* json<Analytics>(yield* get(id))
      assert.strictEqual(analytics.events.total, 0)
      assert.strictEqual(analytics.engagement.score, 0)
    }))

  it.effect("an unknown customer is a 404 problem", () =>
    Effect.gen(function*() {
      yield* expectProblem(yield* get(crypto.randomUUID()), 404, "/problems/customer-not-found")
    }))

  it.effect("an erased customer is a 404, whatever rollup rows remain", () =>
    Effect.gen(function*() {
      const id = yield* seededCustomer
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${id}`)).status, 204)
      yield* expectProblem(yield* get(id), 404, "/problems/customer-not-found")
    }))

  it.effect("a malformed id is a 400 naming it", () =>
    Effect.gen(function*() {
      yield* expectProblem(yield* get("not-a-uuid"), 400, "/problems/invalid-request")
    }))
})
