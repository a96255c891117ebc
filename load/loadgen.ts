/**
 * The load generator: `concurrency` closed-loop workers over keep-alive
 * node:http connections (one socket per worker), a warm-up, then a fixed
 * measured window. Latency is recorded for responses that complete inside the
 * window; rps = those responses / window length. Run in a worker thread
 * (see bench.ts) so it has its own event loop, apart from the servers.
 */
import { Agent, request } from "node:http"
import { parentPort, workerData } from "node:worker_threads"
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
}

export interface LoadResult {
  readonly scenario: ScenarioName
  readonly target: Target["kind"]
  readonly concurrency: number
  readonly seconds: number
  readonly requests: number
  readonly rps: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  readonly mean: number
  /** Responses by status code in the window. */
  readonly statuses: Record<string, number>
  /** Non-2xx responses in the window. */
  readonly non2xx: number
  /** Socket errors and timeouts in the window. */
  readonly errors: number
  readonly errorSamples: ReadonlyArray<string>
  readonly bodySamples: ReadonlyArray<string>
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]

export const runLoad = async (options: LoadOptions): Promise<LoadResult> => {
  const url = new URL(options.target.baseUrl)
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, maxFreeSockets: options.concurrency })
  const next = requestsFor(options.scenario, options.target, options.data, options.seed)
  const baseHeaders: Record<string, string> = { accept: "application/json" }
  if (options.target.token !== undefined) baseHeaders.authorization = `Bearer ${options.target.token}`

  const started = performance.now()
  const windowStart = started + options.warmupMs
  const windowEnd = windowStart + options.durationMs
  let latencies = new Float64Array(1 << 16)
  let count = 0
  const statuses: Record<string, number> = {}
  let non2xx = 0
  let errors = 0
  const errorSamples: Array<string> = []
  const bodySamples: Array<string> = []

  const record = (startedAt: number, endedAt: number, status: number | undefined, detail?: string) => {
    if (endedAt < windowStart || endedAt > windowEnd) return
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2)
      grown.set(latencies)
      latencies = grown
    }
    latencies[count++] = endedAt - startedAt
    if (status === undefined) {
      errors++
      if (detail !== undefined && errorSamples.length < 5) errorSamples.push(detail)
      return
    }
    statuses[status] = (statuses[status] ?? 0) + 1
    if (status < 200 || status >= 300) {
      non2xx++
      if (detail !== undefined && bodySamples.length < 5) bodySamples.push(`${status} ${detail.slice(0, 300)}`)
    }
  }

  const once = () =>
    new Promise<void>((resolve) => {
      const spec = next()
      const headers = spec.body === undefined
        ? baseHeaders
        : { ...baseHeaders, "content-type": "application/json", "content-length": String(Buffer.byteLength(spec.body)) }
      const startedAt = performance.now()
      const req = request({
        agent,
        host: url.hostname,
        port: url.port,
        method: spec.method,
        path: spec.path,
        headers,
        timeout: 30_000
      }, (res) => {
        const status = res.statusCode ?? 0
        const keep = status < 200 || status >= 300
        const parts: Array<Buffer> = []
        res.on("data", (part: Buffer) => {
          if (keep) parts.push(part)
        })
        res.on("end", () => {
          record(startedAt, performance.now(), status, keep ? Buffer.concat(parts).toString("utf8") : undefined)
          resolve()
        })
        res.on("error", (error) => {
          record(startedAt, performance.now(), undefined, String(error))
          resolve()
        })
      })
      req.on("timeout", () => req.destroy(new Error("timeout after 30 s")))
      req.on("error", (error) => {
        record(startedAt, performance.now(), undefined, String(error))
        resolve()
      })
      if (spec.body !== undefined) req.end(spec.body)
      else req.end()
    })

  const worker = async () => {
    while (performance.now() < windowEnd) await once()
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  agent.destroy()

  const sorted = latencies.slice(0, count).sort()
  let sum = 0
  for (const value of sorted) sum += value
  const seconds = options.durationMs / 1000
  return {
    scenario: options.scenario,
    target: options.target.kind,
    concurrency: options.concurrency,
    seconds,
    requests: count,
    rps: count / seconds,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: count === 0 ? NaN : sorted[count - 1],
    mean: count === 0 ? NaN : sum / count,
    statuses,
    non2xx,
    errors,
    errorSamples,
    bodySamples
  }
}

if (parentPort !== null && workerData?.loadOptions !== undefined) {
  const port = parentPort
  runLoad(workerData.loadOptions as LoadOptions).then(
    (result) => port.postMessage({ result }),
    (error) => port.postMessage({ error: String(error?.stack ?? error) })
  )
}
