/**
 * What the service derives from a customer's tracked behaviour: the figures
 * (GET /customers/:id/analytics) and what they suggest (GET
 * /customers/:id/insights). Formulas: docs/engagement.md and docs/insights.md.
 */
import { Schema } from "effect"
import { CustomerId, Timestamp } from "./Customer.ts"

/** A calendar day in UTC, as the rollups count them. */
export const Day = Schema.String.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}$/u)).annotate({
  identifier: "Day",
  format: "date",
  description: "A calendar day (UTC)"
})

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Money = Schema.Finite.annotate({ description: "An amount, to four decimal places" })
const Share = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))
const Score = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 5 }))

export const EventTypeCount = Schema.Struct({
  type: Schema.String,
  events: Count,
  lastOn: Day.annotate({ description: "The last day with an event of this type" })
}).annotate({ identifier: "EventTypeCount" })

export const ActivityWindow = Schema.Struct({
  days: Schema.Int.annotate({ description: "The window: today (UTC) and the days before it, this many in all" }),
  events: Count,
  activeDays: Count,
  revenue: Money.annotate({ description: "In the reporting currency" })
}).annotate({ identifier: "ActivityWindow" })

export const SessionSummary = Schema.Struct({
  count: Count,
  averageSeconds: Schema.Finite.annotate({
    description: "Mean time from a session's first to its last event; a one-event session lasts 0 s"
  }),
  averageEvents: Schema.Finite
}).annotate({ identifier: "SessionSummary", description: "Sessions: events that carried a session id" })

export const CurrencyTotal = Schema.Struct({
  currency: Schema.String,
  revenue: Money,
  events: Count
}).annotate({ identifier: "CurrencyTotal" })

export const RevenueSummary = Schema.Struct({
  reportingCurrency: Schema.String,
  total: Money.annotate({ description: "In the reporting currency (events sent without a currency count as it)" }),
  byCurrency: Schema.Array(CurrencyTotal).annotate({ description: "Every currency as sent, largest first" })
}).annotate({ identifier: "RevenueSummary" })

export const PurchaseSummary = Schema.Struct({
  purchaseDays: Count.annotate({ description: "Purchase occasions: days (UTC) with at least one purchase" }),
  firstPurchaseOn: Schema.NullOr(Day),
  lastPurchaseOn: Schema.NullOr(Day),
  repeatRevenue: Money.annotate({ description: "Revenue of every purchase day but the first" })
}).annotate({ identifier: "PurchaseSummary" })

export const RfmSegment = Schema.Literals([
  "champions",
  "loyal",
  "potential_loyalist",
  "new",
  "promising",
  "need_attention",
  "about_to_sleep",
  "at_risk",
  "cannot_lose",
  "hibernating"
]).annotate({ identifier: "RfmSegment", description: "From the recency and frequency scores (docs/engagement.md)" })
export type RfmSegment = typeof RfmSegment.Type

export const RfmScored = Schema.Struct({
  status: Schema.Literal("scored"),
  recency: Schema.Struct({ lastPurchaseOn: Day, days: Count, score: Score }),
  frequency: Schema.Struct({ purchaseDays: Count, score: Score }),
  monetary: Schema.Struct({ revenue: Money, score: Score }),
  segment: RfmSegment,
  rankedCustomers: Count.annotate({ description: "Customers with purchases the quintiles were computed over" }),
  breakpointsComputedAt: Timestamp
}).annotate({ identifier: "RfmScored", description: "Quintile scores 1 (lowest fifth) to 5 (highest fifth)" })

export const RfmUnavailable = Schema.Struct({
  status: Schema.Literal("unavailable"),
  reason: Schema.Literals(["no-purchases", "not-ranked-yet"]),
  detail: Schema.String
}).annotate({ identifier: "RfmUnavailable" })

export const Rfm = Schema.Union([RfmScored, RfmUnavailable]).annotate({ identifier: "Rfm" })
export type Rfm = typeof Rfm.Type

const Component = Share.annotate({ description: "0 to 1" })

export const Engagement = Schema.Struct({
  score: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 })),
  halfLifeDays: Schema.Int,
  recency: Component,
  frequency: Component,
  intensity: Component,
  daysSinceLastActive: Schema.NullOr(Count),
  decayedActiveDays: Schema.Finite,
  decayedEvents: Schema.Finite
}).annotate({
  identifier: "Engagement",
  description: "0-100 from recency, frequency and intensity with exponential decay (docs/engagement.md)"
})
export type Engagement = typeof Engagement.Type

export const ClvScored = Schema.Struct({
  status: Schema.Literal("scored"),
  probabilityAlive: Share,
  churnRisk: Share.annotate({ description: "1 - probabilityAlive" }),
  horizonDays: Schema.Int,
  expectedPurchases: Schema.Finite.annotate({ description: "Purchase days expected within the horizon" }),
  expectedAverageSpend: Money.annotate({ description: "Expected spend per purchase day (Gamma-Gamma)" }),
  lifetimeValue: Money.annotate({ description: "Expected revenue within the horizon, reporting currency" }),
  modelFittedAt: Timestamp
}).annotate({ identifier: "ClvScored", description: "BG/NBD and Gamma-Gamma, fitted over the customer base" })

export const ClvUnavailable = Schema.Struct({
  status: Schema.Literal("unavailable"),
  reason: Schema.Literals(["no-model-fitted", "no-purchases", "model-cannot-score"]),
  detail: Schema.String
}).annotate({ identifier: "ClvUnavailable" })

export const Clv = Schema.Union([ClvScored, ClvUnavailable]).annotate({ identifier: "Clv" })
export type Clv = typeof Clv.Type

export const CustomerAnalytics = Schema.Struct({
  customerId: CustomerId,
  asOf: Timestamp.annotate({ description: "The instant the figures are computed for" }),
  firstSeenAt: Schema.NullOr(Timestamp),
  lastSeenAt: Schema.NullOr(Timestamp),
  events: Schema.Struct({
    total: Count,
    activeDays: Count,
    byType: Schema.Array(EventTypeCount).annotate({ description: "Most frequent first" })
  }),
  windows: Schema.Array(ActivityWindow).annotate({ description: "The last 7, 30 and 90 days" }),
  sessions: SessionSummary,
  revenue: RevenueSummary,
  purchases: PurchaseSummary,
  rfm: Rfm,
  engagement: Engagement,
  clv: Clv
}).annotate({ identifier: "CustomerAnalytics" })
export type CustomerAnalytics = typeof CustomerAnalytics.Type

/** The figures an insight rests on, by name (docs/insights.md lists them). */
export const Figures = Schema.Record(Schema.String, Schema.NullOr(Schema.Union([Schema.Finite, Schema.String])))
  .annotate({ identifier: "Figures" })
export type Figures = typeof Figures.Type

export const HourPreference = Schema.Struct({
  hour: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 23 })).annotate({ description: "Hour of day, UTC" }),
  events: Count,
  share: Share
}).annotate({ identifier: "HourPreference" })
export type HourPreference = typeof HourPreference.Type

export const Weekday = Schema.Literals(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])
export type Weekday = typeof Weekday.Type

export const DayPreference = Schema.Struct({ day: Weekday, events: Count, share: Share })
  .annotate({ identifier: "DayPreference" })
export type DayPreference = typeof DayPreference.Type

export const ChannelUse = Schema.Struct({
  channel: Schema.String,
  events: Count,
  share: Share,
  lastSeenAt: Timestamp
}).annotate({ identifier: "ChannelUse" })
export type ChannelUse = typeof ChannelUse.Type

export const PurchaseCadence = Schema.Struct({
  purchaseDays: Count,
  meanGapDays: Schema.NullOr(Schema.Finite),
  medianGapDays: Schema.NullOr(Schema.Finite),
  lastPurchaseOn: Schema.NullOr(Day),
  daysSinceLastPurchase: Schema.NullOr(Count),
  expectedNextPurchaseOn: Schema.NullOr(Day.annotate({ description: "Last purchase day + median gap" }))
}).annotate({ identifier: "PurchaseCadence", description: "Gaps between consecutive purchase days" })
export type PurchaseCadence = typeof PurchaseCadence.Type

export const ActivityTrend = Schema.Struct({
  last30Days: Count,
  previous30Days: Count,
  changePercent: Schema.NullOr(Schema.Finite).annotate({ description: "Null when the previous 30 days had none" })
}).annotate({ identifier: "ActivityTrend", description: "Events in days 0-29 and 30-59 before today" })
export type ActivityTrend = typeof ActivityTrend.Type

export const BehaviourPatterns = Schema.Struct({
  preferredHours: Schema.Array(HourPreference).annotate({ description: "Up to three, busiest first" }),
  preferredDays: Schema.Array(DayPreference).annotate({ description: "Up to three, busiest first" }),
  channels: Schema.Array(ChannelUse).annotate({ description: "Every channel, busiest first" }),
  purchaseCadence: PurchaseCadence,
  activityTrend: ActivityTrend
}).annotate({ identifier: "BehaviourPatterns" })
export type BehaviourPatterns = typeof BehaviourPatterns.Type

export const RiskFactorCode = Schema.Literals([
  "overdue-purchase",
  "inactive",
  "declining-activity",
  "churn-risk",
  "recent-refunds",
  "support-contacts"
])
export type RiskFactorCode = typeof RiskFactorCode.Type

export const RiskFactor = Schema.Struct({
  code: RiskFactorCode,
  severity: Schema.Literals(["low", "medium", "high"]),
  reason: Schema.String,
  figures: Figures
}).annotate({ identifier: "RiskFactor" })
export type RiskFactor = typeof RiskFactor.Type

export const ActionCode = Schema.Literals([
  "win-back-offer",
  "re-engagement-campaign",
  "cart-recovery",
  "first-purchase-incentive",
  "replenishment-reminder",
  "loyalty-reward",
  "support-follow-up"
])
export type ActionCode = typeof ActionCode.Type

export const Recommendation = Schema.Struct({
  action: ActionCode,
  priority: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({ description: "1 first" }),
  reason: Schema.String,
  figures: Figures,
  timing: Schema.NullOr(Schema.Struct({
    channel: Schema.NullOr(Schema.String),
    hour: Schema.NullOr(Schema.Int),
    day: Schema.NullOr(Weekday)
  })).annotate({ description: "When and where the customer is most often active; null without activity" })
}).annotate({ identifier: "Recommendation" })
export type Recommendation = typeof Recommendation.Type

export const CustomerInsights = Schema.Struct({
  customerId: CustomerId,
  asOf: Timestamp,
  patterns: BehaviourPatterns,
  riskFactors: Schema.Array(RiskFactor).annotate({ description: "Most severe first" }),
  recommendations: Schema.Array(Recommendation).annotate({
    description: "In priority order; empty when withheld (`recommendationsWithheld` says why)"
  }),
  recommendationsWithheld: Schema.NullOr(Schema.Literal("personalisation-consent-withdrawn")).annotate({
    description: "Why `recommendations` is empty although the rules may have found actions: the customer withdrew " +
      "consent to personalisation, so no next-best action is derived for them (patterns and risk factors are " +
      "analytics, which they still allow); null when the recommendations are served"
  })
}).annotate({ identifier: "CustomerInsights" })
export type CustomerInsights = typeof CustomerInsights.Type
