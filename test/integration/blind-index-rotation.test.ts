/**
 * Rotating the blind index key (src/privacy/BlindIndex.ts, CustomerRepo reindexBatch, `npm run keys:rotate`):
 * while the old key is still configured beside the new one, customers indexed under either are found, unique and
 * searchable; the re-index pass moves every row to the new key in resumable batches; then the old key leaves the
 * configuration and lookup, uniqueness, search and suppression all still hold. Each test runs the service on one
 * database several times, configured as each step of the rotation has it.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { CustomerRepo } from "../../src/customers/CustomerRepo.ts"
import type { Customer } from "../../src/domain/Customer.ts"
import { customersPath, newCustomer, uniqueEmail } from "../support/Customers.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { json, scopedDatabase, testBlindIndexKey, testMasterKeys, testService } from "../support/TestService.ts"

const oldKey = testBlindIndexKey
const newKey = "the test suite's rotated blind index key, 32 bytes or more"

/** The steps of a rotation, as each process is configured (the background pass is left to the test). */
const before = { KEY_UPKEEP: "false" }
const rotating = { KEY_UPKEEP: "false", BLIND_INDEX_KEY: undefined, BLIND_INDEX_KEYS: `v2:${newKey},v1:${oldKey}` }
// The suppression list cannot be re-keyed: its key stays, under its own name.
const rotated = { KEY_UPKEEP: "false", BLIND_INDEX_KEY: undefined, BLIND_INDEX_KEYS: `v2:${newKey}`, SUPPRESSION_KEY: oldKey }

/** Runs `effect` against the service started on `databaseUrl` with `env`, stopped afterwards. */
const runningWith = (databaseUrl: string, env: Record<string, string | undefined>) =>
<A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.scoped(
    Effect.flatMap(
      Layer.build(testService({ nats: false, env: { DATABASE_URL: databaseUrl, ...env } })),
      (context) => Effect.provide(effect, context)
    )
  )

const search = (q: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${customersPath}?q=${encodeURIComponent(q)}&limit=100`)
    assert.strictEqual(response.status, 200)
    const page = yield* json<{ readonly data: ReadonlyArray<Customer> }>(response)
    return page.data.map((customer) => customer.id).sort()
  })

const indexVersions = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ readonly id: string; readonly version: string | null }>`SELECT id::text, blind_index_version AS version
    FROM customers ORDER BY id`.pipe(Effect.orDie))

/** `npm run keys:rotate` as an operator runs it, against the database, with the rotation's keys. */
const keysRotateCommand = (databaseUrl: string) =>
  Effect.callback<{ readonly reindexed: number; readonly blindIndexKey: string }>((resume) => {
    execFile(process.execPath, ["scripts/keys-rotate.ts"], {
      cwd: fileURLToPath(new URL("../../", import.meta.url)),
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: databaseUrl,
        MASTER_KEYS: testMasterKeys,
        BLIND_INDEX_KEYS: rotating.BLIND_INDEX_KEYS,
        KEYS_ROTATE_BATCH: "2"
      }
    }, (error, stdout, stderr) => {
      resume(error === null ? Effect.succeed(JSON.parse(stdout)) : Effect.die(new Error(`keys:rotate failed: ${stderr}`)))
    })
  })

describe("blind index key rotation", () => {
  it.live("while the old key is configured beside the new one, customers under either are found, unique and searchable", () =>
    Effect.gen(function*() {
      const database = yield* scopedDatabase
      const surname = `Vintage${crypto.randomUUID().slice(0, 6)}`
      const old = yield* runningWith(database.url, before)(createCustomer(newCustomer({ name: `Ada ${surname}` })))

      yield* runningWith(database.url, rotating)(Effect.gen(function*() {
        const fresh = yield* createCustomer(newCustomer({ name: `Bob ${surname}` }))
        assert.deepStrictEqual(
          (yield* indexVersions).map((row) => [row.id, row.version]),
          [[old.id, "v1"], [fresh.id, "v2"]].sort()
        )
        assert.deepStrictEqual(yield* search(surname), [old.id, fresh.id].sort())
        assert.deepStrictEqual(yield* search(old.email), [old.id])
        assert.deepStrictEqual(yield* search(`ada ${surname}`), [old.id])
        // The address under the old key is taken, in any letter case: by a create and by an email change.
        yield* expectProblem(
          yield* call("POST", customersPath, { body: newCustomer({ email: old.email.toUpperCase() }) }),
          409,
          "/problems/email-already-exists"
        )
        yield* expectProblem(
          yield* call("PATCH", `${customersPath}/${fresh.id}`, { body: { email: old.email } }),
          409,
          "/problems/email-already-exists"
        )
      }))
    }), 120_000)

  it.live("the re-index pass moves every row to the new key in resumable batches; then the old key leaves and everything still holds", () =>
    Effect.gen(function*() {
      const database = yield* scopedDatabase
      const surname = `Rotated${crypto.randomUUID().slice(0, 6)}`
      const erasedEmail = uniqueEmail("erased-before-rotation")
      const customers = yield* runningWith(database.url, before)(Effect.gen(function*() {
        const created: Array<Customer> = []
        for (let i = 0; i < 5; i++) created.push(yield* createCustomer(newCustomer({ name: `Rita${i} ${surname}` })))
        const erased = yield* createCustomer(newCustomer({ email: erasedEmail }))
        assert.strictEqual((yield* call("DELETE", `${customersPath}/${erased.id}/data`)).status, 202)
        return created
      }))

      yield* runningWith(database.url, rotating)(Effect.gen(function*() {
        // One batch commits and stops; the command goes on from there to the end.
        const first = yield* Effect.flatMap(CustomerRepo, (repo) => repo.reindexBatch(2, null))
        assert.strictEqual(first.reindexed, 2)
      }))
      const command = yield* keysRotateCommand(database.url)
      assert.deepStrictEqual(command, { ...command, reindexed: 3, blindIndexKey: "v2" })

      yield* runningWith(database.url, rotated)(Effect.gen(function*() {
        const versions = yield* indexVersions
        assert.deepStrictEqual([...new Set(versions.map((row) => row.version))].sort(), [null, "v2"])
        assert.deepStrictEqual(yield* search(surname), customers.map((customer) => customer.id).sort())
        assert.deepStrictEqual(yield* search(`rita3 ${surname}`), [customers[3].id])
        assert.deepStrictEqual(yield* search(customers[1].email), [customers[1].id])
        yield* expectProblem(
          yield* call("POST", customersPath, { body: newCustomer({ email: customers[0].email.toUpperCase() }) }),
          409,
          "/problems/email-already-exists"
        )
        // Erased before the rotation, still suppressed after it; and one erased now too.
        yield* expectProblem(
          yield* call("POST", customersPath, { body: newCustomer({ email: erasedEmail }) }),
          409,
          "/problems/identity-suppressed"
        )
        assert.strictEqual((yield* call("DELETE", `${customersPath}/${customers[4].id}/data`)).status, 202)
        yield* expectProblem(
          yield* call("POST", customersPath, { body: newCustomer({ email: customers[4].email }) }),
          409,
          "/problems/identity-suppressed"
        )
        const fresh = yield* createCustomer(newCustomer({ name: `Newcomer ${surname}` }))
        assert.include(yield* search(`newcomer ${surname}`), fresh.id)
      }))
    }), 120_000)
})
