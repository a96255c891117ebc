/**
 * `npm run bench`: seeds a fresh database, starts the service and a raw
 * baseline (node:http + postgres, same SQL) side by side, and drives both with
 * the same request streams from autocannon (load/run-load.ts), run in this
 * process. The get scenario also runs against a second service with
 * ACCESS_LOG=true, to show what the access log costs.
 *
 * Environment (defaults in brackets):
 *   BENCH_CUSTOMERS   rows to seed [1000000]
 *   BENCH_DURATION    measured seconds per run [10]      BENCH_WARMUP  warm-up seconds [2]
 *   BENCH_CONCURRENCY comma list of connection counts [50,500]
 *   BENCH_SCENARIOS   comma list of hello,get,list,list-deep,create,update [all]; "" for none
 *   BENCH_INGEST=0    skip the ingest phase (load/ingest.ts: raw COPY, batch and single-event tracking)
 *   BENCH_BATCH_SIZE  events per batch request [500]   BENCH_INGEST_CONCURRENCY  batch connections [8]
 *   BENCH_EVENT_DEVICE=1  tracked events carry device details (sealed at rest) [none]
 *   BENCH_INGEST_SUSTAIN  seconds at 1,000,000 events/min [60]   BENCH_INGEST_COPY_CONNECTIONS [4]
 *   BENCH_EVENTS      events seeded for the analytics phase (load/analytics.ts) [10000000]; 0 skips the phase
 *   BENCH_HEAVY_EVENTS  events of the heaviest customer [100000]   BENCH_ANALYTICS_CONCURRENCY [10]
 *   BENCH_PRIVACY=0   skip the privacy phase (load/privacy.ts: export and erasure of the customer with BENCH_HEAVY_EVENTS)
 *   BENCH_SEGMENTS=0  skip the segments phase (load/segments.ts: four shapes' calculation and recalculation, members paging)
 *   BENCH_SEGMENT_SHAPES  comma list of equality,range-geo,or-behaviour,clv-churn [all]
 *   BENCH_SEGMENT_EVENTS  events per customer seeded for the segments when fewer are stored [3]
 *   BENCH_SEGMENT_CHANGED  share of customers changed before the recalculation [0.01]
 *   BENCH_SEGMENT_CONCURRENCY  connections of the members paging runs [10]
 *   BENCH_ENCRYPTION=0  skip the encryption phase (load/encryption.ts: get and create with PII_ENCRYPTION on and off,
 *                     list search over sealed names); BENCH_ENCRYPTION_CUSTOMERS [2000], BENCH_ENCRYPTION_CONCURRENCY [50]
 *   BENCH_TARGETS     service,baseline [both]
 *   BENCH_ACCESS_LOG  comma list of scenarios also run against a service with ACCESS_LOG=true [get]; "" for none
 *   BENCH_POOL        database pool size of both servers [20]
 *   BENCH_DB          database name, dropped and recreated [cms_bench]
 *   BENCH_ADMIN_URL   a URL to the server's admin database [postgres://postgres@127.0.0.1:5432/test]
 *   BENCH_NATS_URL    NATS to use; unset: a private nats-server if installed, else nats://127.0.0.1:4222
 *   BENCH_REUSE=1     keep an existing, already seeded BENCH_DB (skip drop + seed) for quick iterations
 *   BENCH_KEEP_DB=1   do not drop BENCH_DB at the end
 *   BENCH_PIN=1       pin the servers to CPU 0 and this process (the load generator) to CPU 1 (PostgreSQL stays unpinned)
 *   BENCH_PROFILE=dir run the service with --cpu-prof into dir
 *   BENCH_JSON=file   also write every result as JSON
 *   BENCH_SERVICE_DIR another checkout whose src/main.ts to run as the service (for before/after comparisons)
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Jose from "jose"
import postgres from "postgres"
import { benchEvents, runAnalytics } from "./analytics.ts"
import { encryptionPhase, runEncryption } from "./encryption.ts"
import { runIngest } from "./ingest.ts"
import { privacyPhase, runPrivacy } from "./privacy.ts"
import { runSegments, segmentsPhase } from "./segments.ts"
import { freePort, sleep } from "./net.ts"
import { type LoadResult, runLoad } from "./run-load.ts"
import {
  describe,
  accessLogTarget,
  p95TargetMs,
  ratioTarget,
  requestsFor,
  type ScenarioData,
  type ScenarioName,
  scenarioNames,
  type Target
} from "./scenarios.ts"
import { countryShare, seedCustomers, statusShares } from "./seed.ts"

const env = process.env
const root = fileURLToPath(new URL("..", import.meta.url))
const customers = Number(env.BENCH_CUSTOMERS ?? 1_000_000)
const durationMs = Number(env.BENCH_DURATION ?? 10) * 1000
const warmupMs = Number(env.BENCH_WARMUP ?? 2) * 1000
const concurrencies = (env.BENCH_CONCURRENCY ?? "50,500").split(",").map(Number)
const scenarios = (env.BENCH_SCENARIOS?.split(",").filter((name) => name !== "") ?? scenarioNames) as Array<ScenarioName>
const ingest = env.BENCH_INGEST !== "0"
const analytics = benchEvents > 0
const targets = (env.BENCH_TARGETS ?? "service,baseline").split(",") as Array<"service" | "baseline">
const accessLogScenarios = (env.BENCH_ACCESS_LOG ?? "get").split(",").filter((name) => name !== "") as Array<ScenarioName>
const pool = Number(env.BENCH_POOL ?? 20)
const dbName = env.BENCH_DB ?? "cms_bench"
const adminUrl = env.BENCH_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const reuse = env.BENCH_REUSE === "1"
const pin = env.BENCH_PIN === "1"
const jwtSecret = env.BENCH_JWT_SECRET ?? "bench-secret-not-for-production-0123456789"
const listFilter = "status=ACTIVE&country=NL"

for (const name of [...scenarios, ...accessLogScenarios]) {
  if (!scenarioNames.includes(name)) throw new Error(`unknown scenario ${name}; use ${scenarioNames.join(",")}`)
}

const dbUrl = (() => {
  const url = new URL(adminUrl)
  url.pathname = `/${dbName}`
  return url.href
})()

const log = (line = "") => console.log(line)
const fmt = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : "-"
const int = (n: number) => Math.round(n).toLocaleString("en")

const children: Array<ChildProcess> = []
/** Children stopped on purpose: their exit is not reported as a crash. */
const stopped = new Set<ChildProcess>()
const cleanups: Array<() => void> = []
/** SIGTERM, then SIGKILL after 15 s (a profiled service writes its profile on exit). */
const stop = (child: ChildProcess) => {
  stopped.add(child)
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      resolve()
    }, 15_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })
}
const stopAll = async () => {
  await Promise.all(children.map(stop))
  for (const cleanup of cleanups) cleanup()
}
process.on("SIGINT", () => {
  void stopAll().finally(() => process.exit(130))
})

const waitFor = async (url: string, child: ChildProcess, what: string, timeoutMs = 120_000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`)
    try {
      // A request that arrives after listen() but before the routes are installed is never answered: time out and retry.
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      if (response.ok) return
    } catch {
      // not up yet
    }
    await sleep(100)
  }
  throw new Error(`${what} did not answer ${url} within ${timeoutMs / 1000} s`)
}

const start = (what: string, args: Array<string>, extraEnv: Record<string, string>, logFile: string, cwd = root) => {
  const out = openSync(logFile, "w")
  const command = pin ? "taskset" : process.execPath
  const argv = pin ? ["-c", "0", process.execPath, ...args] : args
  const child = spawn(command, argv, { cwd, env: { ...env, ...extraEnv }, stdio: ["ignore", out, out] })
  children.push(child)
  child.on("exit", (code, signal) => {
    if (!stopped.has(child)) log(`!! ${what} exited (code ${code}, signal ${signal}); log: ${logFile}`)
  })
  return child
}

/** utime + stime of a process in seconds, from /proc (Linux); with `reaped`, plus that of its exited children. */
const cpuSecondsOf = (pid: number | undefined, reaped = false) => {
  if (pid === undefined) return 0
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number)
    return (fields[11] + fields[12] + (reaped ? fields[13] + fields[14] : 0)) / 100
  } catch {
    return 0
  }
}

/**
 * CPU seconds of every `postgres` process. A backend that exits during a run (a pool closing a connection, the
 * ACCESS_LOG service stopping) moves its time to the postmaster's reaped-children counters, so those count too.
 */
const postgresCpuSeconds = () => {
  let total = 0
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "postgres") total += cpuSecondsOf(Number(entry), true)
    } catch {
      // gone
    }
  }
  return total
}

interface RunRecord extends LoadResult {
  readonly cpu: { readonly server: number; readonly postgres: number; readonly loadgen: number }
  readonly outboxBacklog?: number
}

const main = async () => {
  const startedAt = new Date()
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  const [{ version: pgVersion }] = await admin<Array<{ version: string }>>`SELECT version()`
  const [{ shared_buffers }] = await admin<Array<{ shared_buffers: string }>>`SHOW shared_buffers`

  log("# Customer service benchmark")
  log(`started ${startedAt.toISOString()}`)
  log(`machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, load average ${
    loadavg().map((n) => n.toFixed(2)).join(" ")
  }`)
  log(`node ${process.version}; ${pgVersion.split(" on ")[0]} (shared_buffers ${shared_buffers})`)
  log(`customers ${int(customers)}; runs ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s measured; concurrency ${
    concurrencies.join(", ")
  }; DB pool ${pool} in both servers`)
  log(
    pin
      ? "CPU split: servers pinned to CPU 0, load generator (autocannon, in this process) to CPU 1, PostgreSQL unpinned"
      : "CPU split: none pinned; servers are child processes, the load generator (autocannon) runs in this process, PostgreSQL shares both CPUs"
  )
  if (pin) execFileSync("taskset", ["-a", "-p", "-c", "1", String(process.pid)], { stdio: "ignore" })

  // 1. database
  const [existing] = await admin`SELECT 1 FROM pg_database WHERE datname = ${dbName}`
  let seeded = false
  if (reuse && existing !== undefined) {
    const probe = postgres(dbUrl, { max: 1, onnotice: () => {} })
    const [row] = await probe<Array<{ n: number }>>`SELECT count(*)::int AS n FROM customers`.catch(() => [{ n: 0 }])
    await probe.end()
    seeded = row.n >= customers
    log(`reusing ${dbName}: ${int(row.n)} customers${seeded ? "" : ", too few: recreating"}`)
  }
  if (!seeded) {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
    await admin.unsafe(`CREATE DATABASE ${dbName}`)
  }
  await admin.end()
  if (env.BENCH_KEEP_DB !== "1") {
    cleanups.push(() => {
      try {
        execFileSync("psql", [adminUrl, "-qc", `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`], { stdio: "ignore" })
      } catch {
        // best effort
      }
    })
  }

  // 2. NATS: a private server so the bench's events stay out of the shared stream the tests read
  const workDir = mkdtempSync(join(tmpdir(), "cms-bench-"))
  let natsUrl = env.BENCH_NATS_URL
  if (natsUrl === undefined) {
    try {
      const natsPort = await freePort()
      const nats = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(natsPort), "-js", "-sd", join(workDir, "nats")], {
        stdio: ["ignore", openSync(join(workDir, "nats.log"), "w"), openSync(join(workDir, "nats.log"), "a")]
      })
      await new Promise<void>((resolve, reject) => {
        nats.once("error", reject)
        nats.once("spawn", () => resolve())
      })
      children.push(nats)
      natsUrl = `nats://127.0.0.1:${natsPort}`
      await sleep(300)
      log(`NATS: private nats-server at ${natsUrl}`)
    } catch {
      natsUrl = "nats://127.0.0.1:4222"
      log(`NATS: shared ${natsUrl} (no nats-server binary)`)
    }
  }
  cleanups.push(() => rmSync(workDir, { recursive: true, force: true }))
  const servicesNatsUrl = natsUrl

  // 3. the service (runs the migrations)
  const startService = async (accessLog: boolean, encrypting = true) => {
    const what = accessLog ? "service with ACCESS_LOG=true" : encrypting ? "service" : "service with PII_ENCRYPTION=false"
    const port = await freePort()
    const profileArgs = env.BENCH_PROFILE === undefined || accessLog || !encrypting
      ? []
      : ["--cpu-prof", `--cpu-prof-dir=${env.BENCH_PROFILE}`]
    const logFile = join(
      tmpdir(),
      accessLog ? "cms-bench-service-access-log.log" : encrypting ? "cms-bench-service.log" : "cms-bench-service-plain.log"
    )
    const child = start(what, [...profileArgs, "src/main.ts"], {
      PORT: String(port),
      DATABASE_URL: dbUrl,
      NATS_URL: servicesNatsUrl,
      JWT_SECRET: jwtSecret,
      ACCESS_LOG: String(accessLog),
      PII_ENCRYPTION: String(encrypting),
      // The seeded rows are bulk-loaded unsealed; sealing a million of them in the background would skew every run.
      KEY_UPKEEP: "false",
      DB_POOL_MAX: String(pool),
      // Commands' writes have a pool of their own (src/platform/Database.ts CommandSql), as big as the baseline's.
      DB_COMMAND_POOL_MAX: String(pool)
    }, logFile, env.BENCH_SERVICE_DIR ?? root)
    await waitFor(`http://127.0.0.1:${port}/health`, child, what)
    log(`${what}: pid ${child.pid}, http://127.0.0.1:${port}${
      env.BENCH_SERVICE_DIR === undefined ? "" : ` from ${env.BENCH_SERVICE_DIR}`
    }, log ${logFile}`)
    return { child, port }
  }
  const { child: service, port: servicePort } = await startService(false)

  const sql = postgres(dbUrl, { max: 4, onnotice: () => {} })

  // 4. seed
  if (!seeded) {
    log(`seeding ${int(customers)} customers with COPY ...`)
    const result = await seedCustomers(sql, customers, (line) => log(line))
    seedSummary = result
  }

  // 5. the baseline
  const baselinePort = await freePort()
  const baselineLog = join(tmpdir(), "cms-bench-baseline.log")
  const baseline = start("baseline", ["load/baseline.ts"], {
    PORT: String(baselinePort),
    DATABASE_URL: dbUrl,
    DB_POOL_MAX: String(pool)
  }, baselineLog)
  await waitFor(`http://127.0.0.1:${baselinePort}/hello`, baseline, "baseline")
  log(`baseline: pid ${baseline.pid}, http://127.0.0.1:${baselinePort}, log ${baselineLog}`)

  // 6. what the scenarios need
  const ids = (await sql<Array<{ id: string }>>`SELECT id FROM customers WHERE status <> 'DELETED'
    ORDER BY random() LIMIT 100000`).map((row) => row.id)
  const [{ n: listMatches }] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM customers
    WHERE status = 'ACTIVE' AND location ->> 'country' = 'NL'`
  const offsets = Array.from({ length: 40 }, (_, i) => Math.floor(listMatches * (0.5 + (0.45 * i) / 40)))
  const deepCursors: Array<string> = []
  for (const offset of offsets) {
    // The service's cursor: base64url JSON [sort, sort value (microsecond UTC text for time sorts), id].
    const [row] = await sql<Array<{ sort_key: string; id: string }>>`SELECT
        to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS sort_key, id FROM customers
      WHERE status = 'ACTIVE' AND location ->> 'country' = 'NL'
      ORDER BY created_at DESC, id DESC OFFSET ${offset} LIMIT 1`
    if (row !== undefined) {
      deepCursors.push(Buffer.from(JSON.stringify(["-createdAt", row.sort_key, row.id])).toString("base64url"))
    }
  }
  const data: ScenarioData = { ids, listFilter, deepCursors }
  log(`sampled ${int(ids.length)} ids; list filter ${listFilter} matches ${int(listMatches)} rows (expected ~${
    int(customers * countryShare("NL") * statusShares.ACTIVE)
  }); ${deepCursors.length} deep cursors at offsets ${offsets[0]}..${offsets.at(-1)}`)

  const token = await new Jose.SignJWT({ role: "admin" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("bench")
    .setIssuer("customer-service")
    .setAudience("customer-service-api")
    .setIssuedAt()
    .setExpirationTime("6h")
    .sign(new TextEncoder().encode(jwtSecret))

  // The service with ACCESS_LOG=true, up only while a scenario in BENCH_ACCESS_LOG runs (its outbox relay would
  // otherwise compete with the service's during the write scenarios).
  let logged: { readonly child: ChildProcess; readonly port: number } | undefined
  // The service with PII_ENCRYPTION=false, up only for the encryption phase.
  let plainPort: number | undefined
  const targetOf = (kind: Target["kind"]): Target => {
    switch (kind) {
      case "service":
        return { kind, baseUrl: `http://127.0.0.1:${servicePort}`, token }
      case "logged":
        return { kind, baseUrl: `http://127.0.0.1:${logged?.port}`, token }
      case "baseline":
        return { kind, baseUrl: `http://127.0.0.1:${baselinePort}` }
      case "plain":
        return { kind, baseUrl: `http://127.0.0.1:${plainPort}`, token }
    }
  }
  const pidOf = (kind: Target["kind"]) =>
    kind === "service" ? service.pid : kind === "logged" ? logged?.child.pid : baseline.pid
  // With taskset in front, the node process is the child of the spawned one.
  const serverPid = (kind: Target["kind"]) => {
    const pid = pidOf(kind)
    if (!pin || pid === undefined) return pid
    try {
      return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ")[0]) || pid
    } catch {
      return pid
    }
  }

  // 7. a few smoke requests per scenario and target: fail fast on a broken setup
  for (const scenario of scenarios) {
    for (const kind of targets) {
      const target = targetOf(kind)
      const next = requestsFor(scenario, target, data, `smoke${Date.now().toString(36)}`)
      for (let i = 0; i < 3; i++) {
        const spec = next()
        const response = await fetch(target.baseUrl + spec.path, {
          method: spec.method,
          headers: {
            ...(target.token === undefined ? {} : { authorization: `Bearer ${target.token}` }),
            ...(spec.body === undefined ? {} : { "content-type": "application/json" })
          },
          ...(spec.body === undefined ? {} : { body: spec.body }),
          signal: AbortSignal.timeout(60_000)
        })
        const text = await response.text()
        if (!response.ok) throw new Error(`smoke ${scenario} on ${kind}: ${spec.method} ${spec.path} -> ${response.status} ${text.slice(0, 500)}`)
      }
    }
  }
  log("smoke: every scenario answers 2xx on both targets")

  const outboxBacklog = async () => {
    const [{ n }] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`
    return n
  }
  const drainOutbox = async () => {
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline && (await outboxBacklog()) > 0) await sleep(250)
  }

  // 8. the runs
  const records: Array<RunRecord> = []
  const runId = Date.now().toString(36)
  log()
  log("run                         target     rps      p50     p95     p99     max  non-2xx  err   CPU cores: server  pg  loadgen")
  log("(target logged: a second service, ACCESS_LOG=true)")
  for (const scenario of scenarios) {
    // On against off: only beside the service's own run.
    const withAccessLog = accessLogScenarios.includes(scenario) && targets.includes("service")
    if (withAccessLog && logged === undefined) logged = await startService(true)
    if (!withAccessLog && logged !== undefined) {
      await stop(logged.child)
      logged = undefined
    }
    // The logged runs right after the service's, so both see the same machine state.
    const runTargets: Array<Target["kind"]> = targets.flatMap((kind) =>
      kind === "service" && withAccessLog ? ["service", "logged"] : [kind]
    )
    for (const concurrency of concurrencies) {
      for (const kind of runTargets) {
        await drainOutbox()
        if (scenario === "create" || scenario === "update") await sql`CHECKPOINT`
        const pid = serverPid(kind)
        const cpu0 = { server: cpuSecondsOf(pid), postgres: postgresCpuSeconds(), loadgen: process.cpuUsage() }
        const wall0 = performance.now()
        const result = await runLoad({
          scenario, target: targetOf(kind), data, concurrency, warmupMs, durationMs, seed: `${runId}${kind[0]}${concurrency}`
        })
        const wall = (performance.now() - wall0) / 1000
        const loadgenCpu = process.cpuUsage(cpu0.loadgen)
        const cpu = {
          server: (cpuSecondsOf(pid) - cpu0.server) / wall,
          postgres: (postgresCpuSeconds() - cpu0.postgres) / wall,
          loadgen: (loadgenCpu.user + loadgenCpu.system) / 1e6 / wall
        }
        const backlog = kind === "service" && (scenario === "create" || scenario === "update")
          ? await outboxBacklog()
          : undefined
        const record: RunRecord = { ...result, cpu, ...(backlog === undefined ? {} : { outboxBacklog: backlog }) }
        records.push(record)
        log(`${`${scenario} c=${concurrency}`.padEnd(27)} ${kind.padEnd(9)} ${int(result.rps).padStart(6)} ${
          fmt(result.p50).padStart(7)
        } ${fmt(result.p95).padStart(7)} ${fmt(result.p99).padStart(7)} ${fmt(result.max, 0).padStart(7)} ${
          String(result.non2xx).padStart(8)
        } ${String(result.errors).padStart(4)}   ${fmt(cpu.server, 2).padStart(17)} ${fmt(cpu.postgres, 2).padStart(4)} ${
          fmt(cpu.loadgen, 2).padStart(8)
        }${backlog === undefined ? "" : `   outbox backlog after run: ${backlog}`}`)
        for (const sample of [...result.bodySamples, ...result.errorSamples].slice(0, 3)) log(`    ! ${sample}`)
      }
    }
  }
  if (logged !== undefined) await stop(logged.child)

  // 8b. encryption on against off, with a second service that does not seal (up only for this phase)
  let encryptionResult: Awaited<ReturnType<typeof runEncryption>> | undefined
  if (encryptionPhase && targets.includes("service")) {
    const plain = await startService(false, false)
    plainPort = plain.port
    try {
      encryptionResult = await runEncryption({
        service: targetOf("service"),
        plain: targetOf("plain"),
        data, warmupMs, durationMs, log,
        analyze: async () => {
          await sql`ANALYZE customers`
        }
      })
    } finally {
      await stop(plain.child)
    }
  }

  // 9. analytics over events at scale
  const analyticsResult = analytics
    ? await runAnalytics({ sql, service: targetOf("service"), data, warmupMs, durationMs, log })
    : undefined

  // 10. segments over those customers and events (before ingest, whose rollup backlog would compete)
  const segmentsResult = segmentsPhase
    ? await runSegments({
      sql, dbUrl, service: targetOf("service"), baseline: targetOf("baseline"), data, warmupMs, durationMs, log
    })
    : undefined

  // 11. tracking events (after the reads at scale: the folder's backlog of them would compete with those)
  const ingestResult = ingest
    ? await runIngest({
      sql, service: targetOf("service"), baseline: targetOf("baseline"), data, warmupMs, durationMs, log
    })
    : undefined

  // 12. export and erasure of the heaviest customer (last: it erases them)
  const privacyResult = privacyPhase
    ? await runPrivacy({ sql, service: targetOf("service"), servicePid: serverPid("service"), log })
    : undefined

  // 13. the table
  const find = (scenario: ScenarioName, concurrency: number, kind: Target["kind"]) =>
    records.find((r) => r.scenario === scenario && r.concurrency === concurrency && r.target === kind)
  log()
  log("## Results (latencies in ms; ratio = service rps / baseline rps)")
  log()
  log("| scenario | conns | service rps | svc p50 | svc p95 | svc p99 | svc non-2xx / err | baseline rps | base p50 | base p95 | base non-2xx / err | ratio | p95 spec | ratio target |")
  log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
  const verdicts: Array<string> = []
  for (const scenario of scenarios) {
    for (const concurrency of concurrencies) {
      const s = find(scenario, concurrency, "service")
      const b = find(scenario, concurrency, "baseline")
      const ratio = s !== undefined && b !== undefined && b.rps > 0 ? s.rps / b.rps : NaN
      const specP95 = p95TargetMs[scenario]
      const spec = specP95 === undefined || s === undefined
        ? "-"
        : `< ${specP95}: ${s.p95 < specP95 ? "pass" : "FAIL"}`
      const wanted = ratioTarget[scenario]
      const ratioVerdict = wanted === undefined || Number.isNaN(ratio)
        ? "-"
        : `>= ${wanted * 100}%: ${ratio >= wanted ? "pass" : "FAIL"}`
      if (spec.includes("FAIL")) verdicts.push(`${scenario} c=${concurrency}: p95 ${fmt(s?.p95 ?? NaN)} ms (spec < ${specP95})`)
      if (ratioVerdict.includes("FAIL")) {
        verdicts.push(`${scenario} c=${concurrency}: ${fmt(ratio * 100)}% of baseline (target >= ${(wanted ?? 0) * 100}%)`)
      }
      log(`| ${scenario} | ${concurrency} | ${s ? int(s.rps) : "-"} | ${fmt(s?.p50 ?? NaN)} | ${fmt(s?.p95 ?? NaN)} | ${
        fmt(s?.p99 ?? NaN)
      } | ${s ? `${s.non2xx} / ${s.errors}` : "-"} | ${b ? int(b.rps) : "-"} | ${fmt(b?.p50 ?? NaN)} | ${
        fmt(b?.p95 ?? NaN)
      } | ${b ? `${b.non2xx} / ${b.errors}` : "-"} | ${Number.isNaN(ratio) ? "-" : `${fmt(ratio * 100)}%`} | ${spec} | ${ratioVerdict} |`)
    }
  }
  const ratios = scenarios.flatMap((scenario) =>
    concurrencies.map((c) => {
      const s = find(scenario, c, "service")
      const b = find(scenario, c, "baseline")
      return s && b && b.rps > 0 ? s.rps / b.rps : NaN
    })
  ).filter((r) => !Number.isNaN(r)).sort((a, b) => a - b)
  if (ratios.length > 0) {
    const median = ratios.length % 2 === 1
      ? ratios[(ratios.length - 1) / 2]
      : (ratios[ratios.length / 2 - 1] + ratios[ratios.length / 2]) / 2
    log()
    log(`median service/baseline throughput ratio over ${ratios.length} pairs: ${fmt(median * 100)}%`)
  }
  const accessLogLines = scenarios.filter((scenario) => accessLogScenarios.includes(scenario)).flatMap((scenario) =>
    concurrencies.flatMap((concurrency) => {
      const on = find(scenario, concurrency, "logged")
      const off = find(scenario, concurrency, "service")
      if (on === undefined || off === undefined || off.rps <= 0) return []
      const ratio = on.rps / off.rps
      const pass = ratio >= accessLogTarget
      if (!pass) {
        verdicts.push(`${scenario} c=${concurrency}: ACCESS_LOG on at ${fmt(ratio * 100)}% of off (target >= ${accessLogTarget * 100}%)`)
      }
      return [`access log: ${scenario} c=${concurrency}: on ${int(on.rps)} rps (p95 ${fmt(on.p95)} ms) / off ${int(off.rps)} rps (p95 ${
        fmt(off.p95)
      } ms) = ${fmt(ratio * 100)}% (target >= ${accessLogTarget * 100}%: ${pass ? "pass" : "FAIL"})`]
    })
  )
  if (accessLogLines.length > 0) {
    log()
    for (const line of accessLogLines) log(line)
  }
  if (encryptionResult !== undefined) {
    log()
    for (const line of encryptionResult.verdicts) {
      log(line)
      if (line.includes("FAIL")) verdicts.push(line)
    }
  }
  log()
  log(verdicts.length === 0 ? "all targets met" : `targets missed:\n${verdicts.map((v) => `  - ${v}`).join("\n")}`)
  log()
  log("scenarios:")
  for (const scenario of scenarios) log(`  ${scenario.padEnd(10)} ${describe[scenario]}`)
  log(`finished in ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`)

  if (env.BENCH_JSON !== undefined) {
    writeFileSync(env.BENCH_JSON, JSON.stringify({
      startedAt, customers, durationMs, warmupMs, pool, pin, node: process.version, pgVersion, seed: seedSummary, records,
      ingest: ingestResult,
      analytics: analyticsResult,
      encryption: encryptionResult,
      segments: segmentsResult,
      privacy: privacyResult
    }, null, 2))
    log(`results: ${env.BENCH_JSON}`)
  }
  await sql.end()
}

let seedSummary: unknown = null

main().then(
  async () => {
    await stopAll()
    process.exit(0)
  },
  async (error) => {
    console.error(error)
    await stopAll()
    process.exit(1)
  }
)
