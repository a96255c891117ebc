/**
 * Rollup rows written straight into the tables of migrations/0005 (and the
 * RFM breakpoints of 0008), so analytics can be checked against figures
 * computed by hand without going through ingestion. Each row is given as
 * the table holds it; columns with a default may be left out.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { AnalyticsRepo } from "../../src/analytics/AnalyticsRepo.ts"
import { ClvScorer } from "../../src/analytics/ClvScorer.ts"
import { CustomerAnalytics } from "../../src/analytics/CustomerAnalytics.ts"

export interface ActivityRow {
  readonly firstSeenAt: string
  readonly lastSeenAt: string
  readonly events: number
  readonly revenue?: number
  readonly purchaseDays?: number
  readonly firstPurchaseOn?: string
  readonly lastPurchaseOn?: string
  readonly repeatRevenue?: number
}

export interface DailyRow {
  readonly day: string
  readonly type: string
  readonly events: number
  readonly revenue?: number
}

export interface RevenueRow {
  readonly currency: string
  readonly revenue: number
  readonly events: number
}

export interface SessionRow {
  readonly sessionId: string
  readonly startedAt: string
  readonly endedAt: string
  readonly events: number
}

export interface HourlyRow {
  /** ISO day of week (Monday 0) * 24 + hour, UTC. */
  readonly hourOfWeek: number
  readonly events: number
}

export interface ChannelRow {
  readonly channel: string
  readonly events: number
  readonly lastSeenAt: string
}

/** One customer's rows in every rollup table; tables left out get none. */
export interface CustomerRollups {
  readonly activity?: ActivityRow
  readonly daily?: ReadonlyArray<DailyRow>
  readonly revenue?: ReadonlyArray<RevenueRow>
  readonly sessions?: ReadonlyArray<SessionRow>
  readonly hourly?: ReadonlyArray<HourlyRow>
  readonly channels?: ReadonlyArray<ChannelRow>
}

/** `Monday 20:00` and the like as hour_of_week. */
export const hourOfWeek = (
  day: "monday" | "tuesday" | "wednesday" | "thursday" | "friday" | "saturday" | "sunday",
  hour: number
) => ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].indexOf(day) * 24 + hour

/** Writes the customer's rollup rows, as the folder would have left them. */
export const seedRollups = (customerId: string, rollups: CustomerRollups) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const { activity } = rollups
    if (activity !== undefined) {
      yield* sql`INSERT INTO customer_activity (customer_id, first_seen_at, last_seen_at, events, revenue,
          purchase_days, first_purchase_on, last_purchase_on, repeat_revenue, folded_at)
        VALUES (${customerId}, ${activity.firstSeenAt}::timestamptz, ${activity.lastSeenAt}::timestamptz,
          ${activity.events}, ${activity.revenue ?? 0}, ${activity.purchaseDays ?? 0},
          ${activity.firstPurchaseOn ?? null}::date, ${activity.lastPurchaseOn ?? null}::date,
          ${activity.repeatRevenue ?? 0}, ${activity.lastSeenAt}::timestamptz)`
    }
    for (const row of rollups.daily ?? []) {
      yield* sql`INSERT INTO customer_daily_activity (customer_id, day, type, events, revenue)
        VALUES (${customerId}, ${row.day}::date, ${row.type}, ${row.events}, ${row.revenue ?? 0})`
    }
    for (const row of rollups.revenue ?? []) {
      yield* sql`INSERT INTO customer_revenue (customer_id, currency, revenue, events)
        VALUES (${customerId}, ${row.currency}, ${row.revenue}, ${row.events})`
    }
    for (const row of rollups.sessions ?? []) {
      yield* sql`INSERT INTO customer_sessions (customer_id, session_id, started_at, ended_at, events)
        VALUES (${customerId}, ${row.sessionId}, ${row.startedAt}::timestamptz, ${row.endedAt}::timestamptz,
          ${row.events})`
    }
    for (const row of rollups.hourly ?? []) {
      yield* sql`INSERT INTO customer_hourly_activity (customer_id, hour_of_week, events)
        VALUES (${customerId}, ${row.hourOfWeek}, ${row.events})`
    }
    for (const row of rollups.channels ?? []) {
      yield* sql`INSERT INTO customer_channel_activity (customer_id, channel, events, last_seen_at)
        VALUES (${customerId}, ${row.channel}, ${row.events}, ${row.lastSeenAt}::timestamptz)`
    }
    // The all-history totals the folder keeps alongside (per type, active days, sessions), derived from the rows
    // above as the folder would have summed them.
    yield* sql`INSERT INTO customer_type_activity (customer_id, type, events, revenue, last_on)
      SELECT customer_id, type, sum(events), sum(revenue), max(day) FROM customer_daily_activity
      WHERE customer_id = ${customerId} GROUP BY 1, 2`
    yield* sql`UPDATE customer_activity SET
        active_days = (SELECT count(DISTINCT day) FROM customer_daily_activity WHERE customer_id = ${customerId}),
        sessions = s.sessions, session_seconds = s.seconds, session_events = s.events
      FROM (SELECT count(*) AS sessions, coalesce(sum(extract(epoch FROM ended_at - started_at)), 0) AS seconds,
          coalesce(sum(events), 0) AS events
        FROM customer_sessions WHERE customer_id = ${customerId}) AS s
      WHERE customer_id = ${customerId}`
  }).pipe(Effect.orDie)

export interface Breakpoints {
  readonly customers: number
  readonly recency: readonly [string, string, string, string]
  readonly frequency: readonly [number, number, number, number]
  readonly monetary: readonly [number, number, number, number]
  readonly computedAt: string
}

/** Quintile breakpoints of a customer base of 250 buyers, as the background job would leave them on 2026-03-15. */
export const sampleBreakpoints: Breakpoints = {
  customers: 250,
  recency: ["2025-10-01", "2026-01-01", "2026-02-01", "2026-03-01"],
  frequency: [1, 1, 2, 3],
  monetary: [20, 40, 80, 150],
  computedAt: "2026-03-15T11:00:00.000Z"
}

/** Sets the RFM breakpoints row, as the job would have computed it. */
export const seedRfmBreakpoints = (breakpoints: Breakpoints) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql`INSERT INTO rfm_breakpoints (id, customers, recency, frequency, monetary, computed_at)
      VALUES (true, ${breakpoints.customers}, ${breakpoints.recency}::date[], ${breakpoints.frequency}::int[],
        ${breakpoints.monetary}::numeric[], ${breakpoints.computedAt}::timestamptz)
      ON CONFLICT (id) DO UPDATE SET customers = excluded.customers, recency = excluded.recency,
        frequency = excluded.frequency, monetary = excluded.monetary, computed_at = excluded.computed_at`.pipe(
      Effect.orDie
    ))

/**
 * Runs `use` with the analytics service alone on the test's database, its "now" a TestClock's at `now`
 * (epoch milliseconds). Fresh: the running service's instance, memoised under the same layer, has the
 * scorer the service was built with.
 */
export const atTime = <A, E>(
  now: number,
  use: (service: CustomerAnalytics["Service"]) => Effect.Effect<A, E>,
  scorer: Layer.Layer<ClvScorer> = ClvScorer.noModel
) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(now)
    return yield* use(yield* CustomerAnalytics)
  }).pipe(
    Effect.provide(Layer.fresh(CustomerAnalytics.layer).pipe(Layer.provide(Layer.mergeAll(AnalyticsRepo.layer, scorer)))),
    Effect.provide(TestClock.layer())
  )
