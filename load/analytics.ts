/**
 * The analytics phase of `npm run bench`: with the seeded customers and BENCH_EVENTS events
 * (load/seed-events.ts), how long the CLV fit over the whole base takes, and the latency of a customer's
 * analytics and insights (a random customer and the one with 100,000 events), timeline pages (first page and
 * any depth of the heavy customer's) and the fleet reports, each at BENCH_ANALYTICS_CONCURRENCY connections.
 */
import type postgres from "postgres"
import { encodeCursor } from "../src/customers/Cursor.ts"
import { sleep } from "./net.ts"
import { runLoad } from "./run-load.ts"
import type { AnalyticsScenario, ScenarioData, Target } from "./scenarios.ts"
import { seedEvents } from "./seed-events.ts"

const env = process.env
export const benchEvents = Number(env.BENCH_EVENTS ?? 10_000_000)
const heavyEvents = Number(env.BENCH_HEAVY_EVENTS ?? 100_000)
const concurrency = Number(env.BENCH_ANALYTICS_CONCURRENCY ?? 10)

/** The issue's p95 targets, in ms. */
const p95Target: Record<AnalyticsScenario, number> = {
  analytics: 100,
  "analytics-heavy": 100,
  insights: 100,
  "insights-heavy": 100,
  timeline: 50,
  "timeline-deep": 50,
  fleet: 1000,
  cohorts: 1000
}

export interface AnalyticsOptions {
  readonly sql: postgres.Sql
  readonly service: Target
  readonly data: ScenarioData
  readonly warmupMs: number
  readonly durationMs: number
  readonly log: (line?: string) => void
}

/** Requests a fit of all history and waits for it: its row, and the wall time from request to result. */
export const timeFit = async (sql: postgres.Sql, service: Target) => {
  const started = performance.now()
  const response = await fetch(`${service.baseUrl}/api/v1/analytics/models/clv/fit`, {
    method: "POST",
    headers: { authorization: `Bearer ${service.token}`, "content-type": "application/json" },
    body: "{}"
  })
  const queued = (await response.json()) as { readonly id: string }
  for (;;) {
    await sleep(250)
    const [model] = await sql<Array<{
      status: string
      duration_ms: number | null
      customers: string | null
      repeat_customers: string | null
      error: string | null
    }>>`SELECT status, duration_ms, customers, repeat_customers, error FROM clv_models WHERE id = ${queued.id}`
    if (model !== undefined && (model.status === "succeeded" || model.status === "failed")) {
      return { ...model, wallSeconds: (performance.now() - started) / 1000 }
    }
    if (performance.now() - started > 600_000) throw new Error("the CLV fit did not finish within 10 minutes")
  }
}

export const runAnalytics = async (options: AnalyticsOptions) => {
  const { log, sql } = options
  log()
  log(`## Analytics at scale (${benchEvents.toLocaleString("en")} events)`)
  const [{ n: stored }] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM customer_events`
  const seed = stored >= benchEvents
    ? undefined
    : await seedEvents(sql, { events: benchEvents, heavyEvents, log: (line) => log(line) })
  const [heavy] = await sql<Array<{ customer_id: string; n: number }>>`SELECT customer_id, count(*)::int AS n
    FROM customer_events GROUP BY 1 ORDER BY 2 DESC LIMIT 1`
  log(`heavy customer ${heavy.customer_id}: ${heavy.n.toLocaleString("en")} events`)
  const timelineCursors: Array<string> = []
  for (let i = 0; i < 40; i++) {
    const [row] = await sql<Array<{ sort_key: string; id: string }>>`SELECT
        to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS sort_key, id FROM customer_events
      WHERE customer_id = ${heavy.customer_id} ORDER BY occurred_at DESC, id DESC
      OFFSET ${Math.floor((heavy.n * i) / 40)} LIMIT 1`
    if (row !== undefined) timelineCursors.push(encodeCursor("-occurredAt", row.sort_key, row.id))
  }
  const data: ScenarioData = { ...options.data, heavyCustomer: heavy.customer_id, timelineCursors }

  const fit = await timeFit(sql, options.service)
  log(`CLV fit over all history: ${fit.status}${fit.error === null ? "" : ` (${fit.error})`}, ${fit.duration_ms} ms (${
    fit.wallSeconds.toFixed(1)
  } s from request to result), ${fit.customers} customers, ${fit.repeat_customers} repeat buyers`)

  const scenarios = Object.keys(p95Target) as Array<AnalyticsScenario>
  const runs = []
  for (const scenario of scenarios) {
    const result = await runLoad({
      scenario, target: options.service, data, concurrency, warmupMs: options.warmupMs, durationMs: options.durationMs,
      seed: `analytics${Date.now().toString(36)}`
    })
    const target = p95Target[scenario]
    const verdict = result.non2xx === 0 && result.p95 < target ? "pass" : "FAIL"
    runs.push({ ...result, p95Target: target, verdict })
    log(`${`${scenario} c=${concurrency}`.padEnd(24)} ${Math.round(result.rps).toLocaleString("en").padStart(7)} rps  p50 ${
      result.p50.toFixed(1)
    } p95 ${result.p95.toFixed(1)} p99 ${result.p99.toFixed(1)} ms  non-2xx ${result.non2xx}  (p95 < ${target} ms: ${verdict})`)
    for (const sample of [...result.bodySamples, ...result.errorSamples].slice(0, 3)) log(`    ! ${sample}`)
  }
  return { seed, heavyCustomer: heavy.customer_id, heavyEvents: heavy.n, fit, runs }
}
