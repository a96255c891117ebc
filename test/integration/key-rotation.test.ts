/**
 * Master key rotation (src/privacy/Keyring.ts rewrapBatch, src/customers/KeyUpkeep.ts, `npm run keys:rotate`):
 * every data key is re-wrapped under the newest master key in resumable batches, after which the old master key
 * can leave MASTER_KEYS and every customer still reads. Rows written before encryption at rest are served from
 * their clear columns until the same pass seals them.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer } from "effect"
import { storedSelection, type StoredRow, toStoredCustomer } from "../../src/customers/CustomerRow.ts"
import { keyUpkeep } from "../../src/customers/KeyUpkeep.ts"
import type { Customer } from "../../src/domain/Customer.ts"
import { Keyring } from "../../src/privacy/Keyring.ts"
import { newCustomer, uniqueEmail } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, getCustomer } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

const masterKey = (version: string, fill: number) => `${version}:${Buffer.alloc(32, fill).toString("base64")}`
const v1 = masterKey("v1", 1)
const v2 = masterKey("v2", 2)

// The service wraps under v1; the background pass is left to the test.
const Env = testServiceWithDatabase({ nats: false, env: { MASTER_KEYS: v1, KEY_UPKEEP: "false" } })

/** A row as written before encryption at rest: clear email, name and location, no data key. */
const insertLegacyRow = (email: string) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const id = crypto.randomUUID()
    yield* sql`INSERT INTO customers (id, email, name, location, consent)
      VALUES (${id}, ${email}, ${"Lena Legacy"},
        ${sql.json({ country: "NL", city: "Utrecht", postalCode: "3511" })}, ${sql.json({ marketing: false, dataProcessing: true })})`
    return id
  })

/** A keyring as a process configured with `masterKeys` has it (another process, or the service restarted). */
const keyringWith = (masterKeys: string) =>
  Layer.fresh(Keyring.layer).pipe(
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ MASTER_KEYS: masterKeys })))
  )

/** The customer as `masterKeys` reads it from its row, without the service. */
const readWith = (masterKeys: string, id: string) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const [row] = yield* sql<StoredRow>`SELECT ${sql.literal(storedSelection)} FROM customers WHERE id = ${id}`
    const open = yield* (yield* Keyring).openerFor(id, row.data_key)
    return toStoredCustomer(row, open)
  }).pipe(Effect.provide(keyringWith(masterKeys)))

const keyVersions = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ readonly version: string; readonly n: number }>`SELECT master_key_version AS version, count(*)::int AS n
    FROM customer_keys.data_keys GROUP BY 1 ORDER BY 1`)

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("master key rotation", (it) => {
  it.effect("rotating re-wraps every key under the newest master key; without the old key every customer still reads", () =>
    Effect.gen(function*() {
      const created: Array<Customer> = []
      for (let i = 0; i < 5; i++) created.push(yield* createCustomer(newCustomer({ name: `Rotating Rita ${i}` })))
      const rotating = Effect.flatMap(Keyring, (keyring) => keyring.rewrapBatch(2)).pipe(Effect.provide(keyringWith(`${v2},${v1}`)))
      // One batch commits and stops: the rest is still under v1, and the next run goes on from there.
      assert.strictEqual(yield* rotating, 2)
      const halfway = yield* keyVersions
      assert.deepStrictEqual(halfway.map((row) => row.version), ["v1", "v2"])
      let batches = 1
      while ((yield* rotating) > 0) batches++
      assert.isAtLeast(batches, 3)
      assert.deepStrictEqual((yield* keyVersions).map((row) => row.version), ["v2"])
      for (const customer of created) {
        const read = yield* readWith(v2, customer.id)
        assert.deepStrictEqual(read, customer)
      }
    }))

  it.effect("after rotation the old master key alone opens nothing", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      yield* Effect.flatMap(Keyring, (keyring) => keyring.rewrapBatch(1_000)).pipe(Effect.provide(keyringWith(`${v2},${v1}`)))
      const exit = yield* Effect.exit(readWith(v1, customer.id))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(exit), "master key v2 is not configured")
    }))

  it.effect("a row written before encryption at rest is served from its clear columns, then sealed by the upkeep pass", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const email = uniqueEmail("Legacy.Lena")
      const id = yield* insertLegacyRow(email)
      const before = yield* getCustomer(id)
      assert.strictEqual(before.email, email)
      assert.deepStrictEqual(before.location, { country: "NL", city: "Utrecht", postalCode: "3511" })
      const result = yield* keyUpkeep(2)
      assert.isAtLeast(result.sealed, 1)
      const [row] = yield* sql<{ readonly row: string }>`SELECT c::text AS row FROM customers c WHERE id = ${id}`
      for (const secret of [email, "Lena", "3511"]) assert.notInclude(row.row, secret)
      assert.deepStrictEqual(yield* getCustomer(id), before)
    }))

  it.effect("a change of a row written before encryption at rest seals it first, then applies the change", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const email = uniqueEmail("Legacy.Lars")
      const id = yield* insertLegacyRow(email)
      const response = yield* call("PATCH", `/api/v1/customers/${id}`, { body: { tags: ["moved-on"] } })
      assert.strictEqual(response.status, 200)
      const changed = yield* json<Customer>(response)
      assert.strictEqual(changed.email, email)
      assert.deepStrictEqual(changed.tags, ["moved-on"])
      const [row] = yield* sql<{ readonly row: string }>`SELECT c::text AS row FROM customers c WHERE id = ${id}`
      for (const secret of [email, "Lena", "3511"]) assert.notInclude(row.row, secret)
      assert.deepStrictEqual(yield* getCustomer(id), changed)
    }))
})
