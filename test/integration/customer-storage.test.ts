/**
 * The row mapping derived from the Customer schema, against the real
 * database: any customer's state written through it (personal fields sealed)
 * reads back unchanged, and deletion leaves nothing personal in the row.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option, Struct } from "effect"
import { CustomerRepo } from "../../src/customers/CustomerRepo.ts"
import { storedSelection, type StoredRow, toStoredCustomer } from "../../src/customers/CustomerRow.ts"
import { Customer, CustomerId, customerModel } from "../../src/domain/Customer.ts"
import { createdCustomer, erasedState, stateOf } from "../../src/domain/CustomerState.ts"
import { Keyring } from "../../src/privacy/Keyring.ts"
import { customersPath, newCustomer, uniqueEmail } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer } from "../support/Http.ts"

// The repository on the test's own connection to the service's (migrated) database.
const Env = CustomerRepo.layer.pipe(Layer.provideMerge(testServiceWithDatabase({ nats: false })))

const rawRow = (id: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<StoredRow>`SELECT ${sql.literal(storedSelection)} FROM customers WHERE id = ${id}`.pipe(
      Effect.orDie,
      Effect.map((rows) => rows[0])
    ))

const storedRow = (id: string) =>
  Effect.gen(function*() {
    const row = yield* rawRow(id)
    const open = yield* (yield* Keyring).openerFor(id, row.data_key)
    return toStoredCustomer(row, open)
  })

layer(Env, { excludeTestServices: true })("the customer row mapping", (it) => {
  it.effect.prop("any customer's state is written and read back unchanged", [Customer], ([generated]) =>
    Effect.gen(function*() {
      const repo = yield* CustomerRepo
      // JSON, as every value reaches the database (so -0 is 0); an address no other run uses.
      const state = JSON.parse(JSON.stringify({ ...stateOf(generated), email: uniqueEmail("row") }))
      const id = CustomerId.make(crypto.randomUUID())
      const customer = createdCustomer(id, state, new Date().toISOString())
      const inserts = repo.inserts([customer])
      yield* Effect.forEach(inserts.statements, (statement) => statement.pipe(Effect.orDie), { discard: true })
      yield* inserts.committed
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

  it.effect("deletion stores the erased state, and no personal column keeps anything, sealed or clear", () =>
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
      for (const field of customerModel.personal) assert.isNull(stored[field], field)
      assert.deepStrictEqual(
        Struct.omit(stateOf(stored), customerModel.personal),
        Struct.omit(expected, customerModel.personal)
      )
      const row = yield* rawRow(created.id)
      assert.isNull(row.data_key, "the data key is destroyed")
      assert.notInclude(JSON.stringify(row), "Paula")
      assert.notInclude(JSON.stringify(row), created.email)
    }))
})
