/**
 * GET /api/v1/customers/:id/insights: behaviour patterns, risk factors and
 * next-best actions of customers whose rollup rows are seeded by hand, at a
 * fixed "now" (TestClock, 2026-03-15 12:00 UTC); then the HTTP door.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { ClvScorer } from "../../src/analytics/ClvScorer.ts"
import type { CustomerInsights } from "../../src/domain/Analytics.ts"
import type { CustomerId } from "../../src/domain/Customer.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import {
  atTime,
  type CustomerRollups,
  hourOfWeek,
  sampleBreakpoints,
  seedRfmBreakpoints,
  seedRollups
} from "../support/Rollups.ts"
import { json } from "../support/TestService.ts"

const now = Date.parse("2026-03-15T12:00:00Z")


/**
 * A buyer every 10 days in December who stopped (last purchase 74 days ago), browsed less in the last 30
 * days than in the 30 before, asked support twice, had a refund and left something in the cart yesterday.
 */
const lapsingBuyer: CustomerRollups = {
  activity: {
    firstSeenAt: "2025-12-01T20:00:00Z",
    lastSeenAt: "2026-03-14T20:05:00Z",
    events: 19,
    revenue: 160,
    purchaseDays: 4,
    firstPurchaseOn: "2025-12-01",
    lastPurchaseOn: "2025-12-31",
    repeatRevenue: 120
  },
  daily: [
    { day: "2025-12-01", type: "purchase", events: 1, revenue: 40 },
    { day: "2025-12-11", type: "purchase", events: 1, revenue: 40 },
    { day: "2025-12-21", type: "purchase", events: 1, revenue: 40 },
    { day: "2025-12-31", type: "purchase", events: 1, revenue: 40 },
    // 69 days ago.
    { day: "2026-01-05", type: "refund", events: 1, revenue: -40 },
    // 42 days ago: the previous 30 days (ages 30-59).
    { day: "2026-02-01", type: "page_view", events: 10 },
    // The last 30 days (ages 0-29): 1 + 2 + 1 = 4 events.
    { day: "2026-03-10", type: "page_view", events: 1 },
    { day: "2026-03-12", type: "support_ticket", events: 2 },
    { day: "2026-03-14", type: "add_to_cart", events: 1 }
  ],
  hourly: [
    { hourOfWeek: hourOfWeek("monday", 20), events: 6 },
    { hourOfWeek: hourOfWeek("wednesday", 9), events: 4 },
    { hourOfWeek: hourOfWeek("thursday", 12), events: 3 },
    { hourOfWeek: hourOfWeek("saturday", 20), events: 5 },
    { hourOfWeek: hourOfWeek("sunday", 9), events: 1 }
  ],
  channels: [
    { channel: "email", events: 5, lastSeenAt: "2026-03-10T09:00:00Z" },
    { channel: "store", events: 2, lastSeenAt: "2025-12-31T12:00:00Z" },
    { channel: "web", events: 12, lastSeenAt: "2026-03-14T20:05:00Z" }
  ]
}

/** Buys every 7 days, last a week ago: due today, and a champion of the RFM grid. */
const regularBuyer: CustomerRollups = {
  activity: {
    firstSeenAt: "2026-02-22T10:00:00Z",
    lastSeenAt: "2026-03-08T10:00:00Z",
    events: 3,
    revenue: 120,
    purchaseDays: 3,
    firstPurchaseOn: "2026-02-22",
    lastPurchaseOn: "2026-03-08",
    repeatRevenue: 80
  },
  daily: [
    { day: "2026-02-22", type: "purchase", events: 1, revenue: 40 },
    { day: "2026-03-01", type: "purchase", events: 1, revenue: 40 },
    { day: "2026-03-08", type: "purchase", events: 1, revenue: 40 }
  ],
  hourly: [{ hourOfWeek: hourOfWeek("sunday", 10), events: 3 }],
  channels: [{ channel: "ios", events: 3, lastSeenAt: "2026-03-08T10:00:00Z" }]
}

/** Browses, never bought. */
const browser: CustomerRollups = {
  activity: { firstSeenAt: "2026-03-13T18:00:00Z", lastSeenAt: "2026-03-13T18:20:00Z", events: 5 },
  daily: [{ day: "2026-03-13", type: "page_view", events: 5 }],
  hourly: [{ hourOfWeek: hourOfWeek("friday", 18), events: 5 }],
  channels: [{ channel: "web", events: 5, lastSeenAt: "2026-03-13T18:20:00Z" }]
}

const seeded = (rollups: CustomerRollups) =>
  Effect.gen(function*() {
    const { id } = yield* createCustomer()
    yield* seedRollups(id, rollups)
    yield* seedRfmBreakpoints(sampleBreakpoints)
    return id
  })

const insightsAt = (id: string, scorer?: Layer.Layer<ClvScorer>) =>
  atTime(now, (service) => service.insights(id as CustomerId), scorer)

/** A fitted model's answer, fixed, to show how churn risk enters the insights. */
const churning = Layer.succeed(
  ClvScorer,
  ClvScorer.of({
    score: () =>
      Effect.succeed({
        status: "scored",
        probabilityAlive: 0.15,
        churnRisk: 0.85,
        horizonDays: 365,
        expectedPurchases: 0.4,
        expectedAverageSpend: 40,
        lifetimeValue: 16,
        modelFittedAt: "2026-03-01T00:00:00.000Z"
      })
  })
)

const Env = testServiceWithDatabase({ env: { RFM_REFRESH_MINUTES: "0" } })

layer(Env, { excludeTestServices: true })("behaviour patterns", (it) => {
  it.effect("preferred hours and days (UTC) from the hour-of-week rollup, with their share", () =>
    Effect.gen(function*() {
      const { patterns } = yield* insightsAt(yield* seeded(lapsingBuyer))
      // 20h: 6 + 5, 9h: 4 + 1, 12h: 3, of 19 events.
      assert.deepStrictEqual(patterns.preferredHours, [
        { hour: 20, events: 11, share: 0.5789 },
        { hour: 9, events: 5, share: 0.2632 },
        { hour: 12, events: 3, share: 0.1579 }
      ])
      assert.deepStrictEqual(patterns.preferredDays, [
        { day: "monday", events: 6, share: 0.3158 },
        { day: "saturday", events: 5, share: 0.2632 },
        { day: "wednesday", events: 4, share: 0.2105 }
      ])
    }))

  it.effect("channels, busiest first", () =>
    Effect.gen(function*() {
      const { patterns } = yield* insightsAt(yield* seeded(lapsingBuyer))
      assert.deepStrictEqual(patterns.channels, [
        { channel: "web", events: 12, share: 0.6316, lastSeenAt: "2026-03-14T20:05:00.000Z" },
        { channel: "email", events: 5, share: 0.2632, lastSeenAt: "2026-03-10T09:00:00.000Z" },
        { channel: "store", events: 2, share: 0.1053, lastSeenAt: "2025-12-31T12:00:00.000Z" }
      ])
    }))

  it.effect("purchase cadence: mean and median gap between purchase days, and when the next is due", () =>
    Effect.gen(function*() {
      const { patterns } = yield* insightsAt(yield* seeded(lapsingBuyer))
      assert.deepStrictEqual(patterns.purchaseCadence, {
        purchaseDays: 4,
        meanGapDays: 10,
        medianGapDays: 10,
        lastPurchaseOn: "2025-12-31",
        // 31 days of January, 28 of February, 15 of March.
        daysSinceLastPurchase: 74,
        expectedNextPurchaseOn: "2026-01-10"
      })
    }))

  it.effect("activity trend: events in the last 30 days against the 30 before", () =>
    Effect.gen(function*() {
      const { patterns } = yield* insightsAt(yield* seeded(lapsingBuyer))
      assert.deepStrictEqual(patterns.activityTrend, { last30Days: 4, previous30Days: 10, changePercent: -60 })
    }))
})

layer(Env, { excludeTestServices: true })("risk factors and recommendations", (it) => {
  it.effect("a lapsing buyer: overdue against its own cadence, declining, refunds, support contacts", () =>
    Effect.gen(function*() {
      const { riskFactors } = yield* insightsAt(yield* seeded(lapsingBuyer))
      assert.deepStrictEqual(riskFactors, [
        {
          code: "overdue-purchase",
          severity: "high",
          reason: "No purchase for 74 days, 7.4 times the customer's usual 10 days between purchases",
          figures: { daysSinceLastPurchase: 74, medianGapDays: 10, meanGapDays: 10, ratio: 7.4 }
        },
        {
          code: "declining-activity",
          severity: "medium",
          reason: "4 events in the last 30 days against 10 in the 30 before",
          figures: { last30Days: 4, previous30Days: 10, changePercent: -60 }
        },
        {
          code: "recent-refunds",
          severity: "medium",
          // Purchases of the last 90 days: 2025-12-21 and 2025-12-31.
          reason: "1 refund(s) against 2 purchase(s) in the last 90 days",
          figures: { refunds90Days: 1, purchases90Days: 2 }
        },
        {
          code: "support-contacts",
          severity: "medium",
          reason: "2 support ticket(s) in the last 30 days",
          figures: { supportTickets30Days: 2 }
        }
      ])
    }))

  it.effect("a lapsing buyer: support first, then win-back, re-engagement and the cart, at its usual time", () =>
    Effect.gen(function*() {
      const { recommendations } = yield* insightsAt(yield* seeded(lapsingBuyer))
      const timing = { channel: "web", hour: 20, day: "monday" as const }
      assert.deepStrictEqual(recommendations.map(({ action, priority, timing }) => ({ action, priority, timing })), [
        { action: "support-follow-up", priority: 1, timing },
        { action: "win-back-offer", priority: 2, timing },
        { action: "re-engagement-campaign", priority: 3, timing },
        { action: "cart-recovery", priority: 4, timing }
      ])
      assert.deepStrictEqual(recommendations[1].figures, {
        daysSinceLastPurchase: 74,
        medianGapDays: 10,
        meanGapDays: 10,
        ratio: 7.4,
        purchaseDays: 4
      })
      assert.deepStrictEqual(recommendations[3].figures, {
        cartEvents7Days: 1,
        daysSinceCart: 1,
        daysSinceLastPurchase: 74
      })
      assert.strictEqual(recommendations[3].reason, "Added to cart 1 day(s) ago without buying since")
    }))

  it.effect("a fitted model's churn risk of 0.85 is a high risk and the reason for the win-back", () =>
    Effect.gen(function*() {
      const { riskFactors, recommendations } = yield* insightsAt(yield* seeded(lapsingBuyer), churning)
      const churn = riskFactors.find((factor) => factor.code === "churn-risk")
      assert.deepStrictEqual(churn, {
        code: "churn-risk",
        severity: "high",
        reason: "The CLV model puts the chance this customer has stopped buying at 85 %",
        figures: { churnRisk: 0.85, probabilityAlive: 0.15 }
      })
      const winBack = recommendations.find((recommendation) => recommendation.action === "win-back-offer")
      assert.deepStrictEqual(winBack?.figures, { churnRisk: 0.85, probabilityAlive: 0.15, purchaseDays: 4 })
    }))

  it.effect("a regular buyer due today: no risk, a replenishment reminder and, as a champion, a loyalty reward", () =>
    Effect.gen(function*() {
      const insights = yield* insightsAt(yield* seeded(regularBuyer))
      assert.deepStrictEqual(insights.riskFactors, [])
      assert.deepStrictEqual(insights.recommendations, [
        {
          action: "replenishment-reminder",
          priority: 1,
          reason: "Buys every 7 days (median); the next purchase is due today",
          figures: { medianGapDays: 7, daysSinceLastPurchase: 7, expectedNextPurchaseOn: "2026-03-15" },
          timing: { channel: "ios", hour: 10, day: "sunday" }
        },
        {
          action: "loyalty-reward",
          priority: 2,
          reason: "RFM segment champions: reward and ask for referrals rather than discount",
          // Last purchase 2026-03-08 after every recency breakpoint; 3 days above 1, 1, 2; 120 above 20, 40, 80.
          figures: { segment: "champions", recencyScore: 5, frequencyScore: 4, monetaryScore: 4 },
          timing: { channel: "ios", hour: 10, day: "sunday" }
        }
      ])
    }))

  it.effect("an active browser who never bought: a first-purchase incentive", () =>
    Effect.gen(function*() {
      const insights = yield* insightsAt(yield* seeded(browser))
      assert.deepStrictEqual(insights.riskFactors, [])
      assert.deepStrictEqual(insights.recommendations, [{
        action: "first-purchase-incentive",
        priority: 1,
        reason: "Active (5 events in the last 30 days) but has never bought",
        figures: { last30Days: 5 },
        timing: { channel: "web", hour: 18, day: "friday" }
      }])
    }))

  it.effect("a customer without events: empty patterns, no risk, nothing to recommend", () =>
    Effect.gen(function*() {
      const { id } = yield* createCustomer()
      const insights = yield* insightsAt(id)
      assert.deepStrictEqual(insights.patterns, {
        preferredHours: [],
        preferredDays: [],
        channels: [],
        purchaseCadence: {
          purchaseDays: 0,
          meanGapDays: null,
          medianGapDays: null,
          lastPurchaseOn: null,
          daysSinceLastPurchase: null,
          expectedNextPurchaseOn: null
        },
        activityTrend: { last30Days: 0, previous30Days: 0, changePercent: null }
      })
      assert.deepStrictEqual(insights.riskFactors, [])
      assert.deepStrictEqual(insights.recommendations, [])
    }))
})

layer(Env, { excludeTestServices: true })("GET /api/v1/customers/:id/insights", (it) => {
  const get = (id: string) => call("GET", `${customersPath}/${id}/insights`, { role: "agent" })

  it.effect("answers the insights of the customer's rollups", () =>
    Effect.gen(function*() {
      const id = yield* seeded(browser)
      const response = yield* get(id)
      assert.strictEqual(response.status, 200)
      const insights = yield* json<CustomerInsights>(response)
      assert.strictEqual(insights.customerId, id)
      assert.deepStrictEqual(insights.patterns.preferredDays, [{ day: "friday", events: 5, share: 1 }])
    }))

  it.effect("an unknown customer is a 404 problem", () =>
    Effect.gen(function*() {
      yield* expectProblem(yield* get(crypto.randomUUID()), 404, "/problems/customer-not-found")
    }))

  it.effect("an erased customer is a 404", () =>
    Effect.gen(function*() {
      const id = yield* seeded(lapsingBuyer)
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${id}`)).status, 204)
      yield* expectProblem(yield* get(id), 404, "/problems/customer-not-found")
    }))
})
