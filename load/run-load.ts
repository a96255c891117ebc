/**
 * One load run with autocannon, used as a library: `concurrency` keep-alive
 * connections, each sending the scenario's request stream back to back
 * (closed loop); a warm-up run, then the measured run (new connections, the
 * same request stream).
 *
 * Ours here is only the request stream (scenarios.ts, through `setupRequest`,
 * so every request carries its own id or body) and the shape of the result
 * the bench prints. Latency percentiles come from an HdrHistogram (the library
 * autocannon itself uses) fed with autocannon's per-response times at
 * microsecond resolution: autocannon's own histogram records whole
 * milliseconds, too coarse for 1-5 ms responses.
 */
import autocannon from "autocannon"
import * as hdr from "hdr-histogram-js"
import { requestsFor, type ScenarioData, type ScenarioName, type Target } from "./scenarios.ts"

export interface LoadOptions {
  readonly scenario: ScenarioName
  readonly target: Target
  readonly data: ScenarioData
  readonly concurrency: number
  readonly warmupMs: number
  readonly durationMs: number
  /** Makes generated emails unique across runs. */
  readonly seed: string
  /** Requests per second across all connections (autocannon's overallRate); unset: as fast as answered. */
  readonly rate?: number
}

export interface LoadResult {
  readonly scenario: ScenarioName
  readonly target: Target["kind"]
  readonly concurrency: number
  /** Length of the measured run as autocannon timed it. */
  readonly seconds: number
  readonly requests: number
  readonly rps: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  readonly mean: number
  /** Responses by status code in the measured run. */
  readonly statuses: Record<string, number>
  /** Non-2xx responses in the measured run. */
  readonly non2xx: number
  /** Connection errors and timeouts in the measured run. */
  readonly errors: number
  readonly errorSamples: ReadonlyArray<string>
  readonly bodySamples: ReadonlyArray<string>
}

const samplesKept = 5

/** The percentiles of a latency histogram kept in microseconds, in milliseconds; the histogram is freed. */
export const summarize = (latencies: hdr.Histogram) => {
  const count = latencies.totalCount
  const ms = (micros: number) => count === 0 ? NaN : micros / 1000
  const summary = {
    p50: ms(latencies.getValueAtPercentile(50)),
    p95: ms(latencies.getValueAtPercentile(95)),
    p99: ms(latencies.getValueAtPercentile(99)),
    max: ms(latencies.maxValue),
    mean: ms(latencies.mean)
  }
  latencies.destroy()
  return summary
}

export const runLoad = async (options: LoadOptions): Promise<LoadResult> => {
  const next = requestsFor(options.scenario, options.target, options.data, options.seed)
  const bodySamples: Array<string> = []
  const errorSamples: Array<string> = []
  let measuring = false
  const latencies = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 })
  const request: autocannon.Request = {
    setupRequest: (request) => {
      const spec = next()
      return spec.body === undefined
        ? { ...request, method: spec.method, path: spec.path }
        : { ...request, method: spec.method, path: spec.path, body: spec.body, headers: { ...request.headers, "content-type": "application/json" } }
    },
    onResponse: (status, body) => {
      if (measuring && (status < 200 || status >= 300) && bodySamples.length < samplesKept) {
        bodySamples.push(`${status} ${body.slice(0, 300)}`)
      }
    }
  }
  // autocannon's own `warmup` option is ignored when a callback is given, and without one the instance is
  // typed as a bare Promise: two runs say the same.
  const run = (seconds: number, measure: boolean) =>
    new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon({
        url: options.target.baseUrl,
        connections: options.concurrency,
        duration: seconds,
        ...(options.rate === undefined ? {} : { overallRate: options.rate }),
        timeout: 30,
        headers: {
          accept: "application/json",
          ...(options.target.token === undefined ? {} : { authorization: `Bearer ${options.target.token}` })
        },
        requests: [request]
      }, (error, result) => error ? reject(error) : resolve(result))
      if (!measure) return
      instance.on("response", (_client, _status, _bytes, responseTime) => latencies.recordValue(Math.round(responseTime * 1000)))
      instance.on("reqError", (error: unknown) => {
        if (errorSamples.length < samplesKept) errorSamples.push(String(error))
      })
    })
  if (options.warmupMs > 0) await run(options.warmupMs / 1000, false)
  measuring = true
  const result = await run(options.durationMs / 1000, true)
  const count = latencies.totalCount
  const summary = summarize(latencies)
  const statuses = Object.fromEntries(
    Object.entries(result.statusCodeStats ?? {}).map(([status, stat]) => [status, stat.count ?? 0])
  )
  return {
    scenario: options.scenario,
    target: options.target.kind,
    concurrency: options.concurrency,
    seconds: result.duration,
    requests: count,
    // Throughput counts answers that did the work: a quick 503 is not a served request.
    rps: Math.max(0, count - result.non2xx) / result.duration,
    ...summary,
    statuses,
    non2xx: result.non2xx,
    errors: result.errors,
    errorSamples,
    bodySamples
  }
}
