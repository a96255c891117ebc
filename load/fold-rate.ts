/**
 * `npx node load/fold-rate.ts`: how fast committed event batches are folded
 * into the rollups, and how long fleet reports take over a large base.
 *
 * Seeds FOLD_CUSTOMERS customers (load/seed.ts), stores FOLD_EVENTS events
 * through EventStore in batches of FOLD_BATCH (as group commit would) with
 * the folder stopped, then starts FOLD_FOLDERS folders and times the drain.
 * Then counts signups per day once (SignupCountsLive) and times the fleet and
 * cohort reports (FleetReports) a few times each.
 *
 * Environment (defaults in brackets):
 *   FOLD_CUSTOMERS [1000000]  FOLD_EVENTS [500000]  FOLD_BATCH [1000]  FOLD_FOLDERS [1]
 *   FOLD_MAX_BATCHES  batches per fold [32]
 *   FOLD_DB  database, dropped and recreated [cms_bench_fold]; FOLD_REUSE=1 keeps its customers
 *   FOLD_ADMIN_URL [postgres://postgres@127.0.0.1:5432/test]
 */
import { ConfigProvider, Effect, Layer } from "effect"
import postgres from "postgres"
import type { CustomerId } from "../src/domain/Customer.ts"
import type { EventId } from "../src/domain/Event.ts"
import { EventStore, type EventToStore } from "../src/events/EventStore.ts"
import { Keyring } from "../src/privacy/Keyring.ts"
import { FleetReports, SignupCountsLive } from "../src/events/FleetReports.ts"
import { RollupFolderLive } from "../src/events/RollupFolder.ts"
import { DatabaseLive } from "../src/platform/Database.ts"
import { uuidv7 } from "../src/platform/Ids.ts"
import { SegmentEvaluationQueue } from "../src/segments/EvaluationQueue.ts"
import { Nats } from "../src/platform/Nats.ts"
import { prng, seedCustomers } from "./seed.ts"

const env = (name: string, fallback: string) => process.env[name] ?? fallback
const customers = Number(env("FOLD_CUSTOMERS", "1000000"))
const eventCount = Number(env("FOLD_EVENTS", "500000"))
const batchSize = Number(env("FOLD_BATCH", "1000"))
const folders = env("FOLD_FOLDERS", "1")
const maxBatches = env("FOLD_MAX_BATCHES", "32")
const database = env("FOLD_DB", "cms_bench_fold")
const reuse = process.env.FOLD_REUSE === "1"
const adminUrl = env("FOLD_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/test")
const url = new URL(adminUrl)
url.pathname = `/${database}`

const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
if (!reuse) {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  await admin.unsafe(`CREATE DATABASE ${database}`)
}
await admin.end()

const config = ConfigProvider.layer(ConfigProvider.fromEnvRecord({
  DATABASE_URL: url.href,
  ROLLUP_FOLDERS: folders,
  ROLLUP_FOLD_MAX_BATCHES: maxBatches,
  DB_POOL_MAX: "8"
}))
const Services = Layer.mergeAll(EventStore.layer, FleetReports.layer, Nats.layer, SegmentEvaluationQueue.layer).pipe(
  Layer.provideMerge(Keyring.layer),
  Layer.provideMerge(DatabaseLive),
  Layer.provide(config)
)

const seconds = (from: number) => (performance.now() - from) / 1000
const sql = postgres(url.href, { max: 2, onnotice: () => {} })

const program = Effect.gen(function*() {
  const store = yield* EventStore
  if (!reuse) {
    yield* Effect.promise(() => seedCustomers(sql, customers))
  }
  yield* Effect.promise(() => sql`TRUNCATE event_batches, customer_events, customer_activity, customer_daily_activity,
    customer_revenue, customer_sessions, customer_hourly_activity, customer_channel_activity, customer_active_periods,
    fleet_activity, cohort_activity`)
  const pool = (yield* Effect.promise(() =>
    sql<Array<{ id: string }>>`SELECT id FROM customers WHERE status <> 'DELETED' LIMIT 200000`
  )).map((row) => row.id)
  console.log(`${customers.toLocaleString("en")} customers; events for ${pool.length.toLocaleString("en")} of them`)

  const random = prng(7)
  const now = Date.now()
  const types = ["page_view", "page_view", "page_view", "product_view", "add_to_cart", "sign_in", "email_open", "search"]
  const event = (): EventToStore => {
    const purchase = random() < 0.05
    const occurredAt = now - Math.floor(random() * 60 * 86_400_000)
    return {
      id: uuidv7(occurredAt) as EventId,
      customerId: pool[Math.floor(random() * pool.length)] as CustomerId,
      type: purchase ? "purchase" : types[Math.floor(random() * types.length)],
      occurredAt: new Date(occurredAt).toISOString(),
      sessionId: random() < 0.5 ? `s${Math.floor(random() * 1e6)}` : null,
      channel: random() < 0.7 ? ["web", "app", "email"][Math.floor(random() * 3)] : null,
      device: null,
      properties: null,
      revenue: purchase ? Math.round(random() * 10_000) / 100 : null,
      currency: purchase ? (random() < 0.9 ? "USD" : "EUR") : null,
      planViolations: null,
      personalProperties: []
    }
  }

  const storeStarted = performance.now()
  yield* Effect.forEach(
    Array.from({ length: Math.ceil(eventCount / batchSize) }),
    () => store.store(Array.from({ length: batchSize }, event), new Date()),
    { concurrency: 2 }
  )
  const stored = seconds(storeStarted)
  console.log(`stored ${eventCount.toLocaleString("en")} events in ${stored.toFixed(1)} s (${
    Math.round(eventCount / stored).toLocaleString("en")
  } events/s, the folder stopped)`)
  yield* Effect.promise(() => sql`VACUUM ANALYZE event_batches, customer_events`)

  const waiting = Effect.promise(() => sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM event_batches`)
  const foldStarted = performance.now()
  yield* Effect.scoped(Effect.gen(function*() {
    yield* Layer.build(RollupFolderLive)
    while ((yield* waiting)[0].n > 0) yield* Effect.sleep("100 millis")
  }))
  const folded = seconds(foldStarted)
  console.log(`folded ${eventCount.toLocaleString("en")} events in ${folded.toFixed(1)} s (${
    Math.round(eventCount / folded).toLocaleString("en")
  } events/s; ${folders} folder(s), up to ${maxBatches} batches of ${batchSize} per fold)`)
  yield* Effect.promise(() => sql`VACUUM ANALYZE`)

  const countStarted = performance.now()
  yield* Effect.promise(() => sql`TRUNCATE customer_signups`)
  yield* Effect.scoped(Effect.gen(function*() {
    yield* Layer.build(SignupCountsLive)
    const counted = Effect.promise(() => sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM customer_signups`)
    while ((yield* counted)[0].n === 0) yield* Effect.sleep("100 millis")
  }))
  console.log(`signups per day counted from scratch in ${seconds(countStarted).toFixed(1)} s`)

  const reports = yield* FleetReports
  const today = new Date().toISOString().slice(0, 10)
  const time = (name: string, run: Effect.Effect<unknown>) =>
    Effect.gen(function*() {
      const runs: Array<number> = []
      for (let n = 0; n < 5; n++) {
        const started = performance.now()
        yield* run
        runs.push(performance.now() - started)
      }
      runs.sort((a, b) => a - b)
      console.log(`${name}: median ${runs[2].toFixed(0)} ms, max ${runs[4].toFixed(0)} ms`)
    })
  yield* time("fleet, 30 days by day", reports.fleet({ period: "day", to: today }))
  yield* time("fleet, 2 years by week", reports.fleet({ period: "week", from: "2024-12-01", to: today }))
  yield* time("fleet, 2 years by month", reports.fleet({ period: "month", from: "2024-12-01", to: today }))
  yield* time("cohorts, 2 years", reports.cohorts({ from: "2024-12-01", to: today }))
})

await Effect.runPromise(program.pipe(Effect.provide(Services), Effect.provide(config)))
await sql.end()
