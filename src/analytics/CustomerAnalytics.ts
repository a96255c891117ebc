/**
 * A customer's analytics and insights, computed per request from its rollup
 * rows as of the Clock's now; the CLV prediction comes from the ClvScorer.
 */
import { Clock, Config, Context, Effect, Layer } from "effect"
import type { Clv, CustomerAnalytics as Analytics, CustomerInsights } from "../domain/Analytics.ts"
import type { CustomerId } from "../domain/Customer.ts"
import { AnalyticsConsentWithdrawn, CustomerNotFound } from "../domain/Errors.ts"
import { ConsentRepo } from "../privacy/ConsentRepo.ts"
import { type ActivityTotals, AnalyticsRepo } from "./AnalyticsRepo.ts"
import { ClvScorer } from "./ClvScorer.ts"
import { dayNumber, dayOfInstant } from "./Days.ts"
import { engagementOf } from "./Engagement.ts"
import { insightsOf } from "./Insights.ts"
import { rfmOf } from "./Rfm.ts"

/** The windows `windows` reports, in days ending today. */
const windows = [7, 30, 90] as const

const round4 = (x: number) => Math.round(x * 10_000) / 10_000

export class CustomerAnalytics extends Context.Service<CustomerAnalytics, {
  analytics(id: CustomerId): Effect.Effect<Analytics, CustomerNotFound | AnalyticsConsentWithdrawn>
  insights(id: CustomerId): Effect.Effect<CustomerInsights, CustomerNotFound | AnalyticsConsentWithdrawn>
}>()("cms/analytics/CustomerAnalytics") {
  static readonly layer = Layer.effect(
    CustomerAnalytics,
    Effect.gen(function*() {
      const repo = yield* AnalyticsRepo
      const scorer = yield* ClvScorer
      const consents = yield* ConsentRepo

      /**
       * No profiling of someone who withdrew consent to analytics: their rollups were deleted with the
       * withdrawal, and figures of nothing would read as "inactive", itself a judgement about them.
       */
      const notWithdrawn = (id: CustomerId) =>
        Effect.flatMap(consents.analyticsWithdrawn(id), (withdrawn) =>
          withdrawn ? Effect.fail(new AnalyticsConsentWithdrawn({ customerId: id })) : Effect.void)

      /**
       * The consent insights answer to, in one read: analytics withdrawn refuses them all (as above); personalisation
       * withdrawn withholds the next-best actions, which are personalisation (what to offer this person, and when
       * and where to reach them), while the patterns and risk factors stay (analytics, still allowed).
       */
      const insightConsent = (id: CustomerId) =>
        Effect.flatMap(consents.withdrawnOf(id, ["analytics", "personalisation"]), (withdrawn) =>
          withdrawn.has("analytics")
            ? Effect.fail(new AnalyticsConsentWithdrawn({ customerId: id }))
            : Effect.succeed({ personalisation: !withdrawn.has("personalisation") }))
      // Must name the currency the rollup folder sums customer_activity.revenue in.
      const reportingCurrency = yield* Config.String("REPORTING_CURRENCY").pipe(Config.withDefault("USD"))

      const clvOf = (activity: ActivityTotals | null, today: number): Effect.Effect<Clv> => {
        if (activity === null || activity.firstPurchaseOn === null || activity.lastPurchaseOn === null) {
          return Effect.succeed({
            status: "unavailable",
            reason: "no-purchases",
            detail: "Lifetime value is predicted for customers with at least one purchase"
          })
        }
        const first = dayNumber(activity.firstPurchaseOn)
        const x = activity.purchaseDays - 1
        return scorer.score({
          x,
          tx: dayNumber(activity.lastPurchaseOn) - first,
          T: Math.max(0, today - first),
          meanRepeatSpend: x > 0 ? activity.repeatRevenue / x : null
        })
      }

      const purchaseTotals = (activity: ActivityTotals | null) => ({
        purchaseDays: activity?.purchaseDays ?? 0,
        lastPurchaseOn: activity?.lastPurchaseOn ?? null,
        revenue: activity?.revenue ?? 0
      })

      const now = Effect.map(Clock.currentTimeMillis, (millis) => ({
        asOf: new Date(millis).toISOString(),
        today: dayOfInstant(millis)
      }))

      const analytics = Effect.fn("CustomerAnalytics.analytics")(function*(id: CustomerId) {
        const { asOf, today } = yield* now
        const rows = yield* repo.analytics(id, today)
        if (rows === undefined) return yield* new CustomerNotFound({ customerId: id })
        yield* notWithdrawn(id)
        const { activity } = rows
        const lastActiveDay = activity === null ? null : dayOfInstant(Date.parse(activity.lastSeenAt))
        return {
          customerId: id,
          asOf,
          firstSeenAt: activity?.firstSeenAt ?? null,
          lastSeenAt: activity?.lastSeenAt ?? null,
          events: { total: activity?.events ?? 0, activeDays: rows.activeDays, byType: rows.byType },
          windows: windows.map((days) => {
            const within = rows.days.filter((day) => day.ageDays < days)
            return {
              days,
              events: within.reduce((sum, day) => sum + day.events, 0),
              activeDays: within.filter((day) => day.events > 0).length,
              revenue: round4(within.reduce((sum, day) => sum + day.revenue, 0))
            }
          }),
          sessions: {
            count: rows.sessions.count,
            averageSeconds: rows.sessions.count === 0 ? 0 : round4(rows.sessions.seconds / rows.sessions.count),
            averageEvents: rows.sessions.count === 0 ? 0 : round4(rows.sessions.events / rows.sessions.count)
          },
          revenue: { reportingCurrency, total: activity?.revenue ?? 0, byCurrency: rows.currencies },
          purchases: {
            purchaseDays: activity?.purchaseDays ?? 0,
            firstPurchaseOn: activity?.firstPurchaseOn ?? null,
            lastPurchaseOn: activity?.lastPurchaseOn ?? null,
            repeatRevenue: activity?.repeatRevenue ?? 0
          },
          rfm: rfmOf(purchaseTotals(activity), rows.breakpoints, today),
          engagement: engagementOf(rows.days, lastActiveDay === null ? null : Math.max(0, today - lastActiveDay)),
          clv: yield* clvOf(activity, today)
        } satisfies Analytics
      })

      const insights = Effect.fn("CustomerAnalytics.insights")(function*(id: CustomerId) {
        const { asOf, today } = yield* now
        const rows = yield* repo.insights(id, today)
        if (rows === undefined) return yield* new CustomerNotFound({ customerId: id })
        const { personalisation } = yield* insightConsent(id)
        const { activity } = rows
        const insights = insightsOf({
          today,
          lastActiveDay: activity === null ? null : dayOfInstant(Date.parse(activity.lastSeenAt)),
          hourly: rows.hourly,
          channels: rows.channels,
          purchaseDays: rows.purchaseDays.map(dayNumber),
          // An event a few minutes ahead of the clock may fall on tomorrow: it counts as today's.
          recent: rows.recent.map((row) => ({ ...row, ageDays: Math.max(0, row.ageDays) })),
          rfm: rfmOf(purchaseTotals(activity), rows.breakpoints, today),
          clv: yield* clvOf(activity, today)
        }, personalisation)
        return {
          customerId: id,
          asOf,
          ...insights,
          recommendationsWithheld: personalisation ? null : "personalisation-consent-withdrawn"
        } satisfies CustomerInsights
      })

      return CustomerAnalytics.of({ analytics, insights })
    })
  )
}
