/**
 * The service as its own process (src/main.ts, as `npm start` runs it) on a
 * database of its own and a free port: for what only a real process shows
 * (its stdout, SIGTERM, kill -9).
 */
import { Effect } from "effect"
import * as Jose from "jose"
import { spawn } from "node:child_process"
import postgres from "postgres"
import { fileURLToPath } from "node:url"
import type { Role } from "../../src/domain/Access.ts"
import { freePort } from "./Nats.ts"
import { scopedDatabase, testJwtSecret } from "./TestService.ts"

const root = fileURLToPath(new URL("../../", import.meta.url))

/** A bearer token the process accepts (it signs with the suite's JWT secret). */
export const processToken = (role: Role, subject = `test-${role}`) =>
  Effect.promise(() =>
    new Jose.SignJWT({ role }).setProtectedHeader({ alg: "HS256" }).setSubject(subject)
      .setIssuer("customer-service").setAudience("customer-service-api").setIssuedAt().setExpirationTime("1h")
      .sign(new TextEncoder().encode(testJwtSecret))
  )

/**
 * Starts the process and waits until /health answers. `stop` sends SIGTERM and returns its exit code and
 * stdout; `kill` sends SIGKILL and returns when it is gone. The process is killed when the scope closes.
 * `databaseUrl`: the database of an earlier process (one that crashed), instead of a fresh one.
 */
export const runningService = (env: Record<string, string>, databaseUrl?: string) =>
  Effect.gen(function*() {
    const database = databaseUrl === undefined ? yield* scopedDatabase : { url: databaseUrl }
    const port = yield* freePort
    const child = spawn(process.execPath, ["src/main.ts"], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", DATABASE_URL: database.url, JWT_SECRET: testJwtSecret, PORT: String(port), ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => stdout += chunk.toString())
    child.stderr.on("data", (chunk: Buffer) => stderr += chunk.toString())
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
    yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
    const baseUrl = `http://127.0.0.1:${port}`
    yield* Effect.promise(async () => {
      const deadline = Date.now() + 30_000
      while (Date.now() < deadline) {
        if (child.exitCode !== null) break
        if (await fetch(`${baseUrl}/health`).then((response) => response.ok, () => false)) return
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`the service did not start:\n${stdout}\n${stderr}`)
    })
    const stop = Effect.promise(async () => {
      child.kill("SIGTERM")
      const code = await exited
      return { code, stdout }
    })
    const kill = Effect.promise(async () => {
      child.kill("SIGKILL")
      await exited
    })
    return { baseUrl, databaseUrl: database.url, stop, kill }
  })

/**
 * Eight clients run `step` back to back for `millis`, then the process is killed (-9) under them: answers what
 * the steps acknowledged before it died. A step that throws (the connection gone) ends its client.
 */
export const acknowledgedBeforeKill = (
  service: { readonly kill: Effect.Effect<void> },
  millis: number,
  step: () => Promise<ReadonlyArray<string>>
) =>
  Effect.gen(function*() {
    const acknowledged: Array<string> = []
    let killed = false
    const client = async () => {
      while (!killed) {
        try {
          acknowledged.push(...(await step()))
        } catch {
          return
        }
      }
    }
    const clients = Array.from({ length: 8 }, client)
    yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))
    killed = true
    yield* service.kill
    yield* Effect.promise(() => Promise.allSettled(clients))
    return acknowledged
  })

/** `use` with a client of its own on a database (of a process that may be dead by now). */
export const queryDatabase = <A>(url: string, use: (sql: postgres.Sql) => Promise<A>) =>
  Effect.promise(async () => {
    // Two connections: one may be held (a transaction kept open) while the other queries.
    const sql = postgres(url, { max: 2, onnotice: () => {} })
    try {
      return await use(sql)
    } finally {
      await sql.end()
    }
  })
