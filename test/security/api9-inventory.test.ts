/**
 * OWASP API9:2023 Improper Inventory Management. The OpenAPI document is the
 * inventory: every route the server answers is in it (or is one of the three
 * documentation routes), each documented path answers exactly its documented
 * methods (others: 405 naming them), and old, future, debug or guessed paths
 * answer 404, for any caller, changing nothing.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { asyncApiPath, docsPath, openApiPath } from "../../src/api/Documentation.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, expectProblem } from "../support/Http.ts"
import { changesNothing, concretePath, operations } from "../support/Security.ts"

const methods = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const

/** Documented path → its documented methods. */
const inventory = new Map<string, ReadonlyArray<string>>()
for (const operation of operations) inventory.set(operation.path, [...(inventory.get(operation.path) ?? []), operation.method])

/** Paths an attacker guesses: other versions, debug and admin pages, files, the framework's defaults. */
const undocumented = [
  "/api/v0/customers",
  "/api/v2/customers",
  "/api/customers",
  "/v1/customers",
  "/api/v1/admin",
  "/api/v1/debug",
  "/api/v1/internal/customers",
  "/api/v1/users",
  "/api/v1/rpc/ListCustomers",
  "/admin",
  "/debug/pprof",
  "/actuator/env",
  "/server-status",
  "/.env",
  "/.git/config",
  "/package.json",
  "/src/main.ts",
  "/openapi.json",
  "/swagger.json",
  "/graphql",
  "/api/v1/openapi.yaml"
]

layer(testServiceWithDatabase(), { excludeTestServices: true })("API9 improper inventory management", (it) => {
  it.effect("the document lists every operation the server defines, the RPC door included", () =>
    Effect.sync(() => {
      assert.isAtLeast(operations.length, 44)
      assert.isTrue(operations.some((operation) => operation.method === "POST" && operation.path === "/api/v1/rpc"))
      // Each operation once, each with an id: a client generator names them all.
      const ids = operations.map((operation) => operation.id)
      assert.strictEqual(new Set(ids).size, ids.length)
    }))

  it.effect("every documented path refuses the methods it does not document with a 405 naming the ones it does", () =>
    Effect.gen(function*() {
      yield* changesNothing(Effect.forEach([...inventory], ([path, documented]) =>
        Effect.gen(function*() {
          const concrete = concretePath(path)
          // The documented methods are exercised by every other file; here only the others, which must change nothing.
          for (const method of methods.filter((method) => !documented.includes(method))) {
            const response = yield* call(method, concrete, method === "GET" || method === "DELETE" ? {} : { body: {} })
            yield* expectProblem(response, 405, "/problems/method-not-allowed")
            assert.deepStrictEqual(
              (response.headers.get("allow") ?? "").split(", ").sort(),
              [...documented].sort(),
              `${method} ${path}`
            )
          }
        }), { concurrency: 2 }))
    }))

  it.effect("the documentation routes answer without credentials, and are the only undocumented ones", () =>
    Effect.gen(function*() {
      for (const path of [openApiPath, asyncApiPath, docsPath]) {
        assert.strictEqual((yield* call("GET", path, { auth: false })).status, 200, path)
        assert.isFalse(inventory.has(path))
      }
    }))

  it.effect("old, future, debug and guessed paths are 404 problems, with or without credentials", () =>
    Effect.gen(function*() {
      yield* changesNothing(Effect.forEach(undocumented, (path) =>
        Effect.gen(function*() {
          for (const auth of [true, false]) {
            for (const method of ["GET", "POST"]) {
              const response = yield* call(method, path, { auth, ...(method === "POST" ? { body: {} } : {}) })
              assert.strictEqual(response.status, 404, `${method} ${path}`)
              yield* expectProblem(response, 404, "/problems/route-not-found")
            }
          }
        })))
    }))
})
