/**
 * What publishing tracked events to JetStream costs the ingest rate: the same
 * batch load (1,000 events per request) against the service without NATS (no
 * publisher) and with it (every event published, one message per event), each
 * on a fresh database, and how fast the publisher drains what was committed.
 *
 *   npx node load/publish-throughput.ts
 *   PUBLISH_BENCH_SECONDS [20]  PUBLISH_BENCH_CONCURRENCY [4]  PUBLISH_BENCH_CUSTOMERS [20000]
 *   PUBLISH_BENCH_MODES [off,on]  PUBLISH_BENCH_ADMIN_URL [postgres://postgres@127.0.0.1:5432/test]
 */
import { spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, openSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Jose from "jose"
import postgres from "postgres"
import { freePort, sleep } from "./net.ts"
import { seedCustomers } from "./seed.ts"

const env = process.env
const root = fileURLToPath(new URL("..", import.meta.url))
const seconds = Number(env.PUBLISH_BENCH_SECONDS ?? 20)
const concurrency = Number(env.PUBLISH_BENCH_CONCURRENCY ?? 4)
const customers = Number(env.PUBLISH_BENCH_CUSTOMERS ?? 20_000)
const modes = (env.PUBLISH_BENCH_MODES ?? "off,on").split(",")
const adminUrl = env.PUBLISH_BENCH_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const jwtSecret = "publish-bench-secret-not-for-production-0123"
const types = ["page_view", "page_view", "page_view", "product_view", "add_to_cart", "purchase", "sign_in", "email_open"]

const int = (n: number) => Math.round(n).toLocaleString("en")

const children: Array<ChildProcess> = []
const stop = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once("exit", resolve))
  child.kill("SIGTERM")
  await Promise.race([exited, sleep(10_000)])
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
}

const workDir = mkdtempSync(join(tmpdir(), "cms-publish-bench-"))
const natsPort = await freePort()
const nats = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(natsPort), "-js", "-sd", join(workDir, "nats")], {
  stdio: ["ignore", openSync(join(workDir, "nats.log"), "w"), openSync(join(workDir, "nats.log"), "a")]
})
children.push(nats)
await sleep(500)
const natsUrl = `nats://127.0.0.1:${natsPort}`

const token = await new Jose.SignJWT({ role: "admin" })
  .setProtectedHeader({ alg: "HS256" }).setSubject("publish-bench").setIssuer("customer-service")
  .setAudience("customer-service-api").setIssuedAt().setExpirationTime("1h")
  .sign(new TextEncoder().encode(jwtSecret))

const run = async (mode: string) => {
  const dbName = `cms_publish_bench_${mode}`
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
  await admin.unsafe(`CREATE DATABASE ${dbName}`)
  await admin.end()
  const dbUrl = new URL(adminUrl)
  dbUrl.pathname = `/${dbName}`
  const port = await freePort()
  const logFile = join(workDir, `service-${mode}.log`)
  const out = openSync(logFile, "w")
  const service = spawn(process.execPath, ["src/main.ts"], {
    cwd: root,
    env: {
      ...Object.fromEntries(Object.entries(env).filter(([name]) => name !== "NATS_URL")),
      PORT: String(port),
      DATABASE_URL: dbUrl.href,
      JWT_SECRET: jwtSecret,
      ACCESS_LOG: "false",
      DB_POOL_MAX: "20",
      ...(mode === "off" ? {} : { NATS_URL: natsUrl })
    },
    stdio: ["ignore", out, out]
  })
  children.push(service)
  const base = `http://127.0.0.1:${port}`
  for (let tries = 0; ; tries++) {
    if (await fetch(`${base}/health`).then((r) => r.ok, () => false)) break
    if (tries > 300) throw new Error(`service did not start; log ${logFile}`)
    await sleep(100)
  }
  const sql = postgres(dbUrl.href, { max: 2, onnotice: () => {} })
  await seedCustomers(sql, customers, () => {})
  const ids = (await sql<Array<{ id: string }>>`SELECT id::text FROM customers WHERE status <> 'DELETED'`).map((r) => r.id)
  let seed = 7
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648
  const bodies = Array.from({ length: 32 }, () =>
    JSON.stringify({
      events: Array.from({ length: 1_000 }, () => {
        const type = types[Math.floor(random() * types.length)]
        return {
          customerId: ids[Math.floor(random() * ids.length)],
          type,
          sessionId: `s-${Math.floor(random() * 1e6)}`,
          channel: "web",
          properties: { path: "/products/42", ref: "campaign" },
          ...(type === "purchase" ? { revenue: 19.99, currency: "USD" } : {})
        }
      })
    }))
  const headers = { "content-type": "application/json", authorization: `Bearer ${token}` }
  // Warm-up, then the measured window.
  let stored = 0
  let refused = 0
  let measuring = false
  const until = { warm: Date.now() + 3_000, end: Date.now() + 3_000 + seconds * 1_000 }
  const worker = async (n: number) => {
    let i = n
    while (Date.now() < until.end) {
      const response = await fetch(`${base}/api/v1/events/batch`, { method: "POST", headers, body: bodies[i++ % bodies.length] })
      if (response.ok) {
        const result = await response.json() as { stored: number }
        if (measuring) stored += result.stored
      } else {
        await response.arrayBuffer()
        if (measuring) refused++
      }
      if (!measuring && Date.now() >= until.warm) measuring = true
    }
  }
  const started = { at: 0 }
  setTimeout(() => (started.at = Date.now()), until.warm - Date.now())
  await Promise.all(Array.from({ length: concurrency }, (_, n) => worker(n)))
  const elapsed = (Date.now() - started.at) / 1000
  const [{ backlog }] = await sql<Array<{ backlog: number }>>`SELECT coalesce(sum(cardinality(event_ids)), 0)::int AS backlog
    FROM event_batches WHERE published_at IS NULL`
  const line = [`${mode}: ingest ${int(stored / elapsed)} events/s (${int((stored / elapsed) * 60)} /min), ${refused} refused`]
  if (mode !== "off") {
    const drainStart = Date.now()
    let left = backlog
    while (left > 0 && Date.now() - drainStart < 120_000) {
      await sleep(200)
      ;[{ backlog: left }] = await sql<Array<{ backlog: number }>>`SELECT coalesce(sum(cardinality(event_ids)), 0)::int AS backlog
        FROM event_batches WHERE published_at IS NULL`
    }
    const [{ total }] = await sql<Array<{ total: number }>>`SELECT count(*)::int AS total FROM customer_events`
    const [{ first, last }] = await sql<Array<{ first: Date; last: Date }>>`SELECT min(committed_at) AS first,
      max(published_at) AS last FROM event_batches`
    const publishSeconds = (last.getTime() - first.getTime()) / 1000
    line.push(`backlog at end of load ${int(backlog)} events, drained in ${((Date.now() - drainStart) / 1000).toFixed(1)} s`)
    line.push(`published ${int(total)} events in ${publishSeconds.toFixed(1)} s from first commit (${int(total / publishSeconds)} events/s)`)
  }
  console.log(line.join("; "))
  await sql.end()
  await stop(service)
  if (env.PUBLISH_BENCH_KEEP !== "1") {
    const cleanup = postgres(adminUrl, { max: 1, onnotice: () => {} })
    await cleanup.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
    await cleanup.end()
  }
}

try {
  for (const mode of modes) await run(mode)
} finally {
  for (const child of children) await stop(child)
  rmSync(workDir, { recursive: true, force: true })
}
