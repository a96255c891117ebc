/**
 * OWASP API4:2023 Unrestricted Resource Consumption. Every operation that
 * takes a body refuses one over the size limit (declared or streamed), one
 * nested deeper than the limit and one that is not JSON, each as a small
 * problem, and changes nothing; every page size has a ceiling. Amplification
 * (a megabyte of invalid fields answered in a few KB, /health staying up) is
 * tested in test/integration/hostile-input.test.ts, RPC batch limits in
 * test/integration/rpc-door.test.ts.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { testServiceWithDatabase } from "../support/Database.ts"
import { expectProblem, invalidPaths, sizedProblem } from "../support/Http.ts"
import { changesNothing, concretePath, operations } from "../support/Security.ts"
import { TestService } from "../support/TestService.ts"

const maxBodyBytes = 1_048_576

const withBody = operations.filter((operation) => operation.hasBody)

/** A syntactically valid JSON object of about `bytes` bytes. */
const bigJson = (bytes: number) => JSON.stringify({ padding: "x".repeat(bytes) })

/** The body as a stream of 64 KiB chunks, so no Content-Length is declared (chunked transfer). */
const streamed = (text: string) => {
  const bytes = new TextEncoder().encode(text)
  let offset = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close()
      controller.enqueue(bytes.subarray(offset, offset + 65_536))
      offset += 65_536
    }
  })
}

/** A raw request as an admin (so only the body can be refused), the body sent as given. */
const send = (method: string, path: string, body: BodyInit, contentType = "application/json") =>
  Effect.flatMap(TestService, ({ request }) =>
    request(path, {
      method,
      body,
      headers: { "content-type": contentType },
      ...(body instanceof ReadableStream ? { duplex: "half" } : {})
    }))

layer(testServiceWithDatabase(), { excludeTestServices: true })("API4 unrestricted resource consumption", (it) => {
  it.effect(`a body over ${maxBodyBytes} bytes is a 413 on every operation that takes one, declared or streamed`, () =>
    Effect.gen(function*() {
      assert.isAtLeast(withBody.length, 15)
      const oversized = bigJson(maxBodyBytes + 1)
      yield* changesNothing(Effect.forEach(withBody, (operation) =>
        Effect.gen(function*() {
          const path = concretePath(operation.path)
          const declared = yield* send(operation.method, path, oversized)
          assert.strictEqual(declared.status, 413, `${operation.id} declared`)
          yield* expectProblem(declared, 413, "/problems/body-too-large")
          const chunked = yield* send(operation.method, path, streamed(oversized))
          assert.strictEqual(chunked.status, 413, `${operation.id} streamed`)
          yield* expectProblem(chunked, 413, "/problems/body-too-large")
        }), { concurrency: 2 }))
    }))

  it.effect("a body nested 5,000 levels deep is a small 400 naming the body on every operation that takes one", () =>
    Effect.gen(function*() {
      const deep = `{"a":${"[".repeat(5_000)}${"]".repeat(5_000)}}`
      yield* changesNothing(Effect.forEach(withBody, (operation) =>
        Effect.gen(function*() {
          const response = yield* send(operation.method, concretePath(operation.path), deep)
          assert.strictEqual(response.status, 400, operation.id)
          const { problem, bytes } = yield* sizedProblem(response, 400, "/problems/invalid-request")
          assert.deepStrictEqual(invalidPaths(problem), ["body"], operation.id)
          assert.isBelow(bytes, 2_048)
        })))
    }))

  it.effect("a body that is not JSON, or JSON cut short, is a 400 on every operation that takes one", () =>
    Effect.gen(function*() {
      yield* changesNothing(Effect.forEach(withBody, (operation) =>
        Effect.forEach(["{\"name\":", "not json at all", "{\"a\":1}}", "\u0000"], (body) =>
          Effect.gen(function*() {
            const response = yield* send(operation.method, concretePath(operation.path), body)
            assert.strictEqual(response.status, 400, `${operation.id} with ${JSON.stringify(body)}`)
            const text = yield* Effect.promise(() => response.clone().text())
            const type = (JSON.parse(text) as { readonly type: string }).type
            assert.include(["/problems/malformed-body", "/problems/invalid-request"], type, operation.id)
            yield* expectProblem(response, 400, type)
          }))))
    }))

  it.effect("every page size has a ceiling: a limit of a million is a 400 naming query.limit on each list", () =>
    Effect.gen(function*() {
      const lists = operations.filter((operation) => operation.method === "GET" && operation.query.includes("limit"))
      assert.isAtLeast(lists.length, 6)
      yield* changesNothing(Effect.forEach(lists, (operation) =>
        Effect.gen(function*() {
          const response = yield* Effect.flatMap(TestService, ({ request }) =>
            request(`${concretePath(operation.path)}?limit=1000000`))
          const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
          assert.include(invalidPaths(problem), "query.limit", operation.id)
        })))
    }))
})
