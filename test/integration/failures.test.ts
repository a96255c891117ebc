import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { consent, customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, expectProblem } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

layer(testServiceWithDatabase(), { excludeTestServices: true })("unexpected failures", (it) => {
  it.effect("a database error inside a command answers 500 at once, without SQL, and the next command works", () =>
    Effect.gen(function*() {
      // A constraint the service does not know about: its insert fails in a way no handler expects.
      const sql = yield* PgClient.PgClient
      // (On a clear column: personal fields are sealed, so a check cannot read the name.)
      yield* sql`ALTER TABLE customers ADD CONSTRAINT no_mallory CHECK (NOT ('mallory' = ANY(tags)))`
      const failed = yield* call("POST", customersPath, {
        body: { email: "mallory@example.com", name: "Mallory", tags: ["mallory"], consent },
        headers: { "x-request-id": "failing-request-1" }
      }).pipe(Effect.timeout("10 seconds"))
      const body = yield* Effect.promise(() => failed.text())
      assert.notMatch(body, /no_mallory|constraint|INSERT|customers|at .*\.ts/i)
      assert.strictEqual(failed.headers.get("x-request-id"), "failing-request-1")
      const problem = yield* expectProblem(new Response(body, failed), 500, "/problems/internal")
      assert.include(problem.detail ?? "", "failing-request-1")

      const next = yield* call("POST", customersPath, { body: { email: "alice@example.com", name: "Alice", consent } })
      assert.strictEqual(next.status, 201)
      const created = yield* json<{ readonly name: string }>(next)
      assert.strictEqual(created.name, "Alice")
    }))

  it.effect("an unknown route answers a 404 problem", () =>
    Effect.gen(function*() {
      const response = yield* call("GET", "/api/v1/no-such-thing")
      yield* expectProblem(response, 404, "/problems/route-not-found")
    }))
})
