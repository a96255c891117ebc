/**
 * Insights from a customer's rollups: behaviour patterns, risk factors and
 * next-best actions, each carrying its reason and the figures behind it.
 * Pure: the rules and thresholds are documented in docs/insights.md.
 */
import type {
  ActivityTrend,
  BehaviourPatterns,
  ChannelUse,
  Clv,
  DayPreference,
  HourPreference,
  PurchaseCadence,
  Recommendation,
  Rfm,
  RiskFactor,
  Weekday
} from "../domain/Analytics.ts"
import { dayText } from "./Days.ts"

export interface InsightInput {
  /** Today's day number (UTC). */
  readonly today: number
  /** The day of the customer's last event, null without events. */
  readonly lastActiveDay: number | null
  /** Events per hour of the week (ISO weekday, Monday 0, x 24 + hour, UTC). */
  readonly hourly: ReadonlyArray<{ readonly hourOfWeek: number; readonly events: number }>
  readonly channels: ReadonlyArray<{ readonly channel: string; readonly events: number; readonly lastSeenAt: string }>
  /** Every purchase day, ascending. */
  readonly purchaseDays: ReadonlyArray<number>
  /** Events per day and type over the last 90 days (ageDays 0-89). */
  readonly recent: ReadonlyArray<{ readonly ageDays: number; readonly type: string; readonly events: number }>
  readonly rfm: Rfm
  readonly clv: Clv
}

export interface Insights {
  readonly patterns: BehaviourPatterns
  readonly riskFactors: ReadonlyArray<RiskFactor>
  readonly recommendations: ReadonlyArray<Recommendation>
}

const weekdays: ReadonlyArray<Weekday> = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

const round2 = (x: number) => Math.round(x * 100) / 100
const round4 = (x: number) => Math.round(x * 10_000) / 10_000

/** The three busiest keys, ties broken by the smaller key, with their share of all events. */
const busiest = (totals: ReadonlyArray<number>) => {
  const all = totals.reduce((sum, events) => sum + events, 0)
  return totals
    .map((events, key) => ({ key, events }))
    .filter((entry) => entry.events > 0)
    .sort((a, b) => b.events - a.events || a.key - b.key)
    .slice(0, 3)
    .map((entry) => ({ ...entry, share: round4(entry.events / all) }))
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

const cadenceOf = (purchaseDays: ReadonlyArray<number>, today: number): PurchaseCadence => {
  const gaps = purchaseDays.slice(1).map((day, n) => day - purchaseDays[n])
  const last = purchaseDays.at(-1)
  const medianGap = gaps.length === 0 ? null : median(gaps)
  return {
    purchaseDays: purchaseDays.length,
    meanGapDays: gaps.length === 0 ? null : round2(gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length),
    medianGapDays: medianGap,
    lastPurchaseOn: last === undefined ? null : dayText(last),
    daysSinceLastPurchase: last === undefined ? null : Math.max(0, today - last),
    expectedNextPurchaseOn: last === undefined || medianGap === null ? null : dayText(last + Math.round(medianGap))
  }
}

const eventsWithin = (input: InsightInput, from: number, to: number, types?: ReadonlyArray<string>) =>
  input.recent.reduce(
    (sum, row) =>
      row.ageDays >= from && row.ageDays <= to && (types === undefined || types.includes(row.type))
        ? sum + row.events
        : sum,
    0
  )

const trendOf = (input: InsightInput): ActivityTrend => {
  const last30Days = eventsWithin(input, 0, 29)
  const previous30Days = eventsWithin(input, 30, 59)
  return {
    last30Days,
    previous30Days,
    changePercent: previous30Days === 0 ? null : round2(100 * (last30Days - previous30Days) / previous30Days)
  }
}

export const patternsOf = (input: InsightInput): BehaviourPatterns => {
  const byHour = new Array<number>(24).fill(0)
  const byWeekday = new Array<number>(7).fill(0)
  for (const { hourOfWeek, events } of input.hourly) {
    byHour[hourOfWeek % 24] += events
    byWeekday[Math.floor(hourOfWeek / 24)] += events
  }
  const channelEvents = input.channels.reduce((sum, channel) => sum + channel.events, 0)
  const channels: Array<ChannelUse> = [...input.channels]
    .sort((a, b) => b.events - a.events || a.channel.localeCompare(b.channel))
    .map((channel) => ({ ...channel, share: round4(channel.events / channelEvents) }))
  return {
    preferredHours: busiest(byHour).map(({ key, events, share }): HourPreference => ({ hour: key, events, share })),
    preferredDays: busiest(byWeekday).map(({ key, events, share }): DayPreference => ({
      day: weekdays[key],
      events,
      share
    })),
    channels,
    purchaseCadence: cadenceOf(input.purchaseDays, input.today),
    activityTrend: trendOf(input)
  }
}

const severityRank = { high: 0, medium: 1, low: 2 } as const

const riskFactorsOf = (input: InsightInput, patterns: BehaviourPatterns): Array<RiskFactor> => {
  const risks: Array<RiskFactor> = []
  const cadence = patterns.purchaseCadence
  if (cadence.medianGapDays !== null && cadence.medianGapDays > 0 && cadence.daysSinceLastPurchase !== null) {
    const ratio = cadence.daysSinceLastPurchase / cadence.medianGapDays
    if (ratio >= 2) {
      risks.push({
        code: "overdue-purchase",
        severity: ratio >= 4 ? "high" : "medium",
        reason: `No purchase for ${cadence.daysSinceLastPurchase} days, ${round2(ratio)} times the customer's ` +
          `usual ${cadence.medianGapDays} days between purchases`,
        figures: {
          daysSinceLastPurchase: cadence.daysSinceLastPurchase,
          medianGapDays: cadence.medianGapDays,
          meanGapDays: cadence.meanGapDays,
          ratio: round2(ratio)
        }
      })
    }
  }
  const inactiveDays = input.lastActiveDay === null ? null : Math.max(0, input.today - input.lastActiveDay)
  if (inactiveDays !== null && inactiveDays >= 30) {
    risks.push({
      code: "inactive",
      severity: inactiveDays >= 90 ? "high" : "medium",
      reason: `No activity for ${inactiveDays} days`,
      figures: { daysSinceLastActive: inactiveDays, lastActiveOn: dayText(input.lastActiveDay!) }
    })
  }
  const trend = patterns.activityTrend
  // Still active, but at half the rate or less: a fall to nothing is "inactive" instead.
  if (trend.previous30Days >= 5 && trend.last30Days > 0 && trend.last30Days <= trend.previous30Days / 2) {
    risks.push({
      code: "declining-activity",
      severity: trend.last30Days <= trend.previous30Days / 4 ? "high" : "medium",
      reason: `${trend.last30Days} events in the last 30 days against ${trend.previous30Days} in the 30 before`,
      figures: { ...trend }
    })
  }
  if (input.clv.status === "scored" && input.clv.churnRisk >= 0.5) {
    risks.push({
      code: "churn-risk",
      severity: input.clv.churnRisk >= 0.8 ? "high" : "medium",
      reason: `The CLV model puts the chance this customer has stopped buying at ${
        Math.round(input.clv.churnRisk * 100)
      } %`,
      figures: { churnRisk: input.clv.churnRisk, probabilityAlive: input.clv.probabilityAlive }
    })
  }
  const refunds = eventsWithin(input, 0, 89, ["refund"])
  if (refunds > 0) {
    const purchases = eventsWithin(input, 0, 89, ["purchase"])
    risks.push({
      code: "recent-refunds",
      severity: purchases > 0 && refunds / purchases >= 0.5 ? "medium" : "low",
      reason: `${refunds} refund(s) against ${purchases} purchase(s) in the last 90 days`,
      figures: { refunds90Days: refunds, purchases90Days: purchases }
    })
  }
  const tickets = eventsWithin(input, 0, 29, ["support_ticket"])
  if (tickets > 0) {
    risks.push({
      code: "support-contacts",
      severity: tickets >= 2 ? "medium" : "low",
      reason: `${tickets} support ticket(s) in the last 30 days`,
      figures: { supportTickets30Days: tickets }
    })
  }
  return risks.sort((a, b) => severityRank[a.severity] - severityRank[b.severity])
}

type Draft = Omit<Recommendation, "priority" | "timing">

const recommendationsOf = (
  input: InsightInput,
  patterns: BehaviourPatterns,
  risks: ReadonlyArray<RiskFactor>
): Array<Recommendation> => {
  const drafts: Array<Draft> = []
  const risk = (code: RiskFactor["code"]) => risks.find((factor) => factor.code === code)
  const cadence = patterns.purchaseCadence
  const hasPurchased = cadence.purchaseDays > 0

  const support = risk("support-contacts")
  if (support !== undefined && support.severity !== "low") {
    drafts.push({
      action: "support-follow-up",
      reason: "Repeated support contacts: make sure the issue is resolved before any marketing",
      figures: support.figures
    })
  }
  const lapsing = risk("churn-risk") ?? risk("overdue-purchase") ?? risk("inactive")
  if (hasPurchased && lapsing !== undefined) {
    drafts.push({
      action: "win-back-offer",
      reason: `A buyer who is lapsing: ${lapsing.reason}`,
      figures: { ...lapsing.figures, purchaseDays: cadence.purchaseDays }
    })
  }
  const declining = risk("declining-activity")
  const inactive = risk("inactive")
  if (declining !== undefined || (!hasPurchased && inactive !== undefined)) {
    const basis = (declining ?? inactive)!
    drafts.push({
      action: "re-engagement-campaign",
      reason: `Engagement is falling: ${basis.reason}`,
      figures: basis.figures
    })
  }
  // A cart or checkout in the last 7 days, and no purchase on or after it.
  const cartAges = input.recent
    .filter((row) => row.ageDays <= 6 && (row.type === "add_to_cart" || row.type === "checkout_started"))
    .map((row) => row.ageDays)
  const lastCartAge = cartAges.length === 0 ? null : Math.min(...cartAges)
  if (
    lastCartAge !== null &&
    (cadence.daysSinceLastPurchase === null || cadence.daysSinceLastPurchase > lastCartAge)
  ) {
    drafts.push({
      action: "cart-recovery",
      reason: `Added to cart ${lastCartAge === 0 ? "today" : `${lastCartAge} day(s) ago`} without buying since`,
      figures: {
        cartEvents7Days: eventsWithin(input, 0, 6, ["add_to_cart", "checkout_started"]),
        daysSinceCart: lastCartAge,
        daysSinceLastPurchase: cadence.daysSinceLastPurchase
      }
    })
  }
  const recentEvents = patterns.activityTrend.last30Days
  if (!hasPurchased && recentEvents >= 3) {
    drafts.push({
      action: "first-purchase-incentive",
      reason: `Active (${recentEvents} events in the last 30 days) but has never bought`,
      figures: { last30Days: recentEvents }
    })
  }
  // A regular buyer (at least two gaps to learn from) whose next purchase is due within a week either way.
  if (
    cadence.purchaseDays >= 3 && cadence.expectedNextPurchaseOn !== null && cadence.medianGapDays !== null &&
    cadence.daysSinceLastPurchase !== null && risk("overdue-purchase") === undefined
  ) {
    const dueInDays = Math.round(cadence.medianGapDays) - cadence.daysSinceLastPurchase
    if (Math.abs(dueInDays) <= 7) {
      drafts.push({
        action: "replenishment-reminder",
        reason: `Buys every ${cadence.medianGapDays} days (median); the next purchase is due ${
          dueInDays === 0 ? "today" : dueInDays > 0 ? `in ${dueInDays} day(s)` : `since ${-dueInDays} day(s)`
        }`,
        figures: {
          medianGapDays: cadence.medianGapDays,
          daysSinceLastPurchase: cadence.daysSinceLastPurchase,
          expectedNextPurchaseOn: cadence.expectedNextPurchaseOn
        }
      })
    }
  }
  if (input.rfm.status === "scored" && (input.rfm.segment === "champions" || input.rfm.segment === "loyal")) {
    drafts.push({
      action: "loyalty-reward",
      reason: `RFM segment ${input.rfm.segment}: reward and ask for referrals rather than discount`,
      figures: {
        segment: input.rfm.segment,
        recencyScore: input.rfm.recency.score,
        frequencyScore: input.rfm.frequency.score,
        monetaryScore: input.rfm.monetary.score
      }
    })
  }

  const timing = input.lastActiveDay === null ? null : {
    channel: patterns.channels[0]?.channel ?? null,
    hour: patterns.preferredHours[0]?.hour ?? null,
    day: patterns.preferredDays[0]?.day ?? null
  }
  return drafts.map((draft, n) => ({ ...draft, priority: n + 1, timing }))
}

/**
 * `personalisation`: whether the customer allows it. Next-best actions are personalisation (what to offer this
 * person, when and where to reach them), so without it none is derived; patterns and risks are analytics.
 */
export const insightsOf = (input: InsightInput, personalisation: boolean): Insights => {
  const patterns = patternsOf(input)
  const riskFactors = riskFactorsOf(input, patterns)
  return {
    patterns,
    riskFactors,
    recommendations: personalisation ? recommendationsOf(input, patterns, riskFactors) : []
  }
}
