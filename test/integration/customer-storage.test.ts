/**
 * The row mapping derived from the Customer schema, against the real
 * database: any customer's state written through it reads back unchanged, and
 * deletion writes the whole erased state the schema derives.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { CustomerRepo } from "../../src/customers/CustomerRepo.ts"
import { type CustomerRow, customerColumns, toCustomer } from "../../src/customers/CustomerRow.ts"
import { Customer, CustomerId } from "../../src/domain/Customer.ts"
import { createdCustomer, erasedState, personalFields, stateOf } from "../../src/domain/CustomerState.ts"
import { customersPath, newCustomer, uniqueEmail } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer } from "../support/Http.ts"

// The repository on the test's own connection to the service's (migrated) database.
const Env = CustomerRepo.layer.pipe(Layer.provideMerge(testServiceWithDatabase({ nats: false })))

const storedRow = (id: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<CustomerRow>`SELECT ${sql.literal(customerColumns)} FROM customers WHERE id = ${id}`.pipe(
      Effect.orDie,
      Effect.map((rows) => toCustomer(rows[0]))
    ))

layer(Env, { excludeTestServices: true })("the customer row mapping", (it) => {
  it.effect.prop("any customer's state is written and read back unchanged", [Customer], ([generated]) =>
    Effect.gen(function*() {
      const repo = yield* CustomerRepo
      // JSON, as every value reaches the database (so -0 is 0); an address no other run uses.
      const state = JSON.parse(JSON.stringify({ ...stateOf(generated), email: uniqueEmail("row") }))
      const id = CustomerId.make(crypto.randomUUID())
      const customer = createdCustomer(id, state, new Date().toISOString())
      yield* repo.insertStatement([customer]).pipe(Effect.orDie)
      const stored = yield* storedRow(id)
      assert.deepStrictEqual(stateOf(stored), state)
      assert.deepStrictEqual(stored, customer)
    }), { timeout: 60_000, arbitrary: { runs: 40 } })

  it.effect("an update writes every state field and bumps the version", () =>
    Effect.gen(function*() {
      const repo = yield* CustomerRepo
      const created = yield* createCustomer(newCustomer({ tags: ["a"], location: { country: "GB" } }))
      const next = {
        ...stateOf(created),
        name: "Ada King",
        age: 37,
        gender: "FEMALE" as const,
        location: null,
        preferences: { language: "en-GB" },
        tags: ["b", "c"],
        metadata: { source: { nested: [1, "two"] } },
        status: "INACTIVE" as const
      }
      const updated = Option.getOrThrow(yield* repo.update(created.id, created.version, next).pipe(Effect.orDie))
      assert.deepStrictEqual(stateOf(updated), next)
      assert.strictEqual(updated.version, created.version + 1)
      assert.deepStrictEqual(yield* storedRow(created.id), updated)
    }))

  it.effect("deletion stores the erased state: every personal column emptied or replaced", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(newCustomer({
        name: "Paula Personal",
        age: 41,
        gender: "FEMALE",
        location: { country: "FR", city: "Lyon" },
        preferences: { language: "fr-FR" },
        tags: ["vip"],
        metadata: { source: "shop" }
      }))
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${created.id}`)).status, 204)
      const stored = yield* storedRow(created.id)
      const expected = erasedState(created.id, stateOf(created))
      assert.deepStrictEqual(stateOf(stored), expected)
      // Each personal field the customer had filled in now holds something else.
      for (const field of personalFields.filter((field) => field !== "emailVerified" && field !== "pendingEmail")) {
        assert.notDeepEqual(stored[field], created[field], field)
      }
      assert.notInclude(JSON.stringify(stored), "Paula")
      assert.notInclude(JSON.stringify(stored), created.email)
    }))
})
