/**
 * Bodies built to hurt: a megabyte of invalid elements, metadata with tens of
 * thousands of bad keys, JSON nested thousands of levels deep. Each is refused
 * with a small answer naming the field, nothing is written, and the service
 * keeps answering others meanwhile.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { maxMetadataDepth } from "../../src/domain/Customer.ts"
import { maxReportedIssues } from "../../src/http/Validation.ts"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { testServiceWithDatabase, writeCounts } from "../support/Database.ts"
import { call, expectProblem, invalidPaths, sizedProblem } from "../support/Http.ts"
import { TestService } from "../support/TestService.ts"

/** `{ "a": { "a": ... 1 } }` with `levels` objects. */
const nested = (levels: number): unknown => {
  let value: unknown = 1
  for (let i = 0; i < levels; i++) value = { a: value }
  return value
}

/** Just under the 1 MiB body limit of invalid (upper-case) tags, as in the probe that found the amplification. */
const badTags = Array.from({ length: 250_000 }, () => "X")

layer(testServiceWithDatabase(), { excludeTestServices: true })("hostile input", (it) => {
  it.effect("a megabyte of invalid tags is answered in a few KB, naming at most the first issues", () =>
    Effect.gen(function*() {
      const before = yield* writeCounts
      const response = yield* call("POST", customersPath, { role: "agent", body: newCustomer({ tags: badTags }) })
      const { problem, bytes } = yield* sizedProblem(response, 400, "/problems/invalid-request")
      assert.isBelow(bytes, 8_192)
      assert.isAtMost(problem.errors?.length ?? 0, maxReportedIssues)
      assert.include(invalidPaths(problem), "payload.tags.0")
      assert.include(problem.detail ?? "", "there are more")
      assert.deepStrictEqual(yield* writeCounts, before)
    }))

  it.effect("60,000 invalid metadata keys are answered in a few KB", () =>
    Effect.gen(function*() {
      const metadata = Object.fromEntries(Array.from({ length: 60_000 }, (_, i) => [`_${i}`, 1]))
      const response = yield* call("POST", customersPath, { body: newCustomer({ metadata }) })
      const { problem, bytes } = yield* sizedProblem(response, 400, "/problems/invalid-request")
      assert.isBelow(bytes, 8_192)
      assert.isTrue(invalidPaths(problem).every((path) => path.startsWith("payload.metadata")))
    }))

  it.effect("the service keeps answering /health while four amplification bodies are refused", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestService
      const hostile = Effect.forEach(
        [1, 2, 3, 4],
        () => call("POST", customersPath, { role: "agent", body: newCustomer({ tags: badTags }) }),
        { concurrency: "unbounded" }
      )
      // A liveness probe that waits longer than this would get the pod restarted.
      const probe = Effect.promise(() => fetch(`${baseUrl}/health`)).pipe(
        Effect.timeout("5 seconds"),
        Effect.map((response) => response.status)
      )
      const probes = Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8], () => Effect.andThen(Effect.sleep("50 millis"), probe))
      const [refusals, statuses] = yield* Effect.all([hostile, probes], { concurrency: 2 })
      assert.deepStrictEqual(refusals.map((response) => response.status), [400, 400, 400, 400])
      assert.deepStrictEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 200])
    }))

  it.effect(`metadata nested ${maxMetadataDepth + 1} levels deep is refused with 400 naming metadata`, () =>
    Effect.gen(function*() {
      const before = yield* writeCounts
      const response = yield* call("POST", customersPath, {
        body: newCustomer({ metadata: { device: nested(maxMetadataDepth + 1) as never } })
      })
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(problem), ["payload.metadata"])
      assert.deepStrictEqual(yield* writeCounts, before)
    }))

  it.effect(`metadata nested ${maxMetadataDepth} levels deep is stored`, () =>
    Effect.gen(function*() {
      const metadata = { device: nested(maxMetadataDepth) as never }
      const response = yield* call("POST", customersPath, { body: newCustomer({ metadata }) })
      assert.strictEqual(response.status, 201)
    }))

  it.effect("a body nested 4,500 levels deep is refused with 400, not a server error", () =>
    Effect.gen(function*() {
      const before = yield* writeCounts
      const body = JSON.stringify(newCustomer({ metadata: { device: "x" } })).replace(
        "\"x\"",
        `${"[".repeat(4_500)}${"]".repeat(4_500)}`
      )
      const response = yield* Effect.flatMap(TestService, ({ request }) =>
        request(customersPath, { method: "POST", body }))
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(problem), ["body"])
      assert.deepStrictEqual(yield* writeCounts, before)
    }))

  it.effect("a megabyte of nothing but brackets is refused with 400 just the same", () =>
    Effect.gen(function*() {
      const body = `${"[".repeat(500_000)}${"]".repeat(500_000)}`
      const response = yield* Effect.flatMap(TestService, ({ request }) =>
        request(customersPath, { method: "POST", body }))
      yield* expectProblem(response, 400, "/problems/invalid-request")
    }))
})
