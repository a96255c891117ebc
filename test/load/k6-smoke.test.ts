/**
 * The k6 scripts (load/customers.js, load/track.js) work against the real service: each runs
 * once under plain Node with the k6 shims (load/run-k6-under-node.ts), in a
 * child process since the shim blocks its thread on every request.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { TestService, testService } from "../support/TestService.ts"

const root = fileURLToPath(new URL("../../", import.meta.url))

const runUnderShim = (script: string, env: Record<string, string>) =>
  Effect.callback<{ readonly code: number | null; readonly output: string }>((resume) => {
    const child = spawn(process.execPath, ["load/run-k6-under-node.ts", script, "--iterations", "2"], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk) => output += chunk)
    child.stderr.on("data", (chunk) => output += chunk)
    child.on("close", (code) => resume(Effect.succeed({ code, output })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

layer(testService(), { excludeTestServices: true, timeout: "60 seconds" })("k6 script under the node shim", (it) => {
  it.effect("runs setup, the default function and every scenario against the service with all checks passing", () =>
    Effect.gen(function*() {
      const { baseUrl, token } = yield* TestService
      const { code, output } = yield* runUnderShim("load/customers.js", { BASE_URL: baseUrl, TOKEN: yield* token("admin") })
      assert.strictEqual(code, 0, output)
      assert.include(output, "ran: default x2, get (getCustomer), list (listCustomers), create (createCustomer), update (updateCustomer)")
      assert.match(output, /checks: [1-9]\d* passed, 0 failed/)
    }).pipe(Effect.timeout("50 seconds")))

  it.effect("the tracking script runs setup, the default function and both arrival-rate scenarios, all checks passing", () =>
    Effect.gen(function*() {
      const { baseUrl, token } = yield* TestService
      const { code, output } = yield* runUnderShim("load/track.js", {
        BASE_URL: baseUrl,
        TOKEN: yield* token("service"),
        CUSTOMERS: "5",
        BATCH_SIZE: "50"
      })
      assert.strictEqual(code, 0, output)
      assert.include(output, "ran: default x2, batch (trackBatch), single (trackOne)")
      assert.match(output, /checks: [1-9]\d* passed, 0 failed/)
    }).pipe(Effect.timeout("50 seconds")))

  it.effect("fails when the service refuses the script's requests", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestService
      const { code, output } = yield* runUnderShim("load/customers.js", { BASE_URL: baseUrl, TOKEN: "not-a-token" })
      assert.strictEqual(code, 1, output)
      assert.match(output, /checks: 0 passed, [1-9]\d* failed/)
    }).pipe(Effect.timeout("50 seconds")))
})
