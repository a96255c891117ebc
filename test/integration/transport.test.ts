/**
 * What the HTTP layer answers around the operations: problem+json for a body
 * that is not JSON (PATCH included: it is not JSON Merge Patch) and for a
 * method a route does not have, and the caching and sniffing headers on
 * every answer.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { testServiceWithDatabase, writeCounts } from "../support/Database.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { TestService } from "../support/TestService.ts"

/** A body sent as the given media type, byte for byte. */
const sendAs = (method: string, path: string, contentType: string, body: string) =>
  Effect.flatMap(TestService, ({ request }) => request(path, { method, body, headers: { "content-type": contentType } }))

layer(testServiceWithDatabase(), { excludeTestServices: true })("the HTTP layer", (it) => {
  it.effect("a body that is not JSON is refused with a 415 problem naming application/json, and nothing is written", () =>
    Effect.gen(function*() {
      const before = yield* writeCounts
      const response = yield* sendAs("POST", customersPath, "text/plain", JSON.stringify(newCustomer()))
      const problem = yield* expectProblem(response, 415, "/problems/unsupported-media-type")
      assert.deepStrictEqual((problem as unknown as { readonly accepted: ReadonlyArray<string> }).accepted, [
        "application/json"
      ])
      assert.deepStrictEqual(yield* writeCounts, before)
    }))

  it.effect("JSON with a charset parameter is JSON", () =>
    Effect.gen(function*() {
      const response = yield* sendAs("POST", customersPath, "application/json; charset=utf-8", JSON.stringify(newCustomer()))
      assert.strictEqual(response.status, 201)
    }))

  it.effect("PATCH as JSON Merge Patch is refused with 415 and Accept-Patch: application/json", () =>
    Effect.gen(function*() {
      const { id } = yield* createCustomer()
      const response = yield* sendAs("PATCH", `${customersPath}/${id}`, "application/merge-patch+json", "{\"tags\":[]}")
      yield* expectProblem(response, 415, "/problems/unsupported-media-type")
      assert.strictEqual(response.headers.get("accept-patch"), "application/json")
    }))

  it.effect("credentials are checked before the media type: no credentials and a wrong type is a 401", () =>
    Effect.gen(function*() {
      const response = yield* Effect.flatMap(TestService, ({ request }) =>
        request(customersPath, { method: "POST", body: "x", headers: { "content-type": "text/plain" }, auth: false }))
      yield* expectProblem(response, 401, "/problems/unauthenticated")
    }))

  it.effect("a method a route does not have is a 405 problem with Allow", () =>
    Effect.gen(function*() {
      const response = yield* call("PUT", customersPath)
      yield* expectProblem(response, 405, "/problems/method-not-allowed")
      assert.strictEqual(response.headers.get("allow"), "GET, POST")
      const probe = yield* call("POST", "/health", { auth: false })
      yield* expectProblem(probe, 405, "/problems/method-not-allowed")
      assert.strictEqual(probe.headers.get("allow"), "GET")
    }))

  it.effect("answers carrying personal data, refusals included, are no-store and nosniff", () =>
    Effect.gen(function*() {
      const { id } = yield* createCustomer()
      for (const response of [yield* call("GET", `${customersPath}/${id}`), yield* call("GET", `${customersPath}?limit=0`)]) {
        assert.strictEqual(response.headers.get("cache-control"), "no-store")
        assert.strictEqual(response.headers.get("x-content-type-options"), "nosniff")
      }
    }))

  it.effect("the public documentation may be cached, and is nosniff too", () =>
    Effect.gen(function*() {
      for (const path of ["/api/v1/openapi.json", "/docs"]) {
        const response = yield* call("GET", path, { auth: false })
        assert.strictEqual(response.status, 200)
        assert.isNull(response.headers.get("cache-control"))
        assert.strictEqual(response.headers.get("x-content-type-options"), "nosniff")
      }
    }))
})
