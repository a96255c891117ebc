/**
 * Events at the spec's scale for `npm run bench`: BENCH_EVENTS (10,000,000) tracked events over the seeded
 * customers' last two years, one of them (the heavy customer) with BENCH_HEAVY_EVENTS (100,000), COPYed into
 * customer_events (monthly partitions as the service names them), then the rollups built from them set-wise:
 * the figures the rollup folder (src/events/RollupFolder.ts, docs/rollups.md) arrives at batch by batch, built
 * in one pass because folding ten million events one batch at a time would take the bench an hour.
 */
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import type postgres from "postgres"
import { partitionName } from "../src/events/EventStore.ts"
import { uuidv7 } from "../src/platform/Ids.ts"

const dayMs = 86_400_000
const historyDays = 730
const types = ["page_view", "page_view", "page_view", "page_view", "product_view", "product_view", "search",
  "add_to_cart", "sign_in", "email_open", "email_click", "purchase"]
const channels = ["web", "web", "ios", "android", "email"]

export interface EventSeed {
  readonly events: number
  readonly heavyCustomer: string
  readonly heavyEvents: number
  readonly seconds: { readonly copy: number; readonly rollups: number }
}

const monthStart = (instant: number) => {
  const date = new Date(instant)
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)
}

/**
 * The rollups of every stored event, as the folder keeps them (reporting currency USD): rebuilt whole, so
 * whatever earlier runs tracked (and the folder folded) is counted once.
 */
const rollupStatements = [
  `TRUNCATE customer_daily_activity, customer_type_activity, customer_activity, customer_revenue, customer_sessions, customer_hourly_activity,
     customer_channel_activity, customer_active_periods, fleet_activity, cohort_activity, event_batches`,
  `INSERT INTO customer_daily_activity (customer_id, day, type, events, revenue)
   SELECT customer_id, (occurred_at AT TIME ZONE 'UTC')::date, type, count(*),
     coalesce(sum(revenue) FILTER (WHERE coalesce(currency, 'USD') = 'USD'), 0)
   FROM customer_events GROUP BY 1, 2, 3`,
  `INSERT INTO customer_type_activity (customer_id, type, events, revenue, last_on)
   SELECT customer_id, type, sum(events), sum(revenue), max(day) FROM customer_daily_activity GROUP BY 1, 2`,
  `INSERT INTO customer_sessions (customer_id, session_id, started_at, ended_at, events)
   SELECT customer_id, session_id, min(occurred_at), max(occurred_at), count(*) FROM customer_events
   WHERE session_id IS NOT NULL GROUP BY 1, 2`,
  `INSERT INTO customer_activity (customer_id, first_seen_at, last_seen_at, events, revenue, purchase_days,
     first_purchase_on, last_purchase_on, repeat_revenue, active_days, sessions, session_seconds, session_events,
     folded_at)
   SELECT e.customer_id, e.first_seen, e.last_seen, e.events, e.revenue, coalesce(p.days, 0), p.first_day, p.last_day,
     coalesce(p.repeat_revenue, 0), d.days, coalesce(s.sessions, 0), coalesce(s.seconds, 0), coalesce(s.events, 0),
     now()
   FROM (SELECT customer_id, min(occurred_at) AS first_seen, max(occurred_at) AS last_seen, count(*) AS events,
       coalesce(sum(revenue) FILTER (WHERE coalesce(currency, 'USD') = 'USD'), 0) AS revenue
     FROM customer_events GROUP BY 1) e
   JOIN (SELECT customer_id, count(DISTINCT day) AS days FROM customer_daily_activity GROUP BY 1) d USING (customer_id)
   LEFT JOIN (SELECT customer_id, count(*) AS days, min(day) AS first_day, max(day) AS last_day,
       sum(revenue) - (array_agg(revenue ORDER BY day))[1] AS repeat_revenue
     FROM customer_daily_activity WHERE type = 'purchase' GROUP BY 1) p USING (customer_id)
   LEFT JOIN (SELECT customer_id, count(*) AS sessions, sum(extract(epoch FROM ended_at - started_at)) AS seconds,
       sum(events) AS events
     FROM customer_sessions GROUP BY 1) s USING (customer_id)`,
  `INSERT INTO customer_revenue (customer_id, currency, revenue, events)
   SELECT customer_id, coalesce(currency, 'USD'), sum(revenue), count(*) FROM customer_events
   WHERE revenue IS NOT NULL GROUP BY 1, 2`,
  `INSERT INTO customer_hourly_activity (customer_id, hour_of_week, events)
   SELECT customer_id, (extract(isodow FROM occurred_at AT TIME ZONE 'UTC')::int - 1) * 24
     + extract(hour FROM occurred_at AT TIME ZONE 'UTC')::int, count(*)
   FROM customer_events GROUP BY 1, 2`,
  `INSERT INTO customer_channel_activity (customer_id, channel, events, last_seen_at)
   SELECT customer_id, channel, count(*), max(occurred_at) FROM customer_events WHERE channel IS NOT NULL GROUP BY 1, 2`,
  `INSERT INTO customer_active_periods (customer_id, period, period_start)
   SELECT DISTINCT customer_id, 'day', day FROM customer_daily_activity
   UNION ALL SELECT DISTINCT customer_id, 'week', date_trunc('week', day)::date FROM customer_daily_activity
   UNION ALL SELECT DISTINCT customer_id, 'month', date_trunc('month', day)::date FROM customer_daily_activity`,
  `INSERT INTO fleet_activity (period, period_start, active_customers, events, revenue)
   SELECT a.period, a.period_start, a.customers, coalesce(s.events, 0), coalesce(s.revenue, 0)
   FROM (SELECT period, period_start, count(*) AS customers FROM customer_active_periods GROUP BY 1, 2) a
   LEFT JOIN (
     SELECT 'day' AS period, day AS period_start, sum(events) AS events, sum(revenue) AS revenue
       FROM customer_daily_activity GROUP BY 2
     UNION ALL SELECT 'week', date_trunc('week', day)::date, sum(events), sum(revenue) FROM customer_daily_activity GROUP BY 2
     UNION ALL SELECT 'month', date_trunc('month', day)::date, sum(events), sum(revenue) FROM customer_daily_activity GROUP BY 2
   ) s USING (period, period_start)`,
  `INSERT INTO cohort_activity (cohort_month, activity_month, active_customers)
   SELECT date_trunc('month', c.created_at AT TIME ZONE 'UTC')::date, p.period_start, count(*)
   FROM customer_active_periods p JOIN customers c ON c.id = p.customer_id
   WHERE p.period = 'month' GROUP BY 1, 2`,
  `UPDATE customers c SET last_activity = a.last_seen_at FROM customer_activity a
   WHERE a.customer_id = c.id AND a.last_seen_at > c.last_activity`
]

export interface EventSeedOptions {
  readonly events: number
  readonly heavyEvents: number
  /**
   * Customers unlike one another, as the CLV model needs them (with every customer buying at one rate over the
   * whole period, BG/NBD has no heterogeneity to fit and does not converge): activity rates skewed (a customer's
   * share falls with their place in the list) and a third of the customers stopping at some point of the period.
   */
  readonly skewed?: boolean
  readonly log: (line: string) => void
}

export const seedEvents = async (
  sql: postgres.Sql,
  { events, heavyEvents, skewed = false, log }: EventSeedOptions
): Promise<EventSeed> => {
  const customers = (await sql<Array<{ id: string }>>`SELECT id FROM customers WHERE status <> 'DELETED'`).map((row) =>
    row.id
  )
  const heavyCustomer = customers[0]
  const now = Date.now()
  const from = now - historyDays * dayMs
  for (let month = monthStart(from); month <= now; month = monthStart(month + 32 * dayMs)) {
    const end = monthStart(month + 32 * dayMs)
    await sql.unsafe(`CREATE TABLE IF NOT EXISTS ${partitionName(month)} PARTITION OF customer_events
      FOR VALUES FROM ('${new Date(month).toISOString()}') TO ('${new Date(end).toISOString()}')`)
  }

  const started = performance.now()
  const chunk = 100_000
  let made = 0
  const nextChunk = () => {
    if (made >= events) return undefined
    const size = Math.min(chunk, events - made)
    let text = ""
    for (let n = 0; n < size; n++, made++) {
      const index = Math.floor((skewed ? Math.random() ** 2 : Math.random()) * customers.length)
      const customer = made < heavyEvents ? heavyCustomer : customers[index]
      const until = skewed && index % 3 === 0 ? from + (((index * 7919) % 1000) / 1000) * (now - from) : now
      const at = from + Math.floor(Math.random() * (until - from))
      const type = types[made % types.length]
      const occurred = new Date(at).toISOString()
      const session = `s-${Math.floor(at / 1_800_000)}`
      const purchase = type === "purchase"
      text += `${uuidv7(at)}\t${occurred}\t${customer}\t${type}\t${occurred}\t${session}\t${channels[made % channels.length]}\t\\N\t{"path": "/p/${
        made % 5000
      }"}\t${purchase ? (5 + (made % 20000) / 100).toFixed(2) : "\\N"}\t${purchase ? "USD" : "\\N"}\n`
    }
    return text
  }
  const columns = "id, occurred_at, customer_id, type, received_at, session_id, channel, device, properties, revenue, currency"
  await Promise.all(Array.from({ length: 2 }, async () => {
    for (let text = nextChunk(); text !== undefined; text = nextChunk()) {
      const writable = await sql.unsafe(`COPY customer_events (${columns}) FROM STDIN`).writable()
      await pipeline(Readable.from([text]), writable)
      if (made % 1_000_000 < chunk) log(`  ${made.toLocaleString("en")} events`)
    }
  }))
  const copySeconds = (performance.now() - started) / 1000
  log(`events: COPY of ${events.toLocaleString("en")} rows in ${copySeconds.toFixed(1)} s`)

  const rollupsStarted = performance.now()
  for (const statement of rollupStatements) await sql.unsafe(statement)
  await sql.unsafe("VACUUM (ANALYZE) customer_events, customer_activity, customer_daily_activity, " +
    "customer_type_activity, customer_sessions, customer_hourly_activity, customer_channel_activity, customer_revenue, " +
    "customer_active_periods, fleet_activity, cohort_activity, customers")
  const rollupSeconds = (performance.now() - rollupsStarted) / 1000
  log(`events: rollups built in ${rollupSeconds.toFixed(1)} s`)
  return { events, heavyCustomer, heavyEvents, seconds: { copy: copySeconds, rollups: rollupSeconds } }
}
