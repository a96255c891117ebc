/**
 * A command that loses a race to another writer (the row changed between the
 * entity's read and its write) answers 412 with the version the customer
 * really has now, never a guess.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"

interface Conflict {
  readonly expectedVersion: number
  readonly currentVersion?: number
}

const Env = testServiceWithDatabase({ nats: false })

/**
 * Holds the customer's row locked while `command` runs, then moves the row to `version` and commits:
 * the command read the row before the lock was released and its version-guarded write finds it changed.
 */
const racingWriter = <A, E, R>(id: string, version: number, command: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const fiber = yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT 1 FROM customers WHERE id = ${id} FOR UPDATE`
      const fiber = yield* Effect.forkDetach(command)
      // Long enough for the command to read the row and wait on the lock with its UPDATE.
      yield* Effect.sleep("500 millis")
      yield* sql`UPDATE customers SET version = ${version} WHERE id = ${id}`
      return fiber
    })).pipe(Effect.orDie)
    return yield* Fiber.join(fiber)
  })

layer(Env, { excludeTestServices: true })("a lost race", (it) => {
  it.effect("an update that loses a race reports the customer's real current version", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer()
      const response = yield* racingWriter(
        created.id,
        7,
        call("PATCH", `${customersPath}/${created.id}`, { body: { name: "Late Writer" } })
      )
      const problem = (yield* expectProblem(response, 412, "/problems/version-conflict")) as unknown as Conflict
      assert.strictEqual(problem.expectedVersion, created.version)
      assert.strictEqual(problem.currentVersion, 7)
    }))

  it.effect("a delete that loses a race reports the customer's real current version", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer()
      const response = yield* racingWriter(created.id, 5, call("DELETE", `${customersPath}/${created.id}`))
      const problem = (yield* expectProblem(response, 412, "/problems/version-conflict")) as unknown as Conflict
      assert.strictEqual(problem.currentVersion, 5)
    }))
})
