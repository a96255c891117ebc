/**
 * The suppression list holds against the writes that could hand an erased address to a live customer while, or
 * after, it is erased: an email verification confirmed after the address was erased elsewhere, and a create
 * running while the erasure of the same address commits (src/privacy/Erasure.ts claimExpression, lockIdentity).
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import type { Customer } from "../../src/domain/Customer.ts"
import { BlindIndex } from "../../src/privacy/BlindIndex.ts"
import { customersPath, newCustomer, uniqueEmail } from "../support/Customers.ts"
import { outboxRows, testServiceWithDatabase, verificationToken } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem, getCustomer } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

const Env = testServiceWithDatabase({ nats: false })

/** Backends of the service waiting for a lock while running a statement that contains `text`. */
const waitingOn = (text: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE ${`%${text}%`}`.pipe(
      Effect.orDie,
      Effect.map(([row]) => row.n)
    ))

layer(Env, { excludeTestServices: true, timeout: 60_000 })("identity suppression against racing writes", (it) => {
  it.effect("a verification confirmed after its address was erased elsewhere is refused with 409 identity-suppressed", () =>
    Effect.gen(function*() {
      const address = uniqueEmail("erased-elsewhere")
      const changing = yield* createCustomer()
      const path = `${customersPath}/${changing.id}`
      assert.strictEqual((yield* call("PATCH", path, { body: { email: address } })).status, 200)
      const token = yield* verificationToken(changing.id)
      // Meanwhile the address is another customer's, who is then erased.
      const holder = yield* createCustomer(newCustomer({ email: address.toUpperCase() }))
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${holder.id}/data`)).status, 202)

      const confirmed = yield* call("POST", `${path}/email/verify`, { body: { token } })
      const problem = yield* expectProblem(confirmed, 409, "/problems/identity-suppressed")
      assert.strictEqual(problem.field, "email")
      const after = yield* getCustomer(changing.id)
      assert.strictEqual(after.email, changing.email)
      assert.strictEqual(after.version, changing.version + 1)
      assert.lengthOf(yield* outboxRows(`customers.${changing.id}.email-verified`), 0)
    }))

  it.effect("a create of an address whose erasure is committing waits for it, then is refused with 409 identity-suppressed", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const input = newCustomer({ email: uniqueEmail("racing") })
      const erased = yield* createCustomer(input)
      // The erasure is held at its last write (the suppression entry) by a transaction of the test's holding the
      // same entry uncommitted: the customer is already erased in its transaction, the address not yet suppressed.
      const held = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const digest = (yield* BlindIndex).suppression(input.email)
      const holding = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO identity_suppressions (email_digest, suppressed_at) VALUES (${digest}, now())`
        yield* Deferred.succeed(held, undefined)
        yield* Deferred.await(release)
        return yield* Effect.fail("rolled back, so the erasure writes its own entry")
      })).pipe(Effect.exit, Effect.forkChild)
      yield* Deferred.await(held)

      const erasing = yield* call("DELETE", `${customersPath}/${erased.id}/data`).pipe(Effect.forkChild)
      yield* eventually("the erasure to wait at its suppression entry", waitingOn("INSERT INTO identity_suppressions"), (n) => n === 1)
      const creating = yield* call("POST", customersPath, { body: input }).pipe(Effect.forkChild)
      // The create started before the erasure committed, and waits for it.
      yield* eventually("the create to wait for the erasure", waitingOn("INSERT INTO customers"), (n) => n === 1)

      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holding)
      assert.strictEqual((yield* Fiber.join(erasing)).status, 202)
      yield* expectProblem(yield* Fiber.join(creating), 409, "/problems/identity-suppressed")
      const live = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM customers
        WHERE email_index = ${(yield* BlindIndex).email(input.email)} AND status <> 'DELETED'`
      assert.strictEqual(live[0].n, 0)
    }))

  it.effect("a create and an erasure of the same address at once never leave the address to a live customer", () =>
    Effect.gen(function*() {
      const input = newCustomer({ email: uniqueEmail("first") })
      const holder = yield* createCustomer(input)
      const [create, erase] = yield* Effect.all([
        call("POST", customersPath, { body: input }),
        call("DELETE", `${customersPath}/${holder.id}/data`)
      ], { concurrency: 2 })
      assert.strictEqual(erase.status, 202)
      // Whichever took the lock first, the create is refused: the address was taken, or is now suppressed.
      assert.strictEqual(create.status, 409)
      const problem = yield* json<{ readonly type: string }>(create)
      assert.oneOf(problem.type, ["/problems/email-already-exists", "/problems/identity-suppressed"])
      const again = yield* call("POST", customersPath, { body: input })
      yield* expectProblem(again, 409, "/problems/identity-suppressed")
      const customers = yield* call("GET", `${customersPath}?q=${encodeURIComponent(input.email)}`)
      assert.deepStrictEqual((yield* json<{ readonly data: ReadonlyArray<Customer> }>(customers)).data, [])
    }))
})
