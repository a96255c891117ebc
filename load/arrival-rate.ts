/**
 * An open-loop load at a constant arrival rate, as k6's `constant-arrival-rate`
 * executor runs it: request i is due at start + i / rate, whatever the answers
 * are doing, and its latency counts from when it was due (so a generator or a
 * service that falls behind shows in the percentiles: no coordinated omission).
 *
 * Why not autocannon's `overallRate`: it lets each connection send its share
 * of a second's requests back to back and then waits for the next second, so
 * the load arrives in bursts at each second's start (34 batches of 500 events
 * at once, then nothing); the percentiles then measure the burst, not the rate.
 */
import { Agent, request } from "node:http"
import * as hdr from "hdr-histogram-js"
import { type LoadResult, summarize } from "./run-load.ts"
import { requestsFor, type ScenarioData, type ScenarioName, type Target } from "./scenarios.ts"

export interface ArrivalRateOptions {
  readonly scenario: ScenarioName
  readonly target: Target
  readonly data: ScenarioData
  /** Requests a second, spread evenly. */
  readonly rate: number
  readonly warmupMs: number
  readonly durationMs: number
  /** Requests in flight at most (k6's maxVUs); a request due beyond it is dropped and counted as an error. */
  readonly maxInFlight: number
  readonly seed: string
}

const samplesKept = 5

export const runArrivalRate = async (options: ArrivalRateOptions): Promise<LoadResult> => {
  const next = requestsFor(options.scenario, options.target, options.data, options.seed)
  const url = new URL(options.target.baseUrl)
  // Most recently used sockets first, and an idle one closed before the server's keep-alive timeout (5 s) can
  // close it under a request on its way (ECONNRESET).
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxInFlight, scheduling: "lifo", timeout: 4_000 })
  const headers = {
    accept: "application/json",
    "content-type": "application/json",
    ...(options.target.token === undefined ? {} : { authorization: `Bearer ${options.target.token}` })
  }

  const run = async (durationMs: number) => {
    const latencies = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 })
    const statuses: Record<string, number> = {}
    const bodySamples: Array<string> = []
    const errorSamples: Array<string> = []
    let inFlight = 0
    let dropped = 0
    let errors = 0
    let non2xx = 0
    const pending = new Set<Promise<void>>()

    const send = (due: number) => {
      const spec = next()
      inFlight++
      const done = new Promise<void>((resolve) => {
        const finish = () => {
          inFlight--
          resolve()
        }
        const req = request({
          agent,
          host: url.hostname,
          port: url.port,
          method: spec.method,
          path: spec.path,
          headers: spec.body === undefined ? headers : { ...headers, "content-length": Buffer.byteLength(spec.body) }
        }, (res) => {
          const chunks: Array<Buffer> = []
          res.on("data", (chunk: Buffer) => chunks.push(chunk))
          res.on("end", () => {
            latencies.recordValue(Math.round((performance.now() - due) * 1000))
            const status = res.statusCode ?? 0
            statuses[status] = (statuses[status] ?? 0) + 1
            if (status < 200 || status >= 300) {
              non2xx++
              if (bodySamples.length < samplesKept) bodySamples.push(`${status} ${Buffer.concat(chunks).toString().slice(0, 300)}`)
            }
            finish()
          })
        })
        req.on("error", (error) => {
          errors++
          if (errorSamples.length < samplesKept) errorSamples.push(String(error))
          finish()
        })
        req.end(spec.body)
      })
      pending.add(done)
      void done.then(() => pending.delete(done))
    }

    const interval = 1000 / options.rate
    const started = performance.now()
    const total = Math.floor((durationMs / 1000) * options.rate)
    let sent = 0
    while (sent < total) {
      const now = performance.now()
      // Everything due by now goes out (timers are late by a millisecond or so; the due time still counts).
      while (sent < total && started + sent * interval <= now) {
        if (inFlight >= options.maxInFlight) dropped++
        else send(started + sent * interval)
        sent++
      }
      const wait = started + sent * interval - performance.now()
      if (sent < total) await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)))
    }
    await Promise.all(pending)
    const seconds = (performance.now() - started) / 1000
    return { latencies, statuses, bodySamples, errorSamples, dropped, errors, non2xx, seconds }
  }

  if (options.warmupMs > 0) (await run(options.warmupMs)).latencies.destroy()
  const result = await run(options.durationMs)
  agent.destroy()
  const count = result.latencies.totalCount
  const summary = summarize(result.latencies)
  return {
    scenario: options.scenario,
    target: options.target.kind,
    concurrency: options.maxInFlight,
    seconds: result.seconds,
    requests: count,
    rps: Math.max(0, count - result.non2xx) / result.seconds,
    ...summary,
    statuses: result.statuses,
    non2xx: result.non2xx,
    errors: result.errors + result.dropped,
    errorSamples: result.dropped > 0
      ? [`${result.dropped} requests dropped: ${options.maxInFlight} already in flight`, ...result.errorSamples]
      : result.errorSamples,
    bodySamples: result.bodySamples
  }
}
