/**
 * Real-time segment membership under ingest: how long from a change to the
 * segment.joined event on NATS, while POST /api/v1/events/batch runs at a
 * paced REALTIME_RATE events a second (10,000; open loop, load/arrival-rate.ts)
 * for the seeded customers.
 *
 *   npx node load/segment-realtime.ts
 *
 * 1. A database of its own (REALTIME_DB, dropped at the end), a private nats-server, the service (src/main.ts).
 * 2. REALTIME_CUSTOMERS (100,000) seeded with COPY (load/seed.ts); probe customers created through the API.
 * 3. Two dynamic segments, calculated once: tagged `rt-probe` (profile) and "purchased at least 3 times in the
 *    last 30 days" (behavioural: the background events buy too, so it moves under the load as well).
 * 3b. REALTIME_DRAIN (20,000) seeded customers queued at once, timed until the worker has evaluated them all.
 * 4. The paced ingest for REALTIME_SECONDS (60, after 5 s of warm-up); meanwhile every REALTIME_PROBE_MS (100)
 *    a probe: alternately a PATCH tagging a probe customer `rt-probe`, and a batch of 3 purchases of another.
 *    Each probe's latency runs from just before its request to the arrival of the joined event naming it
 *    (a core NATS subscription on `segments.>`).
 * 5. p50 / p95 / p99 / max per kind of probe, probes whose event never came, the ingest's achieved rate and
 *    acknowledgement p99, and the largest evaluation queue seen.
 *
 * REALTIME_BASELINE=1 runs the same ingest with no segment and no probe: what real-time membership costs it.
 *
 * Environment: REALTIME_ADMIN_URL (postgres://postgres@127.0.0.1:5432/test), REALTIME_DB (cms_bench_realtime),
 * REALTIME_CUSTOMERS, REALTIME_RATE, REALTIME_SECONDS, REALTIME_PROBE_MS, BENCH_BATCH_SIZE (500 events a request).
 */
import { connect } from "@nats-io/transport-node"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, openSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Jose from "jose"
import postgres from "postgres"
import { runArrivalRate } from "./arrival-rate.ts"
import { freePort, sleep } from "./net.ts"
import { batchSize } from "./scenarios.ts"
import { seedCustomers } from "./seed.ts"

const env = process.env
const root = fileURLToPath(new URL("..", import.meta.url))
const customers = Number(env.REALTIME_CUSTOMERS ?? 100_000)
const eventsPerSecond = Number(env.REALTIME_RATE ?? 10_000)
const seconds = Number(env.REALTIME_SECONDS ?? 60)
const probeEvery = Number(env.REALTIME_PROBE_MS ?? 100)
const dbName = env.REALTIME_DB ?? "cms_bench_realtime"
const adminUrl = env.REALTIME_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const jwtSecret = "bench-secret-not-for-production-0123456789"
/** REALTIME_BASELINE=1: the same ingest with no dynamic segment (nothing is queued), for its rate alone. */
const baseline = env.REALTIME_BASELINE === "1"
const warmupMs = 5_000
/** Customers queued at once before the ingest, to time the worker alone. */
const drain = Number(env.REALTIME_DRAIN ?? 20_000)
/** How long a probe's event may take before it counts as missing. */
const giveUpMs = 30_000

const dbUrl = (() => {
  const url = new URL(adminUrl)
  url.pathname = `/${dbName}`
  return url.href
})()

const log = (line = "") => console.log(line)
const int = (n: number) => Math.round(n).toLocaleString("en")
const fmt = (n: number) => Number.isFinite(n) ? n.toFixed(0) : "-"

const children: Array<ChildProcess> = []
const stopAll = () =>
  Promise.all(children.map((child) =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
        child.once("exit", () => resolve())
        child.kill("SIGTERM")
      })
  ))

const waitFor = async (url: string, child: ChildProcess, what: string) => {
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`)
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1_000) })).ok) return
    } catch {
      // not up yet
    }
    await sleep(100)
  }
  throw new Error(`${what} did not answer ${url}`)
}

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

const main = async () => {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
  await admin.unsafe(`CREATE DATABASE ${dbName}`)
  await admin.end()
  const workDir = mkdtempSync(join(tmpdir(), "cms-realtime-"))

  const natsPort = await freePort()
  const nats = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(natsPort), "-js", "-sd", join(workDir, "nats")], {
    stdio: ["ignore", openSync(join(workDir, "nats.log"), "w"), openSync(join(workDir, "nats.log"), "a")]
  })
  children.push(nats)
  const natsUrl = `nats://127.0.0.1:${natsPort}`
  await sleep(300)

  const port = await freePort()
  const serviceLog = join(workDir, "service.log")
  const service = spawn(process.execPath, ["src/main.ts"], {
    cwd: root,
    env: { ...env, PORT: String(port), DATABASE_URL: dbUrl, NATS_URL: natsUrl, JWT_SECRET: jwtSecret },
    stdio: ["ignore", openSync(serviceLog, "w"), openSync(serviceLog, "a")]
  })
  children.push(service)
  const baseUrl = `http://127.0.0.1:${port}`
  await waitFor(`${baseUrl}/health`, service, "service")
  log("# Real-time segment membership under ingest")
  log(`started ${new Date().toISOString()}; load average ${loadavg().map((n) => n.toFixed(2)).join(" ")}`)
  log(`service pid ${service.pid}, log ${serviceLog}; NATS ${natsUrl}`)

  const sql = postgres(dbUrl, { max: 2, onnotice: () => {} })
  log(`seeding ${int(customers)} customers ...`)
  await seedCustomers(sql, customers, (line) => log(line))
  const ids = (await sql<Array<{ id: string }>>`SELECT id FROM customers WHERE status <> 'DELETED'
    ORDER BY random() LIMIT 100000`).map((row) => row.id)

  const token = await new Jose.SignJWT({ role: "admin" }).setProtectedHeader({ alg: "HS256" }).setSubject("bench")
    .setIssuer("customer-service").setAudience("customer-service-api").setIssuedAt().setExpirationTime("2h")
    .sign(new TextEncoder().encode(jwtSecret))
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(baseUrl + path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`)
    return response.json() as Promise<{ readonly id: string }>
  }

  const probes = baseline ? 0 : Math.ceil((seconds * 1000) / probeEvery) + 10
  const probeCustomers: Array<string> = []
  for (let n = 0; n < probes; n++) {
    const created = await api("POST", "/api/v1/customers", {
      email: `probe.${n}@realtime.example.com`,
      name: "Real Time",
      tags: ["probe"],
      consent: { marketing: false, dataProcessing: true }
    })
    probeCustomers.push(created.id)
  }
  const segment = (name: string, criteria: unknown) =>
    baseline ? Promise.resolve({ id: "-" }) : api("POST", "/api/v1/customers/segments", { name, type: "dynamic", criteria })
  const tagged = await segment("Real-time probes", { kind: "tags", match: "any", tags: ["rt-probe"] })
  const buyers = await segment("Bought 3 times in 30 days", {
    kind: "eventCount",
    type: "purchase",
    window: { lastDays: 30 },
    atLeast: 3
  })
  while (true) {
    const [{ pending }] = await sql<Array<{ pending: number }>>`SELECT count(*)::int AS pending FROM segment_calculations
      WHERE status IN ('queued', 'running')`
    if (pending === 0) break
    await sleep(200)
  }
  log(baseline
    ? "baseline: no segment, no probe"
    : `${int(probes)} probe customers; segments calculated: tags ${tagged.id}, buyers ${buyers.id}`)

  // The worker's own rate, before the ingest: REALTIME_DRAIN customers queued at once (as folds would queue
  // them), timed until the queue is empty.
  if (!baseline && drain > 0) {
    const drained = performance.now()
    await sql`INSERT INTO segment_evaluation_pending (customer_id, source, due_at)
      SELECT id::uuid, 'events', now() FROM unnest(${ids.slice(0, drain)}::text[]) AS id`
    while ((await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM segment_evaluation_pending`)[0].n > 0) {
      await sleep(50)
    }
    const took = (performance.now() - drained) / 1000
    log(`drain: ${int(drain)} queued customers evaluated in ${took.toFixed(1)} s (${int(drain / took)} customers/s, no ingest)`)
  }

  // Arrival of each probe's joined event.
  const arrivals = new Map<string, number>()
  const nc = await connect({ servers: natsUrl })
  nc.subscribe("segments.>", {
    callback: (error, message) => {
      if (error !== null || !message.subject.endsWith(".joined")) return
      const at = performance.now()
      const event = message.json<{ readonly segmentId: string; readonly customerIds: ReadonlyArray<string> }>()
      for (const id of event.customerIds) arrivals.set(`${event.segmentId}/${id}`, at)
    }
  })
  await nc.flush()

  let queuePeak = 0
  let foldPeak = 0
  const sampling = setInterval(() => {
    void sql<Array<{ queued: number; unfolded: number }>>`SELECT
        (SELECT count(*) FROM segment_evaluation_pending)::int AS queued,
        (SELECT count(*) FROM event_batches WHERE folded_at IS NULL)::int AS unfolded`.then(([row]) => {
      queuePeak = Math.max(queuePeak, row.queued)
      foldPeak = Math.max(foldPeak, row.unfolded)
    })
  }, 500)

  const sent: Array<{ readonly kind: "update" | "track"; readonly key: string; readonly at: number }> = []
  /** When each probe's request was answered: the latency's share spent before the change was committed. */
  const answered = new Map<string, number>()
  const failedProbes: Array<string> = []
  const probe = (key: string, method: string, path: string, body: unknown) =>
    api(method, path, body).then(() => {
      answered.set(key, performance.now())
    }, (error: unknown) => {
      failedProbes.push(String(error))
    })
  const probing = (async () => {
    await sleep(warmupMs)
    const deadline = performance.now() + (baseline ? 0 : seconds * 1000)
    let n = 0
    while (performance.now() < deadline) {
      const customerId = probeCustomers[n]
      const at = performance.now()
      if (n % 2 === 0) {
        const key = `${tagged.id}/${customerId}`
        sent.push({ kind: "update", key, at })
        void probe(key, "PATCH", `/api/v1/customers/${customerId}`, { tags: ["probe", "rt-probe"] })
      } else {
        const key = `${buyers.id}/${customerId}`
        sent.push({ kind: "track", key, at })
        const occurredAt = new Date().toISOString()
        void probe(key, "POST", "/api/v1/events/batch", {
          events: Array.from({ length: 3 }, () => ({ customerId, type: "purchase", occurredAt, revenue: 10, currency: "USD" }))
        })
      }
      n++
      await sleep(Math.max(0, at + probeEvery - performance.now()))
    }
  })()

  const ingest = await runArrivalRate({
    scenario: "track-batch",
    target: { kind: "service", baseUrl, token },
    data: { ids, listFilter: "", deepCursors: [] },
    rate: eventsPerSecond / batchSize,
    warmupMs,
    durationMs: seconds * 1000,
    maxInFlight: 64,
    seed: `realtime${Date.now().toString(36)}`
  })
  await probing
  const waitUntil = performance.now() + giveUpMs
  while (performance.now() < waitUntil && sent.some((probe) => !arrivals.has(probe.key))) await sleep(100)
  clearInterval(sampling)

  log()
  log(`ingest: track-batch of ${batchSize} at ${fmt(eventsPerSecond / batchSize)} req/s for ${seconds} s: ${
    int(ingest.rps * batchSize)
  } events/s achieved, ack p50 ${ingest.p50.toFixed(1)} p99 ${ingest.p99.toFixed(1)} ms, non-2xx ${ingest.non2xx}, errors ${ingest.errors}`)
  for (const kind of ["update", "track"] as const) {
    const mine = sent.filter((probe) => probe.kind === kind)
    const latencies = mine.flatMap((probe) => {
      const at = arrivals.get(probe.key)
      return at === undefined ? [] : [at - probe.at]
    })
    const requests = mine.flatMap((probe) => {
      const at = answered.get(probe.key)
      return at === undefined ? [] : [at - probe.at]
    })
    log(`join latency after ${kind === "update" ? "PATCH (profile)" : "3 tracked purchases"}: ${latencies.length} probes, p50 ${
      fmt(percentile(latencies, 50))
    } p95 ${fmt(percentile(latencies, 95))} p99 ${fmt(percentile(latencies, 99))} max ${fmt(percentile(latencies, 100))} ms; missing ${
      mine.length - latencies.length
    }; of which the request itself p50 ${fmt(percentile(requests, 50))} p95 ${fmt(percentile(requests, 95))} ms`)
  }
  const [counted] = await sql<Array<{ members: number }>>`SELECT member_count AS members FROM customer_segments
    WHERE name = 'Bought 3 times in 30 days'`
  if (failedProbes.length > 0) log(`${failedProbes.length} probe requests failed, e.g. ${failedProbes[0]}`)
  log(`peaks sampled every 500 ms: evaluation queue ${int(queuePeak)} rows, batches waiting for the fold ${
    int(foldPeak)
  }; buyers segment ${int(counted?.members ?? 0)} members`)
  log(`load average at the end ${loadavg().map((n) => n.toFixed(2)).join(" ")}`)

  await nc.close()
  await sql.end()
  await stopAll()
  execFileSync("psql", [adminUrl, "-qc", `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`], { stdio: "ignore" })
  rmSync(workDir, { recursive: true, force: true })
}

main().catch(async (error: unknown) => {
  console.error(error)
  await stopAll()
  execFileSync("psql", [adminUrl, "-qc", `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`], { stdio: "ignore" })
  process.exit(1)
})
