/**
 * The segments phase of `npm run bench` (issue 15): segments of four shapes created through the API, so the
 * service's compiler (src/segments/CriteriaSql.ts) writes their SQL; each one's first calculation, then its
 * recalculation after BENCH_SEGMENT_CHANGED (1 %) of the customers changed; beside each, the bare COUNT(*) of
 * the very query the calculation selects its matches with (`matchingCustomers`, compiled here by the same
 * compiler with the job's instant and the latest CLV model), run through the `postgres` driver in the same run
 * under the run's settings (`calculationSettings`).
 * Then members paging (first page, cursors in the middle and on the last pages) against the raw baseline's
 * keyset query (load/baseline.ts), at BENCH_SEGMENT_CONCURRENCY connections.
 *
 * Events: the behavioural and churn shapes read the rollups. When fewer than BENCH_SEGMENT_EVENTS (3) events per
 * customer are stored, that many are seeded (load/seed-events.ts, skewed: customers unlike one another, as the CLV
 * fit needs them) and a CLV model is fitted over them.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted, References } from "effect"
import type postgres from "postgres"
import { ClvModels } from "../src/analytics/ClvModels.ts"
import type { Criterion } from "../src/domain/SegmentCriteria.ts"
import { calculationSettings, defaultCalculationWorkMem, matchingCustomers } from "../src/segments/CriteriaSql.ts"
import { currentEvaluationContext } from "../src/segments/Evaluation.ts"
import { lifetimeValueFactors } from "../src/segments/LifetimeValue.ts"
import { storedRuleMatch } from "../src/segments/RuleMatches.ts"
import { timeFit } from "./analytics.ts"
import { sleep } from "./net.ts"
import { runLoad } from "./run-load.ts"
import type { ScenarioData, SegmentScenario, Target } from "./scenarios.ts"
import { seedEvents } from "./seed-events.ts"

const env = process.env
export const segmentsPhase = env.BENCH_SEGMENTS !== "0"
const eventsPerCustomer = Number(env.BENCH_SEGMENT_EVENTS ?? 3)
const changedShare = Number(env.BENCH_SEGMENT_CHANGED ?? 0.01)
const concurrency = Number(env.BENCH_SEGMENT_CONCURRENCY ?? 10)
const pagingTargetMs = 200

interface Shape {
  readonly name: string
  readonly describe: string
  /** Reads only the customers' profiles: no events needed (the 10,000,000-customer run takes these). */
  readonly profileOnly: boolean
  readonly criteria: Criterion
}

export const shapes: ReadonlyArray<Shape> = [
  {
    name: "equality",
    describe: "country = DE",
    profileOnly: true,
    criteria: { kind: "country", in: ["DE"] }
  },
  {
    name: "range-geo",
    describe: "age 25-40 and country in GB, FR, ES, IT",
    profileOnly: true,
    criteria: {
      kind: "all",
      criteria: [{ kind: "age", atLeast: 25, atMost: 40 }, { kind: "country", in: ["GB", "FR", "ES", "IT"] }]
    }
  },
  {
    name: "or-behaviour",
    describe: "(US and a purchase in the last 90 days) or (tag vip and seen in the last 30 days) or 5+ events in 180 days",
    profileOnly: false,
    criteria: {
      kind: "any",
      criteria: [
        {
          kind: "all",
          criteria: [{ kind: "country", in: ["US"] }, { kind: "eventCount", type: "purchase", window: { lastDays: 90 }, atLeast: 1 }]
        },
        { kind: "all", criteria: [{ kind: "tags", match: "any", tags: ["vip"] }, { kind: "lastSeen", window: { lastDays: 30 } }] },
        { kind: "eventCount", window: { lastDays: 180 }, atLeast: 5 }
      ]
    }
  },
  {
    name: "clv-churn",
    describe: "revenue >= 20 and churn risk >= 0.5",
    profileOnly: false,
    criteria: { kind: "all", criteria: [{ kind: "revenue", atLeast: 20 }, { kind: "churnRisk", atLeast: 0.5 }] }
  }
]

const selectedShapes = (() => {
  const names = env.BENCH_SEGMENT_SHAPES?.split(",").filter((name) => name !== "")
  if (names === undefined) return shapes
  for (const name of names) {
    if (!shapes.some((shape) => shape.name === name)) {
      throw new Error(`unknown segment shape ${name}; use ${shapes.map((shape) => shape.name).join(",")}`)
    }
  }
  return shapes.filter((shape) => names.includes(shape.name))
})()

export interface SegmentsOptions {
  readonly sql: postgres.Sql
  readonly dbUrl: string
  readonly service: Target
  readonly baseline: Target
  readonly data: ScenarioData
  readonly warmupMs: number
  readonly durationMs: number
  readonly log: (line?: string) => void
}

interface Job {
  readonly id: string
  readonly status: string
  readonly startedAt: string | null
  readonly members: number | null
  readonly joined: number | null
  readonly left: number | null
  readonly durationMs: number | null
  readonly error: string | null
}

interface Measured {
  readonly shape: string
  readonly run: "first" | "recalculation"
  readonly members: number
  readonly joined: number
  readonly left: number
  readonly jobSeconds: number
  readonly wallSeconds: number
  readonly rawCount: number
  readonly rawSeconds: number
}

const api = async (service: Target, method: string, path: string, body?: unknown) => {
  const response = await fetch(service.baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${service.token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${path} -> ${response.status} ${text.slice(0, 500)}`)
  return JSON.parse(text) as unknown
}

/** Polls the job until it ends; the wall time counts from `since`. */
const awaitJob = async (service: Target, segmentId: string, jobId: string, since: number) => {
  for (;;) {
    const job = (await api(service, "GET", `/api/v1/customers/segments/${segmentId}/calculations/${jobId}`)) as Job
    if (job.status === "succeeded" || job.status === "failed") {
      if (job.status === "failed") throw new Error(`calculation ${jobId} failed: ${job.error}`)
      return { job, wallSeconds: (performance.now() - since) / 1000 }
    }
    if (performance.now() - since > 900_000) throw new Error(`calculation ${jobId} did not finish within 15 minutes`)
    await sleep(50)
  }
}

/**
 * The calculation's query for the criteria at the job's instant, as the service compiles it, counted: SQL text
 * and parameters from the same compiler, run through the `postgres` driver (which the service's client wraps).
 */
const compileCount = (dbUrl: string, criteria: Criterion, now: number) =>
  Effect.runPromise(Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const context = { ...(yield* currentEvaluationContext), now }
    const lifetimeValue = yield* Effect.orDie(lifetimeValueFactors(sql, [criteria], context))
    return {
      settings: calculationSettings(sql, defaultCalculationWorkMem).compile(),
      count: sql`SELECT count(*)::int AS n FROM (${matchingCustomers(sql, criteria, {
        ...context,
        ruleMatches: storedRuleMatch(sql),
        lifetimeValueFactors: lifetimeValue
      })}) matches`.compile()
    }
  }).pipe(
    Effect.provide(ClvModels.layer.pipe(
      Layer.provideMerge(PgClient.layer({ url: Redacted.make(dbUrl), maxConnections: 1 })),
      Layer.provide(Layer.succeed(References.MinimumLogLevel, "Warn"))
    ))
  ))

const rawCount = async (options: SegmentsOptions, criteria: Criterion, now: number) => {
  const { settings, count: [text, params] } = await compileCount(options.dbUrl, criteria, now)
  // In a transaction with the run's settings, as the calculation runs it.
  return options.sql.begin(async (tx) => {
    await tx.unsafe(settings[0], settings[1] as Array<postgres.ParameterOrJSON<never>>)
    const started = performance.now()
    const [{ n }] = await tx.unsafe<Array<{ n: number }>>(text, params as Array<postgres.ParameterOrJSON<never>>)
    return { count: n, seconds: (performance.now() - started) / 1000 }
  })
}

/**
 * BENCH_SEGMENT_CHANGED of the live customers change what the shapes read: country, age and the vip tag on the
 * profile, and a purchase today in the rollups (as the folder would fold it; no raw event rows).
 */
const changeCustomers = async (sql: postgres.Sql, live: number) => {
  const count = Math.max(1, Math.round(live * changedShare))
  const started = performance.now()
  await sql.begin(async (tx) => {
    await tx`CREATE TEMP TABLE bench_changed ON COMMIT DROP AS
      SELECT id FROM customers WHERE status <> 'DELETED' ORDER BY random() LIMIT ${count}`
    await tx`UPDATE customers c SET
        location = jsonb_set(coalesce(c.location, '{}'), '{country}',
          to_jsonb((ARRAY['DE', 'GB', 'FR', 'US', 'IT', 'NL'])[1 + floor(random() * 6)::int])),
        age = 18 + floor(random() * 60)::int,
        tags = CASE WHEN 'vip' = ANY(c.tags) THEN array_remove(c.tags, 'vip') ELSE array_append(c.tags, 'vip') END,
        updated_at = now(), version = c.version + 1
      FROM bench_changed b WHERE c.id = b.id`
    await tx`INSERT INTO customer_daily_activity AS d (customer_id, day, type, events, revenue)
      SELECT id, (now() AT TIME ZONE 'UTC')::date, 'purchase', 1, 42 FROM bench_changed
      ON CONFLICT (customer_id, day, type) DO UPDATE SET events = d.events + 1, revenue = d.revenue + 42`
    await tx`INSERT INTO customer_type_activity AS t (customer_id, type, events, revenue, last_on)
      SELECT id, 'purchase', 1, 42, (now() AT TIME ZONE 'UTC')::date FROM bench_changed
      ON CONFLICT (customer_id, type) DO UPDATE SET events = t.events + 1, revenue = t.revenue + 42,
        last_on = excluded.last_on`
    await tx`INSERT INTO customer_activity AS a (customer_id, first_seen_at, last_seen_at, events, revenue, purchase_days,
        first_purchase_on, last_purchase_on, active_days, folded_at)
      SELECT id, now(), now(), 1, 42, 1, (now() AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date, 1, now()
      FROM bench_changed
      ON CONFLICT (customer_id) DO UPDATE SET last_seen_at = now(), events = a.events + 1, revenue = a.revenue + 42,
        purchase_days = a.purchase_days + 1, first_purchase_on = coalesce(a.first_purchase_on, excluded.first_purchase_on),
        last_purchase_on = excluded.last_purchase_on, active_days = a.active_days + 1, folded_at = now()`
  })
  return { count, seconds: (performance.now() - started) / 1000 }
}

/** Member ids at these offsets of the segment's current members, as page cursors. */
const cursorsAt = async (sql: postgres.Sql, segmentId: string, offsets: ReadonlyArray<number>) => {
  const cursors: Array<string> = []
  for (const offset of offsets) {
    const [row] = await sql<Array<{ id: string }>>`SELECT customer_id::text AS id FROM customer_segment_memberships
      WHERE segment_id = ${segmentId} AND left_at IS NULL ORDER BY customer_id OFFSET ${offset} LIMIT 1`
    if (row !== undefined) cursors.push(row.id)
  }
  return cursors
}

const fmt = (n: number, digits = 2) => Number.isFinite(n) ? n.toFixed(digits) : "-"
const int = (n: number) => Number.isFinite(n) ? Math.round(n).toLocaleString("en") : "-"

export const runSegments = async (options: SegmentsOptions) => {
  const { log, sql, service } = options
  const [{ live }] = await sql<Array<{ live: number }>>`SELECT count(*)::int AS live FROM customers WHERE status <> 'DELETED'`
  const targetSeconds = live <= 1_000_000 ? 5 : 60
  log()
  log(`## Segments (${int(live)} live customers; shapes ${selectedShapes.map((shape) => shape.name).join(", ")})`)

  let seed = undefined
  if (selectedShapes.some((shape) => !shape.profileOnly)) {
    const [{ n: stored }] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM customer_events`
    if (stored < live * eventsPerCustomer) {
      seed = await seedEvents(sql, { events: live * eventsPerCustomer, heavyEvents: 0, skewed: true, log: (line) => log(line) })
    }
    const [model] = await sql`SELECT 1 FROM clv_models WHERE status = 'succeeded' AND finished_at > (
      SELECT coalesce(max(received_at), '-infinity') FROM customer_events)`
    if (model === undefined || seed !== undefined) {
      const fit = await timeFit(sql, service)
      log(`CLV fit for the churn shape: ${fit.status}, ${fit.duration_ms} ms, ${fit.customers} customers, ${fit.repeat_customers} repeat buyers`)
    }
  }
  // Earlier runs' bench segments (BENCH_REUSE): their stays would make the membership table bigger run after run.
  await sql`DELETE FROM customer_segments WHERE name LIKE 'bench %'`
  await sql`VACUUM (ANALYZE) customer_segment_memberships`

  const runId = Date.now().toString(36)
  const measured: Array<Measured> = []
  const segmentIds = new Map<string, string>()
  const report = (m: Measured) => {
    measured.push(m)
    log(`${`${m.shape} ${m.run}`.padEnd(28)} members ${int(m.members).padStart(9)} (+${int(m.joined)} -${int(m.left)})  job ${
      fmt(m.jobSeconds)
    } s  wall ${fmt(m.wallSeconds)} s  raw COUNT(*) ${int(m.rawCount)} in ${fmt(m.rawSeconds)} s`)
  }

  for (const shape of selectedShapes) {
    const started = performance.now()
    const segment = (await api(service, "POST", "/api/v1/customers/segments", {
      name: `bench ${shape.name} ${runId}`,
      description: shape.describe,
      type: "dynamic",
      criteria: shape.criteria
    })) as { readonly id: string }
    segmentIds.set(shape.name, segment.id)
    // The calculation the creation queued, in the creation's transaction.
    const [created] = await sql<Array<{ id: string }>>`SELECT id::text AS id FROM segment_calculations
      WHERE segment_id = ${segment.id} AND trigger = 'created'`
    const { job, wallSeconds } = await awaitJob(service, segment.id, created.id, started)
    const raw = await rawCount(options, shape.criteria, Date.parse(job.startedAt ?? ""))
    report({
      shape: shape.name, run: "first", members: job.members ?? NaN, joined: job.joined ?? NaN, left: job.left ?? NaN,
      jobSeconds: (job.durationMs ?? NaN) / 1000, wallSeconds, rawCount: raw.count, rawSeconds: raw.seconds
    })
  }

  const changed = await changeCustomers(sql, live)
  log(`changed ${int(changed.count)} customers (${fmt(changedShare * 100, 1)} %: country, age, vip tag, a purchase today) in ${
    fmt(changed.seconds)
  } s`)
  await sql`ANALYZE customers, customer_activity, customer_daily_activity, customer_type_activity`

  for (const shape of selectedShapes) {
    const segmentId = segmentIds.get(shape.name) ?? ""
    const started = performance.now()
    const queued = (await api(service, "POST", `/api/v1/customers/segments/${segmentId}/calculate`)) as Job
    const { job, wallSeconds } = await awaitJob(service, segmentId, queued.id, started)
    const raw = await rawCount(options, shape.criteria, Date.parse(job.startedAt ?? ""))
    report({
      shape: shape.name, run: "recalculation", members: job.members ?? NaN, joined: job.joined ?? NaN,
      left: job.left ?? NaN, jobSeconds: (job.durationMs ?? NaN) / 1000, wallSeconds, rawCount: raw.count,
      rawSeconds: raw.seconds
    })
  }

  // Paging over the largest segment's members, once the relay has published the runs' events (as before every
  // run of the scenario matrix, load/bench.ts).
  for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
    const [{ n }] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`
    if (n === 0) break
    await sleep(250)
  }
  const largest = measured.filter((m) => m.run === "recalculation").sort((a, b) => b.members - a.members)[0]
  const pagingSegment = segmentIds.get(largest.shape) ?? ""
  const pages = largest.members
  const middle = await cursorsAt(sql, pagingSegment, Array.from({ length: 40 }, (_, i) => Math.floor(pages * (0.4 + (0.2 * i) / 40))))
  const last = await cursorsAt(
    sql,
    pagingSegment,
    Array.from({ length: 40 }, (_, i) => Math.max(0, pages - 1 - Math.floor((Math.min(pages, 4000) * i) / 40)))
  )
  const data: ScenarioData = { ...options.data, memberSegment: pagingSegment, memberCursors: { middle, last } }
  log(`paging ${largest.shape}'s ${int(pages)} members, 100 a page, ${concurrency} connections: ${middle.length} cursors at 40-60 %, ${
    last.length
  } on the last pages`)
  const paging = []
  for (const scenario of ["members-first", "members-middle", "members-last"] as const satisfies ReadonlyArray<SegmentScenario>) {
    for (const target of [service, options.baseline]) {
      const result = await runLoad({
        scenario, target, data, concurrency, warmupMs: options.warmupMs, durationMs: options.durationMs,
        seed: `segments${Date.now().toString(36)}`
      })
      paging.push(result)
      log(`${`${scenario} c=${concurrency}`.padEnd(24)} ${target.kind.padEnd(9)} ${int(result.rps).padStart(7)} rps  p50 ${
        fmt(result.p50, 1)
      } p95 ${fmt(result.p95, 1)} p99 ${fmt(result.p99, 1)} ms  non-2xx ${result.non2xx}`)
      for (const sample of [...result.bodySamples, ...result.errorSamples].slice(0, 3)) log(`    ! ${sample}`)
    }
  }

  log()
  log(`### Segment calculation (${int(live)} live customers; customers/s = live customers / seconds; ratio = service customers/s / raw customers/s)`)
  log()
  log("| shape | run | members | joined | left | job s | wall s | customers/s (job) | raw COUNT(*) | raw s | raw customers/s | ratio | job < " +
    `${targetSeconds} s |`)
  log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
  for (const m of measured) {
    const serviceRate = live / m.jobSeconds
    const rawRate = live / m.rawSeconds
    log(`| ${m.shape} | ${m.run} | ${int(m.members)} | ${int(m.joined)} | ${int(m.left)} | ${fmt(m.jobSeconds)} | ${fmt(m.wallSeconds)} | ${
      int(serviceRate)
    } | ${int(m.rawCount)}${m.rawCount === m.members ? "" : " (differs)"} | ${fmt(m.rawSeconds)} | ${int(rawRate)} | ${
      fmt((serviceRate / rawRate) * 100, 1)
    }% | ${m.jobSeconds < targetSeconds ? "pass" : "FAIL"} |`)
  }
  log()
  log(`### Members paging (${int(pages)} members of ${largest.shape}; ms; ratio = service rps / baseline rps)`)
  log()
  log(`| page | service rps | svc p50 | svc p95 | svc p99 | baseline rps | base p50 | base p95 | ratio | p95 < ${pagingTargetMs} |`)
  log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
  for (let i = 0; i < paging.length; i += 2) {
    const s = paging[i]
    const b = paging[i + 1]
    log(`| ${s.scenario.slice("members-".length)} | ${int(s.rps)} | ${fmt(s.p50, 1)} | ${fmt(s.p95, 1)} | ${fmt(s.p99, 1)} | ${
      int(b.rps)
    } | ${fmt(b.p50, 1)} | ${fmt(b.p95, 1)} | ${fmt((s.rps / b.rps) * 100, 1)}% | ${
      s.non2xx === 0 && s.p95 < pagingTargetMs ? "pass" : "FAIL"
    } |`)
  }
  for (const shape of selectedShapes) log(`  ${shape.name.padEnd(13)} ${shape.describe}`)
  return { live, seed, changed, calculations: measured, paging }
}
