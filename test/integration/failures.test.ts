import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import postgres from "postgres"
import { json, TestService, testService } from "../support/TestService.ts"

const consent = { marketing: false, dataProcessing: true }

/** Runs SQL in the service's database from outside the service. */
const sqlInTestDatabase = (statement: string) =>
  Effect.flatMap(TestService, ({ databaseUrl }) =>
    Effect.promise(async () => {
      const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
      await sql.unsafe(statement)
      await sql.end()
    }))

layer(testService(), { excludeTestServices: true })("unexpected failures", (it) => {
  it.effect("a database error inside a command answers 500 at once, without SQL, and the next command works", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      // A constraint the service does not know about: its insert fails in a way no handler expects.
      yield* sqlInTestDatabase(`ALTER TABLE customers ADD CONSTRAINT no_mallory CHECK (name <> 'Mallory')`)
      const failed = yield* request("/api/v1/customers", {
        method: "POST",
        body: JSON.stringify({ email: "mallory@example.com", name: "Mallory", consent })
      }).pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(failed.status, 500)
      const body = yield* Effect.promise(() => failed.text())
      assert.notMatch(body, /no_mallory|constraint|INSERT|customers/i)

      const next = yield* request("/api/v1/customers", {
        method: "POST",
        body: JSON.stringify({ email: "alice@example.com", name: "Alice", consent })
      })
      assert.strictEqual(next.status, 201)
      const created = yield* json<{ readonly name: string }>(next)
      assert.strictEqual(created.name, "Alice")
    }))
})
