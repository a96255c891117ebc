/**
 * One customer's rollup rows (migrations/0005), read in one statement per
 * answer: a few rows per customer and day and type, however many events it
 * has, all from one snapshot.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer } from "effect"
import type { CustomerId } from "../domain/Customer.ts"
import { dayText } from "./Days.ts"
import { windowDays } from "./Engagement.ts"
import type { RfmBreakpoints } from "./Rfm.ts"

/** customer_activity, as the models and scores read it; null for a customer without events. */
export interface ActivityTotals {
  readonly firstSeenAt: string
  readonly lastSeenAt: string
  readonly events: number
  readonly revenue: number
  readonly purchaseDays: number
  readonly firstPurchaseOn: string | null
  readonly lastPurchaseOn: string | null
  readonly repeatRevenue: number
}

interface Common {
  readonly activity: ActivityTotals | null
  readonly breakpoints: RfmBreakpoints | null
}

export interface AnalyticsRows extends Common {
  readonly byType: ReadonlyArray<{ readonly type: string; readonly events: number; readonly lastOn: string }>
  readonly activeDays: number
  /** Events and revenue per day over the engagement window, by age in days (0 = today). */
  readonly days: ReadonlyArray<{ readonly ageDays: number; readonly events: number; readonly revenue: number }>
  readonly sessions: { readonly count: number; readonly seconds: number; readonly events: number }
  readonly currencies: ReadonlyArray<{ readonly currency: string; readonly revenue: number; readonly events: number }>
}

export interface InsightRows extends Common {
  readonly hourly: ReadonlyArray<{ readonly hourOfWeek: number; readonly events: number }>
  readonly channels: ReadonlyArray<{ readonly channel: string; readonly events: number; readonly lastSeenAt: string }>
  readonly purchaseDays: ReadonlyArray<string>
  readonly recent: ReadonlyArray<{ readonly ageDays: number; readonly type: string; readonly events: number }>
}

interface CommonRow {
  readonly status: string
  readonly activity: ActivityTotals | null
  readonly breakpoints: RfmBreakpoints | null
}

type AnalyticsRow = CommonRow & Omit<AnalyticsRows, keyof Common>
type InsightRow = CommonRow & Omit<InsightRows, keyof Common>

/** Days of recent history the insights read, per day and type. */
export const insightDays = 90

export class AnalyticsRepo extends Context.Service<AnalyticsRepo, {
  /** None for an unknown or erased customer. */
  analytics(id: CustomerId, today: number): Effect.Effect<AnalyticsRows | undefined>
  insights(id: CustomerId, today: number): Effect.Effect<InsightRows | undefined>
}>()("cms/analytics/AnalyticsRepo") {
  static readonly layer = Layer.effect(
    AnalyticsRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      // Instants as UTC text inside JSON, whatever the session's time zone.
      const utc = (column: string) =>
        sql.literal(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`)

      const common = sql`c.status,
        (SELECT json_build_object(
            'firstSeenAt', ${utc("a.first_seen_at")}, 'lastSeenAt', ${utc("a.last_seen_at")},
            'events', a.events::float8, 'revenue', a.revenue::float8, 'purchaseDays', a.purchase_days,
            'firstPurchaseOn', to_char(a.first_purchase_on, 'YYYY-MM-DD'),
            'lastPurchaseOn', to_char(a.last_purchase_on, 'YYYY-MM-DD'),
            'repeatRevenue', a.repeat_revenue::float8)
          FROM customer_activity a WHERE a.customer_id = c.id) AS activity,
        (SELECT json_build_object('customers', b.customers::float8,
            'recency', (SELECT json_agg(to_char(d, 'YYYY-MM-DD')) FROM unnest(b.recency) d),
            'frequency', b.frequency, 'monetary', b.monetary::float8[],
            'computedAt', ${utc("b.computed_at")})
          FROM rfm_breakpoints b) AS breakpoints`

      const found = <Row extends CommonRow>(rows: ReadonlyArray<Row>) =>
        rows.length === 0 || rows[0].status === "DELETED" ? undefined : rows[0]

      const analytics = Effect.fn("AnalyticsRepo.analytics")(function*(id: CustomerId, today: number) {
        const todayText = dayText(today)
        // All-history figures come from rows the folder keeps as totals (a row per type, and customer_activity);
        // only the engagement window's daily rows are read: the cost does not grow with the customer's history.
        const rows = yield* sql<AnalyticsRow>`SELECT ${common},
          (SELECT coalesce(json_agg(json_build_object('type', type, 'events', events::float8,
              'lastOn', to_char(last_on, 'YYYY-MM-DD')) ORDER BY events DESC, type), '[]')
            FROM customer_type_activity WHERE customer_id = c.id) AS "byType",
          coalesce((SELECT active_days FROM customer_activity WHERE customer_id = c.id), 0) AS "activeDays",
          (SELECT coalesce(json_agg(json_build_object('ageDays', ${todayText}::date - day, 'events', events::float8,
              'revenue', revenue::float8)), '[]')
            FROM (SELECT day, sum(events) AS events, sum(revenue) AS revenue FROM customer_daily_activity
              WHERE customer_id = c.id AND day > ${todayText}::date - ${windowDays}::int GROUP BY day) AS per_day)
            AS days,
          coalesce(
            (SELECT json_build_object('count', sessions::float8, 'seconds', session_seconds::float8,
                'events', session_events::float8)
              FROM customer_activity WHERE customer_id = c.id),
            json_build_object('count', 0, 'seconds', 0, 'events', 0)) AS sessions,
          (SELECT coalesce(json_agg(json_build_object('currency', currency, 'revenue', revenue::float8,
              'events', events::float8) ORDER BY revenue DESC, currency), '[]')
            FROM customer_revenue WHERE customer_id = c.id) AS currencies
          FROM customers c WHERE c.id = ${id}`.pipe(Effect.orDie)
        return found(rows)
      })

      const insights = Effect.fn("AnalyticsRepo.insights")(function*(id: CustomerId, today: number) {
        const todayText = dayText(today)
        const rows = yield* sql<InsightRow>`SELECT ${common},
          (SELECT coalesce(json_agg(json_build_object('hourOfWeek', hour_of_week, 'events', events)), '[]')
            FROM customer_hourly_activity WHERE customer_id = c.id) AS hourly,
          (SELECT coalesce(json_agg(json_build_object('channel', channel, 'events', events,
              'lastSeenAt', ${utc("last_seen_at")})), '[]')
            FROM customer_channel_activity WHERE customer_id = c.id) AS channels,
          (SELECT coalesce(json_agg(to_char(day, 'YYYY-MM-DD') ORDER BY day), '[]')
            FROM customer_daily_activity WHERE customer_id = c.id AND type = 'purchase' AND events > 0)
            AS "purchaseDays",
          (SELECT coalesce(json_agg(json_build_object('ageDays', ${todayText}::date - day, 'type', type,
              'events', events)), '[]')
            FROM customer_daily_activity
            WHERE customer_id = c.id AND day > ${todayText}::date - ${insightDays}::int) AS recent
          FROM customers c WHERE c.id = ${id}`.pipe(Effect.orDie)
        return found(rows)
      })

      return AnalyticsRepo.of({ analytics, insights })
    })
  )
}
