/**
 * The access log as `npm start` writes it: JSON lines on stdout, buffered and
 * written in batches, and every buffered line written when the service stops.
 * The service runs as its own process (src/main.ts), stopped with SIGTERM.
 */
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { runningService } from "../support/ServiceProcess.ts"

interface LogLine {
  readonly message: string
  readonly level: string
  readonly annotations: Record<string, unknown>
}

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
    const { code, stdout } = yield* service.stop
    const lines = stdout.split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line) as LogLine)
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
