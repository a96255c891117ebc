/**
 * Fleet reports from the rollups: fleet_activity and cohort_activity hold the
 * event side per period. New customers and cohort sizes come from
 * customer_signups (customers created per UTC day, kept by SignupCountsLive)
 * for every day but the last it recorded, and from customers.created_at for
 * the days since (a short index range scan): a report reads a few hundred
 * rows whatever the number of customers.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Config, Context, Duration, Effect, Layer } from "effect"
import { repeatLoggingFailures } from "../platform/BackgroundWork.ts"
import type {
  Cohort,
  CohortMonth,
  CohortReport,
  CohortReportQuery,
  FleetReport,
  FleetReportQuery,
  ReportPeriod
} from "../domain/FleetReport.ts"
import { reportingCurrency } from "./ReportingCurrency.ts"

const dayMillis = 86_400_000

const isoDate = (millis: number) => new Date(millis).toISOString().slice(0, 10)

/** The first day of the period `date` (YYYY-MM-DD, UTC) falls in. */
export const periodStart = (date: string, period: ReportPeriod): string => {
  const day = new Date(`${date}T00:00:00Z`)
  if (period === "month") return isoDate(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), 1))
  if (period === "week") return isoDate(day.getTime() - ((day.getUTCDay() + 6) % 7) * dayMillis)
  return date
}

/** The first day of the period `n` periods after the one starting on `start`. */
export const addPeriods = (start: string, period: ReportPeriod, n: number): string => {
  const day = new Date(`${start}T00:00:00Z`)
  if (period === "month") return isoDate(Date.UTC(day.getUTCFullYear(), day.getUTCMonth() + n, 1))
  return isoDate(day.getTime() + n * (period === "week" ? 7 : 1) * dayMillis)
}

/** How far back a report goes when it names no `from`: 30 days, 12 weeks, 12 months, in whole periods. */
const defaultLength: Record<ReportPeriod, number> = { day: 30, week: 12, month: 12 }

const utcMidnight = (date: string) => `${date}T00:00:00Z`

/** The last day customer_signups recorded (maybe partly): its count and later ones are counted live. */
const countedLive = "(SELECT coalesce(max(day), '-infinity') FROM customer_signups)"

/**
 * Keeps customer_signups up to date: recounts from the day before the last one recorded (a customer created a
 * moment late by another process's clock is still counted), the whole history the first time.
 */
export const SignupCountsLive = Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const interval = yield* Config.Duration("SIGNUP_COUNTS_INTERVAL").pipe(Config.withDefault(Duration.minutes(1)))
  const refresh = Effect.fn("FleetReports.refreshSignups")(function*() {
    yield* sql`INSERT INTO customer_signups AS s (day, customers)
      SELECT (created_at AT TIME ZONE 'UTC')::date, count(*) FROM customers
      WHERE created_at >= (SELECT coalesce(max(day) - 1, '-infinity')::timestamp AT TIME ZONE 'UTC' FROM customer_signups)
      GROUP BY 1 ORDER BY 1
      ON CONFLICT (day) DO UPDATE SET customers = EXCLUDED.customers`
  })
  yield* Effect.forkScoped(repeatLoggingFailures("fleet reports: signup count failed", interval, refresh()))
}))

export class FleetReports extends Context.Service<FleetReports, {
  fleet(query: FleetReportQuery): Effect.Effect<FleetReport>
  cohorts(query: CohortReportQuery): Effect.Effect<CohortReport>
}>()("cms/events/FleetReports") {
  static readonly layer = Layer.effect(
    FleetReports,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const currency = yield* reportingCurrency
      const today = Effect.map(Clock.currentTimeMillis, isoDate)

      /** Customers created per UTC day from `first` up to (not including) `end`. */
      const signupsPerDay = (first: string, end: string) =>
        sql`SELECT day, customers FROM customer_signups
          WHERE day >= ${first}::date AND day < ${end}::date AND day < ${sql.literal(countedLive)}
          UNION ALL
          SELECT (created_at AT TIME ZONE 'UTC')::date, count(*) FROM customers
          WHERE created_at >= greatest(${first}::date, ${sql.literal(countedLive)})::timestamp AT TIME ZONE 'UTC'
            AND created_at < ${utcMidnight(end)}::timestamptz
          GROUP BY 1`

      /** The window's first and last period starts, and the day after its last period. */
      const windowOf = (period: ReportPeriod, from: string | undefined, to: string) => {
        const last = periodStart(to, period)
        const first = from === undefined ? addPeriods(last, period, 1 - defaultLength[period]) : periodStart(from, period)
        return { first, last, end: addPeriods(last, period, 1) }
      }

      const fleet = Effect.fn("FleetReports.fleet")(function*(query: FleetReportQuery) {
        const period = query.period ?? "day"
        const { end, first, last } = windowOf(period, query.from, query.to ?? (yield* today))
        const rows = yield* sql<{
          readonly periodStart: string
          readonly newCustomers: number
          readonly activeCustomers: number
          readonly events: number
          readonly revenue: number
        }>`WITH periods AS (
            SELECT generate_series(${first}::date, ${last}::date, ${`1 ${period}`}::interval)::date AS period_start
          ),
          signups AS (
            SELECT date_trunc(${period}, day)::date AS period_start, sum(customers) AS customers
            FROM (${signupsPerDay(first, end)}) AS daily GROUP BY 1
          )
          SELECT p.period_start::text AS "periodStart", coalesce(s.customers, 0)::float8 AS "newCustomers",
            coalesce(f.active_customers, 0)::float8 AS "activeCustomers", coalesce(f.events, 0)::float8 AS events,
            coalesce(f.revenue, 0)::float8 AS revenue
          FROM periods AS p
          LEFT JOIN signups AS s USING (period_start)
          LEFT JOIN fleet_activity AS f ON f.period = ${period} AND f.period_start = p.period_start
          ORDER BY p.period_start`.pipe(Effect.orDie)
        return { period, from: first, to: isoDate(Date.parse(end) - dayMillis), currency, periods: rows }
      })

      const cohorts = Effect.fn("FleetReports.cohorts")(function*(query: CohortReportQuery) {
        const now = yield* today
        const { end, first, last } = windowOf("month", query.from, query.to ?? now)
        const rows = yield* sql<{
          readonly cohortMonth: string
          readonly customers: number
          readonly month: string | null
          readonly activeCustomers: number | null
        }>`WITH sizes AS (
            SELECT date_trunc('month', day)::date AS cohort_month, sum(customers) AS customers
            FROM (${signupsPerDay(first, end)}) AS daily GROUP BY 1
          )
          SELECT s.cohort_month::text AS "cohortMonth", s.customers::float8 AS customers,
            a.activity_month::text AS month, a.active_customers::float8 AS "activeCustomers"
          FROM sizes AS s
          LEFT JOIN cohort_activity AS a ON a.cohort_month = s.cohort_month AND a.activity_month >= s.cohort_month
          ORDER BY 1, 3`.pipe(Effect.orDie)
        const sizes = new Map<string, number>()
        const active = new Map<string, number>()
        for (const row of rows) {
          sizes.set(row.cohortMonth, row.customers)
          if (row.month !== null) active.set(`${row.cohortMonth}/${row.month}`, row.activeCustomers ?? 0)
        }
        const currentMonth = periodStart(now, "month")
        const cohorts: Array<Cohort> = []
        for (let cohortMonth = first; cohortMonth <= last; cohortMonth = addPeriods(cohortMonth, "month", 1)) {
          const customers = sizes.get(cohortMonth) ?? 0
          const months: Array<CohortMonth> = []
          for (let n = 0, month = cohortMonth; month <= currentMonth; n++, month = addPeriods(month, "month", 1)) {
            const activeCustomers = active.get(`${cohortMonth}/${month}`) ?? 0
            months.push({
              month,
              monthsSinceSignup: n,
              activeCustomers,
              retention: customers === 0 ? 0 : activeCustomers / customers
            })
          }
          cohorts.push({ cohortMonth, customers, months })
        }
        return { from: first, to: last, cohorts }
      })

      return FleetReports.of({ fleet, cohorts })
    })
  )
}
