/**
 * The access log as `npm start` writes it: JSON lines on stdout, buffered and
 * written in batches, and every buffered line written when the service stops.
 * The service runs as its own process (src/main.ts), stopped with SIGTERM.
 */
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import { freePort } from "../support/Nats.ts"
import { scopedDatabase, testJwtSecret } from "../support/TestService.ts"

const root = fileURLToPath(new URL("../../", import.meta.url))

interface LogLine {
  readonly message: string
  readonly level: string
  readonly annotations: Record<string, unknown>
}

/** src/main.ts on its own database and port; `stop` sends SIGTERM and returns everything it wrote to stdout. */
const runningService = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const database = yield* scopedDatabase
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
      return { code, lines: stdout.split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line) as LogLine) }
    })
    return { baseUrl, stop }
  })

it.live("every access-log line buffered when the service stops is written before it exits", () =>
  Effect.gen(function*() {
    // A batch window far longer than the test: only the flush at shutdown can write the lines.
    const service = yield* runningService({ LOG_BATCH_WINDOW: "1 hour" })
    const requestIds = Array.from({ length: 40 }, () => randomUUID())
    yield* Effect.promise(() =>
      Promise.all(requestIds.map((requestId) =>
        fetch(`${service.baseUrl}/health?email=ada@example.com`, { headers: { "x-request-id": requestId } })
          .then((response) => response.arrayBuffer())
      ))
    )
    const { code, lines } = yield* service.stop
    assert.isNotNull(code, "the service exits on its own after SIGTERM (runMain answers it with 130)")
    const accessLines = lines.filter((line) => line.message === "request" && line.annotations.path === "/health")
    // The readiness probe of runningService adds lines without our ids; ours must each be there once.
    const logged = accessLines.map((line) => line.annotations.requestId)
    for (const requestId of requestIds) {
      assert.strictEqual(logged.filter((id) => id === requestId).length, 1, `access-log line for ${requestId}`)
    }
    for (const line of accessLines) {
      assert.deepStrictEqual(Object.keys(line.annotations).sort(), ["durationMs", "method", "path", "requestId", "status"])
      assert.strictEqual(line.level, "INFO")
      assert.strictEqual(line.annotations.status, 200)
    }
    assert.notInclude(lines.map((line) => JSON.stringify(line)).join("\n"), "ada@example.com", "no query string is logged")
  }).pipe(Effect.scoped), 60_000)
