/**
 * Encryption at rest (src/privacy/Keyring.ts, src/customers/CustomerRow.ts): personal fields are sealed under
 * the customer's own data key, found through keyed hashes, bound to their row and field, and gone for good
 * once erasure destroys the key.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer } from "effect"
import type { Customer } from "../../src/domain/Customer.ts"
import { Keyring, UnreadableSealedValue } from "../../src/privacy/Keyring.ts"
import { customersPath, newCustomer, uniqueEmail } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem, getCustomer } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

const Env = testServiceWithDatabase({ nats: false })

/** The customer's row as PostgreSQL holds it, every column as text. */
const rowText = (id: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly row: string }>`SELECT c::text AS row FROM customers c WHERE id = ${id}`.pipe(
      Effect.orDie,
      Effect.map((rows) => rows[0].row)
    ))

const sealedFields = (id: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly personal_sealed: Uint8Array }>`SELECT personal_sealed FROM customers WHERE id = ${id}`.pipe(
      Effect.orDie,
      Effect.map((rows) => rows[0].personal_sealed)
    ))

const keyRows = (id: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly master_key_version: string; readonly wrapped: Uint8Array }>`SELECT master_key_version, wrapped
      FROM customer_keys.data_keys WHERE customer_id = ${id}`.pipe(Effect.orDie))

/** A Keyring built as a production start would build it, over the test's database client. */
const productionKeyring = (env: Record<string, string>) =>
  Effect.exit(Effect.asVoid(Effect.scoped(Layer.build(
    Layer.fresh(Keyring.layer).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ NODE_ENV: "production", ...env }))))
  ))))

const defectMessage = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit), "the start was not refused")
  return String(exit)
}

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("encryption at rest", (it) => {
  it.effect("a created customer's email, name and postal code are not in the row in plaintext, yet GET serves them", () =>
    Effect.gen(function*() {
      const email = uniqueEmail("Sealed.Person")
      const created = yield* createCustomer(newCustomer({
        email,
        name: "Ottilie Sealwright",
        location: { country: "DE", city: "Berlin", postalCode: "10115", timezone: "Europe/Berlin" }
      }))
      const row = yield* rowText(created.id)
      for (const secret of [email, email.toLowerCase(), "Ottilie", "Sealwright", "10115", "Europe/Berlin"]) {
        assert.notInclude(row, secret)
      }
      const served = yield* getCustomer(created.id)
      assert.strictEqual(served.email, email)
      assert.strictEqual(served.name, "Ottilie Sealwright")
      assert.deepStrictEqual(served.location, created.location)
    }))

  it.effect("segments' coarse location (country, region, city) stays readable in SQL; the rest is sealed", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(newCustomer({
        location: { country: "FR", region: "Rhône", city: "Lyon", postalCode: "69001" }
      }))
      const sql = yield* PgClient.PgClient
      const [row] = yield* sql<{ readonly location: unknown; readonly country: string }>`SELECT location, country
        FROM customers WHERE id = ${created.id}`
      assert.deepStrictEqual(row.location, { country: "FR", region: "Rhône", city: "Lyon" })
      assert.strictEqual(row.country, "FR")
    }))

  it.effect("each customer gets a data key of their own, stored wrapped under the newest master key in its own schema", () =>
    Effect.gen(function*() {
      const first = yield* createCustomer()
      const second = yield* createCustomer()
      const [firstKey] = yield* keyRows(first.id)
      const [secondKey] = yield* keyRows(second.id)
      assert.strictEqual(firstKey.master_key_version, "test1")
      assert.notDeepEqual(Buffer.from(firstKey.wrapped), Buffer.from(secondKey.wrapped))
    }))

  it.effect("an address taken in another letter case is refused with 409 through the blind index", () =>
    Effect.gen(function*() {
      const email = uniqueEmail("Case.Taken")
      yield* createCustomer(newCustomer({ email }))
      const response = yield* call("POST", customersPath, { body: newCustomer({ email: email.toUpperCase() }) })
      yield* expectProblem(response, 409, "/problems/email-already-exists")
    }))

  it.effect("changing an email to another customer's address in another letter case is refused with 409", () =>
    Effect.gen(function*() {
      const email = uniqueEmail("Change.Taken")
      yield* createCustomer(newCustomer({ email }))
      const other = yield* createCustomer()
      const response = yield* call("PATCH", `${customersPath}/${other.id}`, { body: { email: email.toUpperCase() } })
      yield* expectProblem(response, 409, "/problems/email-already-exists")
    }))

  it.effect("q finds a customer by part of the sealed name or email, whatever its letter case", () =>
    Effect.gen(function*() {
      const marker = `zq${crypto.randomUUID().slice(0, 6)}`
      const byName = yield* createCustomer(newCustomer({ name: `Wilhelmina ${marker}Stone` }))
      const byEmail = yield* createCustomer(newCustomer({ email: `mail.${marker}@example.net` }))
      const found = (q: string) =>
        Effect.gen(function*() {
          const response = yield* call("GET", `${customersPath}?q=${encodeURIComponent(q)}&limit=500`)
          assert.strictEqual(response.status, 200)
          const page = yield* json<{ readonly data: ReadonlyArray<{ readonly id: string }> }>(response)
          return page.data.map((customer) => customer.id)
        })
      assert.sameMembers(yield* found(marker.toUpperCase()), [byName.id, byEmail.id])
      assert.sameMembers(yield* found(`${marker}stone`), [byName.id])
      assert.sameMembers(yield* found(`${marker}@example.NET`), [byEmail.id])
      assert.deepStrictEqual(yield* found(`${marker}stones`), [])
    }))

  it.effect("a keyed create's stored first answer holds no personal field in the clear, and a retry replays it whole", () =>
    Effect.gen(function*() {
      const body = newCustomer({ name: "Ida Idempotent", location: { country: "IT", city: "Rome", postalCode: "00184" } })
      const headers = { "idempotency-key": `sealed-${crypto.randomUUID()}` }
      const first = yield* call("POST", customersPath, { body, headers })
      assert.strictEqual(first.status, 201)
      const created = yield* json<Customer>(first)
      const sql = yield* PgClient.PgClient
      const [stored] = yield* sql<{ readonly row: string }>`SELECT k::text AS row FROM idempotency_keys k
        WHERE customer_id = ${created.id}`
      for (const secret of [body.email, "Ida", "00184"]) assert.notInclude(stored.row, secret)
      const retry = yield* call("POST", customersPath, { body, headers })
      assert.strictEqual(retry.headers.get("idempotent-replayed"), "true")
      assert.deepStrictEqual(yield* json<Customer>(retry), created)
    }))

  it.effect("a ciphertext copied to another customer's row does not open: GET answers the opaque 500", () =>
    Effect.gen(function*() {
      const victim = yield* createCustomer(newCustomer({ name: "Victoria Victim" }))
      const other = yield* createCustomer()
      const sql = yield* PgClient.PgClient
      yield* sql`UPDATE customers SET personal_sealed = (SELECT personal_sealed FROM customers WHERE id = ${victim.id})
        WHERE id = ${other.id}`
      const response = yield* call("GET", `${customersPath}/${other.id}`)
      const problem = yield* expectProblem(response, 500, "/problems/internal")
      assert.notInclude(JSON.stringify(problem), "Victoria")
    }))

  it.effect("a ciphertext with one bit changed does not open", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const sql = yield* PgClient.PgClient
      const sealed = Buffer.from(yield* sealedFields(customer.id))
      sealed[sealed.length - 1] ^= 1
      yield* sql`UPDATE customers SET personal_sealed = ${sealed} WHERE id = ${customer.id}`
      yield* expectProblem(yield* call("GET", `${customersPath}/${customer.id}`), 500, "/problems/internal")
    }))

  it.effect("a data key moved to another customer does not unwrap", () =>
    Effect.gen(function*() {
      const first = yield* createCustomer()
      const second = yield* createCustomer()
      const sql = yield* PgClient.PgClient
      yield* sql`UPDATE customer_keys.data_keys SET wrapped = (SELECT wrapped FROM customer_keys.data_keys
        WHERE customer_id = ${first.id}) WHERE customer_id = ${second.id}`
      // Another process (or this one, once its cache forgot the key) must unwrap it again.
      const [{ wrapped }] = yield* keyRows(second.id)
      const exit = yield* Effect.exit(Effect.flatMap(Keyring, (keyring) => keyring.openerFor(second.id, wrapped)))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(exit), "failed authentication")
    }))

  it.effect("DELETE destroys the customer's data key: the ciphertext taken before cannot be opened any more", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer({ name: "Shredded Sam" }))
      const before = yield* sealedFields(customer.id)
      const keyring = yield* Keyring
      // Opens while the key exists.
      const [{ wrapped }] = yield* keyRows(customer.id)
      const opened = (yield* keyring.openerFor(customer.id, wrapped))("personal_sealed", before)
      assert.deepInclude(opened, { name: "Shredded Sam", email: customer.email })
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${customer.id}`)).status, 204)
      assert.lengthOf(yield* keyRows(customer.id), 0)
      // What a copy of the row (a backup without the key table, a replica) could offer the keyring now.
      const open = yield* keyring.openerFor(customer.id, null)
      assert.throws(() => open("personal_sealed", before), UnreadableSealedValue)
    }))

  it.effect("anonymising replaces the data key: what was sealed before cannot be opened, the anonymous profile reads", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer({ name: "Anonymised Ann" }))
      const before = yield* sealedFields(customer.id)
      const [{ wrapped: oldKey }] = yield* keyRows(customer.id)
      const anonymised = yield* call("POST", `${customersPath}/${customer.id}/anonymize`, { body: {} })
      assert.strictEqual(anonymised.status, 200)
      const [{ wrapped: newKey }] = yield* keyRows(customer.id)
      assert.notDeepEqual(newKey, oldKey)
      const keyring = yield* Keyring
      const open = yield* keyring.openerFor(customer.id, newKey)
      assert.throws(() => open("personal_sealed", before), UnreadableSealedValue)
      const read = yield* getCustomer(customer.id)
      assert.notStrictEqual(read.name, "Anonymised Ann")
      assert.notStrictEqual(read.email, customer.email)
    }))

  it.effect("a production start refuses the development master key", () =>
    Effect.gen(function*() {
      assert.include(defectMessage(yield* productionKeyring({})), "MASTER_KEYS")
      const development = `dev:${Buffer.from("development-master-key-32-bytes!").toString("base64")}`
      const withRealKey = `v2:${Buffer.alloc(32, 7).toString("base64")},${development}`
      assert.include(defectMessage(yield* productionKeyring({ MASTER_KEYS: withRealKey })), "development key")
    }))

  it.effect("a production start refuses PII_ENCRYPTION=false and master keys that are not 32 bytes", () =>
    Effect.gen(function*() {
      const key = `v1:${Buffer.alloc(32, 9).toString("base64")}`
      assert.include(defectMessage(yield* productionKeyring({ MASTER_KEYS: key, PII_ENCRYPTION: "false" })), "PII_ENCRYPTION")
      const short = `v1:${Buffer.alloc(16, 9).toString("base64")},v0:${Buffer.alloc(32, 1).toString("base64")}`
      assert.include(defectMessage(yield* productionKeyring({ MASTER_KEYS: short })), "MASTER_KEYS")
      assert.isTrue(Exit.isSuccess(yield* productionKeyring({ MASTER_KEYS: key })))
    }))
})
