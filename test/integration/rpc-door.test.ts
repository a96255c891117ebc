/**
 * POST /api/v1/rpc as an attacker or a careless client would use it: the RPC
 * door keeps REST's rules (credentials from the HTTP request first, bounded
 * answers, the same input checks, opaque internal errors).
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { maxCallsPerRequest } from "../../src/api/CustomersRpc.ts"
import { newCustomer, unique } from "../support/Customers.ts"
import { testServiceWithDatabase, writeCounts } from "../support/Database.ts"
import { createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import { exitsOf, type ExitMessage, failureType, message, postRpc } from "../support/Rpc.ts"
import { TestService } from "../support/TestService.ts"

layer(testServiceWithDatabase(), { excludeTestServices: true })("the RPC door", (it) => {
  it.effect("a call that fails inside the service answers an opaque internal error with the request id", () =>
    Effect.gen(function*() {
      // A constraint the service does not know about makes its insert fail in a way no handler expects.
      const sql = yield* PgClient.PgClient
      // (On a clear column: personal fields are sealed, so a check cannot read the name.)
      const tag = `mallory-${unique()}`
      yield* sql.unsafe(`ALTER TABLE customers ADD CONSTRAINT no_${unique()} CHECK (NOT ('${tag}' = ANY(tags)))`).pipe(
        Effect.orDie
      )
      const response = yield* postRpc([message({ tag: "CreateCustomer", payload: { input: newCustomer({ tags: [tag] }) } })], {
        headers: { "x-request-id": "rpc-defect-1" }
      })
      const text = yield* Effect.promise(() => response.text())
      assert.strictEqual(response.status, 200, text)
      assert.notMatch(text, /SqlError|PgConnection|constraint|INSERT|customers|stack|\.ts:\d+/i)
      const [exit] = JSON.parse(text) as ReadonlyArray<ExitMessage>
      assert.strictEqual(exit.exit._tag, "Failure")
      assert.deepStrictEqual(exit.exit.cause?.[0], {
        _tag: "Die",
        defect: { name: "InternalError", message: "Internal error: quote request id rpc-defect-1 to support" }
      })
    }))

  it.effect("a batch of more calls than the limit is refused whole, in a small answer, before any call runs", () =>
    Effect.gen(function*() {
      const before = yield* writeCounts
      const calls = Array.from({ length: 2_000 }, (_, index) =>
        message({ id: index, tag: "CreateCustomer", payload: { input: newCustomer() } }))
      const response = yield* postRpc(calls)
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.include(problem.detail ?? "", `at most ${maxCallsPerRequest} calls`)
      assert.deepStrictEqual(yield* writeCounts, before)
    }))

  it.effect("lists whose limits add up to more than 500 customers are refused, so no answer outgrows a REST page", () =>
    Effect.gen(function*() {
      const calls = [1, 2].map((id) => message({ id, tag: "ListCustomers", payload: { limit: "500" } }))
      const response = yield* postRpc(calls, { as: "analyst" })
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.include(problem.detail ?? "", "at most 500 customers")
    }))

  it.effect("a batch within the limits answers every call", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer()
      const calls = Array.from({ length: maxCallsPerRequest }, (_, id) =>
        message({ id, tag: "GetCustomer", payload: { id: created.id } }))
      const response = yield* postRpc(calls, { as: "analyst" })
      assert.strictEqual(response.status, 200)
      const exits = yield* exitsOf(response)
      assert.strictEqual(exits.length, maxCallsPerRequest)
      for (const exit of exits) assert.strictEqual(exit.exit._tag, "Success")
    }))

  it.effect("two calls with one id are refused with a problem naming the second call's id", () =>
    Effect.gen(function*() {
      const calls = [message({ id: "same", tag: "ListCustomers", payload: {} }), message({ id: "same", tag: "ListCustomers", payload: {} })]
      const response = yield* postRpc(calls, { headers: { "x-request-id": "duplicate-ids-1" } })
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(problem), ["body.1.id"])
      assert.strictEqual(response.headers.get("x-request-id"), "duplicate-ids-1")
    }))

  it.effect("an invalid payload is answered like REST: a 400 naming each field under the call's index", () =>
    Effect.gen(function*() {
      const before = yield* writeCounts
      const response = yield* postRpc([
        message({ id: 1, tag: "ListCustomers", payload: {} }),
        message({ id: 2, tag: "CreateCustomer", payload: { input: { ...newCustomer(), age: -1, tags: ["Not A Tag"] } } })
      ])
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.sameMembers(invalidPaths(problem), ["body.1.payload.input.age", "body.1.payload.input.tags.0"])
      assert.deepStrictEqual(yield* writeCounts, before)
    }))

  it.effect("an idempotency key follows the REST header's rules: empty or with a NUL it is refused", () =>
    Effect.gen(function*() {
      for (const idempotencyKey of ["", "key\u0000with-nul", "x".repeat(256)]) {
        const response = yield* postRpc([message({ tag: "CreateCustomer", payload: { input: newCustomer(), idempotencyKey } })])
        const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
        assert.deepStrictEqual(invalidPaths(problem), ["body.0.payload.idempotencyKey"])
      }
    }))

  it.effect("an unknown call is refused as invalid input, not a defect", () =>
    Effect.gen(function*() {
      const response = yield* postRpc([message({ tag: "DropAllCustomers", payload: {} })])
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(problem), ["body.0.tag"])
    }))

  it.effect("without credentials nothing is decoded: invalid payloads, unknown calls and deep nesting all get 401", () =>
    Effect.gen(function*() {
      const deep = `${"[".repeat(10_000)}${"]".repeat(10_000)}`
      const bodies: ReadonlyArray<unknown> = [
        [message({ tag: "CreateCustomer", payload: { input: { age: "old" } } })],
        [message({ tag: "DropAllCustomers", payload: {} })],
        "this is not JSON",
        [message({ tag: "ListCustomers", payload: { limit: "500" } }), message({ id: 2, tag: "ListCustomers", payload: {} })]
      ]
      for (const body of bodies) {
        const response = yield* postRpc(body, { as: false })
        assert.strictEqual(response.status, 401, JSON.stringify(body).slice(0, 80))
        assert.include(response.headers.get("www-authenticate") ?? "", "Bearer")
      }
      // Nesting is refused for every body before anything else, like its size: a 400, never a 500.
      const nested = yield* postRpc(deep, { as: false })
      yield* expectProblem(nested, 400, "/problems/invalid-request")
    }))

  it.effect("an unauthenticated batch is answered in RPC form, each call failing with Unauthenticated", () =>
    Effect.gen(function*() {
      const response = yield* postRpc([message({ id: 7, tag: "ListCustomers", payload: {} })], { as: false })
      assert.strictEqual(response.status, 401)
      const [exit] = yield* exitsOf(response)
      assert.strictEqual(exit.requestId, 7 as unknown as string)
      assert.strictEqual(failureType(exit), "/problems/unauthenticated")
    }))

  it.effect("credentials inside the body count for nothing: an analyst's request with an admin token in a call header stays an analyst's", () =>
    Effect.gen(function*() {
      const { token } = yield* TestService
      const admin = yield* token("admin")
      const before = yield* writeCounts
      const response = yield* postRpc(
        [message({ tag: "CreateCustomer", payload: { input: newCustomer() }, headers: [["authorization", `Bearer ${admin}`]] })],
        { as: "analyst" }
      )
      assert.strictEqual(response.status, 200)
      const [exit] = yield* exitsOf(response)
      assert.strictEqual(failureType(exit), "/problems/forbidden")
      assert.deepStrictEqual(yield* writeCounts, before)
    }))

  it.effect("credentials inside the body alone do not authenticate", () =>
    Effect.gen(function*() {
      const { token } = yield* TestService
      const admin = yield* token("admin")
      const response = yield* postRpc(
        [message({ tag: "ListCustomers", payload: {}, headers: [["authorization", `Bearer ${admin}`]] })],
        { as: false }
      )
      assert.strictEqual(response.status, 401)
    }))

  it.effect("a call the caller may not make fails with Forbidden before its payload is read", () =>
    Effect.gen(function*() {
      const response = yield* postRpc([message({ tag: "CreateCustomer", payload: { input: { tags: Array(5_000).fill("X") } } })], {
        as: "analyst"
      })
      assert.strictEqual(response.status, 200)
      const [exit] = yield* exitsOf(response)
      assert.strictEqual(failureType(exit), "/problems/forbidden")
    }))

  it.effect("a batch mixing allowed and forbidden calls runs the allowed ones and answers the others Forbidden", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer()
      const before = yield* writeCounts
      const response = yield* postRpc([
        message({ id: "read", tag: "GetCustomer", payload: { id: created.id } }),
        message({ id: "write", tag: "DeleteCustomer", payload: { id: created.id } })
      ], { as: "analyst" })
      assert.strictEqual(response.status, 200)
      const exits = new Map((yield* exitsOf(response)).map((exit) => [exit.requestId, exit]))
      assert.strictEqual(exits.get("read")?.exit._tag, "Success")
      assert.strictEqual(failureType(exits.get("write")!), "/problems/forbidden")
      assert.deepStrictEqual(yield* writeCounts, before)
    }))
})
