/**
 * The bench's load run (load/run-load.ts: autocannon driven by our request
 * streams) against the real service, for a second: what it counts and what
 * it sends.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { type LoadOptions, runLoad } from "../../load/run-load.ts"
import { TestService, testService } from "../support/TestService.ts"

const load = (options: Omit<LoadOptions, "target" | "concurrency" | "warmupMs" | "durationMs">) =>
  Effect.gen(function*() {
    const { baseUrl, token } = yield* TestService
    const target = { kind: "service" as const, baseUrl, token: yield* token("admin") }
    return yield* Effect.promise(() => runLoad({ ...options, target, concurrency: 4, warmupMs: 200, durationMs: 1000 }))
  })

const noData = { ids: [], listFilter: "", deepCursors: [] }

layer(testService(), { excludeTestServices: true, timeout: "30 seconds" })("bench load run", (it) => {
  it.effect("gives every create its own body: all of them are answered 201", () =>
    Effect.gen(function*() {
      const result = yield* load({ scenario: "create", data: noData, seed: `spec${Date.now().toString(36)}` })
      assert.isAbove(result.requests, 0)
      assert.deepStrictEqual(result.statuses, { "201": result.requests })
      assert.strictEqual(result.non2xx + result.errors, 0)
      assert.isAbove(result.p95, 0)
    }))

  it.effect("counts non-2xx answers and keeps samples of their bodies", () =>
    Effect.gen(function*() {
      const missing = crypto.randomUUID()
      const result = yield* load({ scenario: "get", data: { ...noData, ids: [missing] }, seed: "spec" })
      assert.isAbove(result.non2xx, 0)
      assert.strictEqual(result.non2xx, result.requests)
      assert.deepStrictEqual(Object.keys(result.statuses), ["404"])
      assert.isAbove(result.bodySamples.length, 0)
      for (const sample of result.bodySamples) assert.match(sample, /^404 \{.*"status":404/)
    }))
})
