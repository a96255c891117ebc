/** The pure rules behind analytics and insights: decay, quintile scores, the RFM grid, cadence. */
import { assert, describe, it } from "@effect/vitest"
import { dayNumber } from "../../src/analytics/Days.ts"
import { decay, engagementOf } from "../../src/analytics/Engagement.ts"
import { patternsOf } from "../../src/analytics/Insights.ts"
import { quintileScore, segmentOf } from "../../src/analytics/Rfm.ts"

describe("engagement", () => {
  it("a day weighs half as much every 14 days", () => {
    assert.deepStrictEqual([decay(0), decay(14), decay(28), decay(42)], [1, 0.5, 0.25, 0.125])
  })

  it("a day ahead of today (an event a few minutes early) weighs as today", () => {
    assert.strictEqual(decay(-1), 1)
  })

  it("days a year old or more are outside the window", () => {
    assert.deepStrictEqual(engagementOf([{ ageDays: 365, events: 100 }], 365).decayedActiveDays, 0)
  })

  it("one event today: recency 1, frequency 1/3, intensity 1/6", () => {
    const engagement = engagementOf([{ ageDays: 0, events: 1 }], 0)
    assert.deepInclude(engagement, { recency: 1, frequency: 0.3333, intensity: 0.1667 })
    // 100 * (0.4 + 0.35 / 3 + 0.25 / 6) = 55.8
    assert.strictEqual(engagement.score, 56)
  })
})

describe("RFM", () => {
  it("a quintile score is one plus the breakpoints the value is above; ties score low", () => {
    const breakpoints = [1, 1, 2, 3]
    assert.deepStrictEqual([0, 1, 2, 3, 4].map((value) => quintileScore(value, breakpoints)), [1, 1, 3, 4, 5])
  })

  it("the R x F grid's corners", () => {
    assert.deepStrictEqual(
      [segmentOf(5, 5), segmentOf(5, 1), segmentOf(1, 5), segmentOf(1, 1), segmentOf(3, 3)],
      ["champions", "new", "cannot_lose", "hibernating", "need_attention"]
    )
  })
})

describe("purchase cadence", () => {
  const today = dayNumber("2026-03-15")
  const cadence = (days: ReadonlyArray<string>) =>
    patternsOf({
      today,
      lastActiveDay: null,
      hourly: [],
      channels: [],
      purchaseDays: days.map(dayNumber),
      recent: [],
      rfm: { status: "unavailable", reason: "no-purchases", detail: "" },
      clv: { status: "unavailable", reason: "no-purchases", detail: "" }
    }).purchaseCadence

  it("an even number of gaps: the median is the mean of the middle two, the next purchase rounded", () => {
    // Gaps 2, 5, 6, 20: mean 8.25, median 5.5; next = 2026-03-06 + 6.
    assert.deepInclude(cadence(["2026-02-01", "2026-02-03", "2026-02-08", "2026-02-14", "2026-03-06"]), {
      meanGapDays: 8.25,
      medianGapDays: 5.5,
      daysSinceLastPurchase: 9,
      expectedNextPurchaseOn: "2026-03-12"
    })
  })

  it("one purchase day: no gap, no expected next purchase", () => {
    assert.deepStrictEqual(cadence(["2026-03-01"]), {
      purchaseDays: 1,
      meanGapDays: null,
      medianGapDays: null,
      lastPurchaseOn: "2026-03-01",
      daysSinceLastPurchase: 14,
      expectedNextPurchaseOn: null
    })
  })
})
