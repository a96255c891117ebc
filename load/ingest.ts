/**
 * The ingest phase of `npm run bench`: how many events a second the tracking
 * endpoints commit, beside raw PostgreSQL doing the same inserts.
 *
 * 1. Raw COPY (the issue's baseline): BENCH_INGEST_COPY_CONNECTIONS connections
 *    each COPYing BENCH_INGEST_COPY_ROWS (at least 5,000) rows like those the batch scenario
 *    sends into a copy of customer_events (same partitioning and indexes), back to back.
 * 2. POST /api/v1/events/batch as fast as answered (closed loop, BENCH_INGEST_CONCURRENCY
 *    connections): the service and the raw node:http + postgres baseline (one statement per request).
 * 3. The same endpoint at a constant 1,000,000 events a minute for BENCH_INGEST_SUSTAIN seconds
 *    (open loop, arrivals evenly spaced as k6's constant-arrival-rate spaces them: load/arrival-rate.ts),
 *    up to 64 requests in flight: the service's p99 acknowledgement at the spec's rate.
 * 4. POST /api/v1/customers/:id/track, one event per request, at 50 connections: service and baseline.
 */
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import type postgres from "postgres"
import { uuidv7 } from "../src/platform/Ids.ts"
import { runArrivalRate } from "./arrival-rate.ts"
import { type LoadResult, runLoad } from "./run-load.ts"
import { batchSize, benchEvent, type ScenarioData, type Target } from "./scenarios.ts"

export interface IngestOptions {
  readonly sql: postgres.Sql
  readonly service: Target
  readonly baseline: Target
  readonly data: ScenarioData
  readonly warmupMs: number
  readonly durationMs: number
  readonly log: (line?: string) => void
}

export interface IngestResult {
  readonly copy: { readonly eventsPerSecond: number; readonly p99: number; readonly connections: number }
  readonly runs: ReadonlyArray<LoadResult & { readonly eventsPerSecond: number; readonly rate?: number }>
}

const env = process.env
const copyConnections = Number(env.BENCH_INGEST_COPY_CONNECTIONS ?? 4)
/** Rows per COPY: large whatever the requests' batch size, or the baseline would measure commits, not inserts. */
const copyRows = Number(env.BENCH_INGEST_COPY_ROWS ?? Math.max(batchSize, 5_000))
const batchConcurrency = Number(env.BENCH_INGEST_CONCURRENCY ?? 8)
const sustainSeconds = Number(env.BENCH_INGEST_SUSTAIN ?? 60)
/** Which runs (copy, batch, sustained, single); all by default. */
const selectedRuns = new Set((env.BENCH_INGEST_RUNS ?? "copy,batch,sustained,single").split(","))
/** The spec's floor: 1,000,000 events a minute. */
export const specEventsPerSecond = 1_000_000 / 60

const copyColumns = "id, occurred_at, customer_id, type, received_at, session_id, channel, device, properties, revenue, currency"

/** A batch of rows in COPY's text format: the rows the batch scenario's events become. */
const copyText = (data: ScenarioData, first: number, rows: number) => {
  const now = Date.now()
  const at = new Date(now).toISOString()
  let text = ""
  for (let n = first; n < first + rows; n++) {
    const event = benchEvent(data.ids[(n * 7919) % data.ids.length], n)
    text += `${uuidv7(now)}\t${at}\t${event.customerId}\t${event.type}\t${at}\t${event.sessionId}\t${event.channel}\t\\N\t${
      JSON.stringify(event.properties)
    }\t${event.revenue ?? "\\N"}\t${event.currency ?? "\\N"}\n`
  }
  return text
}

const percentile = (values: Array<number>, p: number) => {
  values.sort((a, b) => a - b)
  return values.length === 0 ? NaN : values[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]
}

const copyBaseline = async (options: IngestOptions) => {
  const { sql, data } = options
  const latencies: Array<number> = []
  let rows = 0
  let batch = 0
  const started = performance.now()
  const deadline = started + options.durationMs
  await Promise.all(Array.from({ length: copyConnections }, async () => {
    while (performance.now() < deadline) {
      const text = copyText(data, batch++ * copyRows, copyRows)
      const t0 = performance.now()
      const writable = await sql.unsafe(`COPY baseline_customer_events (${copyColumns}) FROM STDIN`).writable()
      await pipeline(Readable.from([text]), writable)
      latencies.push(performance.now() - t0)
      rows += copyRows
    }
  }))
  const seconds = (performance.now() - started) / 1000
  return { eventsPerSecond: rows / seconds, p99: percentile(latencies, 99), connections: copyConnections }
}

export const runIngest = async (options: IngestOptions): Promise<IngestResult> => {
  const { log } = options
  const fmt = (n: number) => Number.isFinite(n) ? n.toFixed(1) : "-"
  const int = (n: number) => Math.round(n).toLocaleString("en")
  const runs: Array<IngestResult["runs"][number]> = []
  const run = async (
    scenario: "track" | "track-batch",
    target: Target,
    concurrency: number,
    rate?: number,
    durationMs = options.durationMs
  ) => {
    const common = { scenario, target, data: options.data, warmupMs: options.warmupMs, durationMs, seed: `ingest${Date.now().toString(36)}` }
    const result = rate === undefined
      ? await runLoad({ ...common, concurrency })
      : await runArrivalRate({ ...common, rate, maxInFlight: concurrency })
    const eventsPerSecond = result.rps * (scenario === "track-batch" ? batchSize : 1)
    runs.push({ ...result, eventsPerSecond, ...(rate === undefined ? {} : { rate }) })
    log(`${`${scenario} ${rate === undefined ? `c=${concurrency}` : `at ${rate} req/s`}`.padEnd(32)} ${
      target.kind.padEnd(9)
    } ${int(result.rps).padStart(7)} req/s ${int(eventsPerSecond).padStart(8)} events/s  p50 ${fmt(result.p50)} p95 ${
      fmt(result.p95)
    } p99 ${fmt(result.p99)} ms  non-2xx ${result.non2xx} err ${result.errors}`)
    for (const sample of [...result.bodySamples, ...result.errorSamples].slice(0, 3)) log(`    ! ${sample}`)
    return { ...result, eventsPerSecond }
  }

  log()
  log(`## Ingest (batches of ${batchSize} events)`)
  const skipped = { eventsPerSecond: NaN, rps: NaN, p99: NaN, non2xx: 0 }
  const copy = selectedRuns.has("copy") ? await copyBaseline(options) : { ...skipped, connections: copyConnections }
  log(`raw COPY, ${copyConnections} connections: ${int(copy.eventsPerSecond)} events/s (p99 per COPY of ${copyRows}: ${
    fmt(copy.p99)
  } ms)`)
  const selected = (name: string, result: () => ReturnType<typeof run>) => selectedRuns.has(name) ? result() : skipped
  const serviceBatch = await selected("batch", () => run("track-batch", options.service, batchConcurrency))
  const baselineBatch = await selected("batch", () => run("track-batch", options.baseline, batchConcurrency))
  const rate = Math.ceil(specEventsPerSecond / batchSize)
  const sustained = await selected("sustained", () => run("track-batch", options.service, 64, rate, sustainSeconds * 1000))
  const serviceOne = await selected("single", () => run("track", options.service, 50))
  const baselineOne = await selected("single", () => run("track", options.baseline, 50))

  const pct = (a: number, b: number) => b > 0 ? `${fmt((a / b) * 100)}%` : "-"
  log()
  log(`batch endpoint: ${int(serviceBatch.eventsPerSecond)} events/s = ${pct(serviceBatch.eventsPerSecond, copy.eventsPerSecond)} of raw COPY (target >= 50%: ${
    serviceBatch.eventsPerSecond >= copy.eventsPerSecond / 2 ? "pass" : "FAIL"
  }), ${pct(serviceBatch.eventsPerSecond, baselineBatch.eventsPerSecond)} of the raw HTTP baseline`)
  log(`batch endpoint at ${int(rate * batchSize * 60)} events/min for ${sustainSeconds} s: ${
    int(sustained.eventsPerSecond * 60)
  } events/min committed, p99 ${fmt(sustained.p99)} ms (target >= 1,000,000/min with p99 < 50 ms: ${
    sustained.eventsPerSecond * 60 >= 990_000 && sustained.p99 < 50 && sustained.non2xx === 0 ? "pass" : "FAIL"
  })`)
  log(`single-event endpoint at 50 connections: ${int(serviceOne.rps)} events/s, p99 ${fmt(serviceOne.p99)} ms (${
    pct(serviceOne.rps, baselineOne.rps)
  } of the raw HTTP baseline's ${int(baselineOne.rps)})`)
  return { copy, runs }
}
