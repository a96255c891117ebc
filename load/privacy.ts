/**
 * The privacy phase of `npm run bench` (issue 16), run last because it erases the customer it measures:
 * the data export of a customer with BENCH_HEAVY_EVENTS (100,000) events (time to first byte, total time,
 * size, and the service's resident memory before and at its peak during the export), then the erasure of that
 * customer (time until it is answered, and until no event of theirs is stored).
 */
import { readFileSync } from "node:fs"
import type postgres from "postgres"
import { sleep } from "./net.ts"
import type { Target } from "./scenarios.ts"
import { seedEvents } from "./seed-events.ts"

const env = process.env
export const privacyPhase = env.BENCH_PRIVACY !== "0"
const heavyEvents = Number(env.BENCH_HEAVY_EVENTS ?? 100_000)

export interface PrivacyOptions {
  readonly sql: postgres.Sql
  readonly service: Target
  /** The service's process, whose memory is sampled. */
  readonly servicePid: number | undefined
  readonly log: (line?: string) => void
}

/** Resident memory of a process in MiB, from /proc (Linux). */
const residentMiB = (pid: number | undefined) => {
  if (pid === undefined) return NaN
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1])
    return kib / 1024
  } catch {
    return NaN
  }
}

/** Samples a process's resident memory every 20 ms until stopped; answers the peak. */
const samplePeak = (pid: number | undefined) => {
  let peak = residentMiB(pid)
  const timer = setInterval(() => {
    peak = Math.max(peak, residentMiB(pid))
  }, 20)
  return () => {
    clearInterval(timer)
    return Math.max(peak, residentMiB(pid))
  }
}

const heavyCustomerOf = async (sql: postgres.Sql) => {
  const [heavy] = await sql<Array<{ customer_id: string; n: number }>>`SELECT customer_id, count(*)::int AS n
    FROM customer_events GROUP BY 1 ORDER BY 2 DESC LIMIT 1`
  return heavy
}

export const runPrivacy = async ({ log, service, servicePid, sql }: PrivacyOptions) => {
  log()
  log(`## Privacy: export and erasure of a customer with ${heavyEvents.toLocaleString("en")} events`)
  let heavy = await heavyCustomerOf(sql)
  if (heavy === undefined || heavy.n < heavyEvents) {
    await seedEvents(sql, { events: heavyEvents, heavyEvents, log: (line) => log(line) })
    heavy = await heavyCustomerOf(sql)
  }
  log(`customer ${heavy.customer_id}: ${heavy.n.toLocaleString("en")} events`)
  const headers = { authorization: `Bearer ${service.token}` }
  const path = `${service.baseUrl}/api/v1/customers/${heavy.customer_id}`

  // The export, read as a client would (chunk by chunk), while the service's memory is sampled.
  const before = residentMiB(servicePid)
  const peak = samplePeak(servicePid)
  const started = performance.now()
  const response = await fetch(`${path}/data`, { headers })
  if (!response.ok || response.body === null) throw new Error(`export answered ${response.status}: ${await response.text()}`)
  let firstByteMs = NaN
  let bytes = 0
  const chunks: Array<Uint8Array> = []
  for await (const chunk of response.body) {
    if (bytes === 0) firstByteMs = performance.now() - started
    bytes += chunk.byteLength
    chunks.push(chunk)
  }
  const totalMs = performance.now() - started
  const peakMiB = peak()
  const exported = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { readonly events: ReadonlyArray<unknown> }
  const exportResult = { firstByteMs, totalMs, bytes, events: exported.events.length, rssBeforeMiB: before, rssPeakMiB: peakMiB }
  log(`export: ${exported.events.length.toLocaleString("en")} events, ${(bytes / 2 ** 20).toFixed(1)} MiB in ${
    (totalMs / 1000).toFixed(2)
  } s (first byte after ${firstByteMs.toFixed(0)} ms); service RSS ${before.toFixed(0)} MiB before, ${
    peakMiB.toFixed(0)
  } MiB at peak (+${(peakMiB - before).toFixed(0)} MiB)`)

  // The erasure: answered, then done (no event of the customer stored).
  const erasureStarted = performance.now()
  const erased = await fetch(path, { method: "DELETE", headers })
  const answeredMs = performance.now() - erasureStarted
  if (!erased.ok) throw new Error(`erasure answered ${erased.status}: ${await erased.text()}`)
  let left = Infinity
  while (left > 0 && performance.now() - erasureStarted < 600_000) {
    ;[{ n: left }] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM customer_events
      WHERE customer_id = ${heavy.customer_id}`
    if (left > 0) await sleep(50)
  }
  const doneMs = performance.now() - erasureStarted
  log(`erasure: answered ${erased.status} after ${(answeredMs / 1000).toFixed(2)} s; no event left after ${
    (doneMs / 1000).toFixed(2)
  } s`)
  return { customer: heavy.customer_id, events: heavy.n, export: exportResult, erasure: { answeredMs, doneMs } }
}
