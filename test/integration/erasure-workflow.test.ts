import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { CustomerId, CustomerRpcClient, ErasureNotFound, IdentitySuppressed } from "../../src/client/index.ts"
import type { ErasureRequest } from "../../src/domain/Erasure.ts"
import { customersPath, newCustomer, uniqueEmail } from "../support/Customers.ts"
import { testServiceWithDatabase, writeCounts } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { natsConnection, readStream } from "../support/Nats.ts"
import { json, natsUrl, TestService } from "../support/TestService.ts"

const Env = testServiceWithDatabase()

const erasureOf = (id: string) =>
  Effect.flatMap(call("GET", `${customersPath}/${id}/erasure`), (response) => json<ErasureRequest>(response))

const eraseAndWait = (id: string) =>
  Effect.gen(function*() {
    const started = yield* call("DELETE", `${customersPath}/${id}/data`)
    assert.strictEqual(started.status, 202)
    return yield* eventually("the erasure to be done", erasureOf(id), (request) => request.status === "done", 30_000)
  })

layer(Env, { excludeTestServices: true, timeout: 120_000 })("DELETE /api/v1/customers/:id/data", (it) => {
  it.effect("answers 202 with a request that is done within seconds, every step recorded, 30 days' deadline", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const started = yield* call("DELETE", `${customersPath}/${customer.id}/data`)
      assert.strictEqual(started.status, 202)
      const request = yield* json<ErasureRequest>(started)
      assert.strictEqual(request.customerId, customer.id)
      assert.strictEqual(Date.parse(request.deadline) - Date.parse(request.requestedAt), 30 * 86_400_000)
      assert.isFalse(request.overdue)
      assert.strictEqual((yield* call("GET", `${customersPath}/${customer.id}`)).status, 404)

      const done = yield* eventually("the erasure to be done", erasureOf(customer.id), (r) => r.status === "done", 30_000)
      assert.deepStrictEqual(done.steps.map((step) => [step.name, step.status]), [
        ["destroy-data-key", "done"],
        ["purge-streams", "done"],
        ["publish-erasure", "done"]
      ])
      assert.isNotNull(done.completedAt)
      assert.isNull(done.nextAttemptAt)
    }))

  it.effect("a request still pending past its deadline is reported overdue", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const sql = yield* PgClient.PgClient
      // As if the steps had been failing for a month: pending, past the deadline, next attempt later.
      yield* sql`INSERT INTO erasure_requests (id, customer_id, requested_at, deadline, requested_by, status, steps,
          next_attempt_at)
        VALUES (${crypto.randomUUID()}, ${customer.id}, now() - interval '31 days', now() - interval '1 day',
          'user:test', 'pending', '[]', now() + interval '1 hour')`.pipe(Effect.orDie)
      const request = yield* erasureOf(customer.id)
      assert.deepInclude(request, { status: "pending", overdue: true })
    }))

  it.effect("asked again for an erased customer, answers the same request", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const first = yield* json<ErasureRequest>(yield* call("DELETE", `${customersPath}/${customer.id}/data`))
      const again = yield* call("DELETE", `${customersPath}/${customer.id}/data`)
      assert.strictEqual(again.status, 202)
      assert.strictEqual((yield* json<ErasureRequest>(again)).id, first.id)
    }))

  it.effect("DELETE /api/v1/customers/:id starts the same erasure", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${customer.id}`)).status, 204)
      yield* eventually("the erasure to be done", erasureOf(customer.id), (r) => r.status === "done", 30_000)
    }))

  it.effect("leaves in CUSTOMERS only the customer.erased event on the customer's subjects, and nothing of the person", () =>
    Effect.gen(function*() {
      const input = newCustomer({ name: "Petra Purged" })
      const customer = yield* createCustomer(input)
      const renamed = yield* call("PATCH", `${customersPath}/${customer.id}`, { body: { name: "Petra Still Purged" } })
      assert.strictEqual(renamed.status, 200)
      const nc = yield* natsConnection(natsUrl)
      const subjects = `customers.${customer.id}.>`
      // Published before the erasure, so there is something to purge.
      yield* eventually("the customer's events in CUSTOMERS", readStream(nc, subjects), (read) => read.stored >= 2)

      yield* eraseAndWait(customer.id)
      const after = yield* eventually(
        "customer.erased in CUSTOMERS",
        readStream(nc, subjects),
        (read) => read.delivered.some((message) => message.payload.type === "customer.erased")
      )
      assert.deepStrictEqual(after.delivered.map((message) => message.subject), [`customers.${customer.id}.erased`])
      const text = JSON.stringify(after.delivered)
      for (const personal of ["Petra", input.email]) assert.notInclude(text, personal)
    }))

  it.effect("refuses a re-created address in another letter case with 409 identity-suppressed, writing nothing", () =>
    Effect.gen(function*() {
      const input = newCustomer({ email: uniqueEmail("suppressed") })
      const customer = yield* createCustomer(input)
      yield* eraseAndWait(customer.id)
      const before = yield* writeCounts
      const again = yield* call("POST", customersPath, { body: { ...input, email: input.email.toUpperCase() } })
      const problem = yield* expectProblem(again, 409, "/problems/identity-suppressed")
      assert.strictEqual(problem.field, "email")
      assert.deepStrictEqual(yield* writeCounts, before)
    }))

  it.effect("refuses an email change to a suppressed address with 409 identity-suppressed, writing nothing", () =>
    Effect.gen(function*() {
      const input = newCustomer({ email: uniqueEmail("taken-up") })
      const erased = yield* createCustomer(input)
      yield* eraseAndWait(erased.id)
      const other = yield* createCustomer()
      const before = yield* writeCounts
      const changed = yield* call("PATCH", `${customersPath}/${other.id}`, { body: { email: input.email.toUpperCase() } })
      yield* expectProblem(changed, 409, "/problems/identity-suppressed")
      assert.deepStrictEqual(yield* writeCounts, before)
    }))

  it.effect("stores the suppression as a keyed hash: the address is nowhere in the database's suppression list", () =>
    Effect.gen(function*() {
      const input = newCustomer({ email: uniqueEmail("hashed") })
      const customer = yield* createCustomer(input)
      yield* eraseAndWait(customer.id)
      const sql = yield* PgClient.PgClient
      const rows = yield* sql<{ readonly text: string }>`SELECT row_to_json(s)::text AS text
        FROM identity_suppressions s`.pipe(Effect.orDie)
      assert.isAbove(rows.length, 0)
      for (const row of rows) assert.notInclude(row.text.toLowerCase(), input.email.toLowerCase())
    }))

  it.effect("an admin lifts a suppression (audited, with the reason); the address may then be created again", () =>
    Effect.gen(function*() {
      const input = newCustomer({ email: uniqueEmail("lifted") })
      const customer = yield* createCustomer(input)
      yield* eraseAndWait(customer.id)
      const body = { email: input.email.toUpperCase(), reason: "ticket 42: the person signed up again" }

      yield* expectProblem(yield* call("POST", "/api/v1/suppressions/lift", { body, role: "agent" }), 403, "/problems/forbidden")
      yield* expectProblem(yield* call("POST", customersPath, { body: input }), 409, "/problems/identity-suppressed")

      assert.strictEqual((yield* call("POST", "/api/v1/suppressions/lift", { body })).status, 204)
      const sql = yield* PgClient.PgClient
      const audited = yield* sql<{ readonly reason: string; readonly fields: ReadonlyArray<string> }>`
        SELECT reason, fields FROM audit_log WHERE action = 'identity.lift-suppression'`.pipe(Effect.orDie)
      assert.deepStrictEqual(audited.map((entry) => entry.reason), [body.reason])
      assert.strictEqual((yield* call("POST", customersPath, { body: input })).status, 201)
      yield* expectProblem(
        yield* call("POST", "/api/v1/suppressions/lift", { body }),
        404,
        "/problems/suppression-not-found"
      )
    }))

  it.effect("a lift without a reason or with a malformed address is a 400 naming the field", () =>
    Effect.gen(function*() {
      const missing = yield* expectProblem(
        yield* call("POST", "/api/v1/suppressions/lift", { body: { email: "someone@example.com" } }),
        400,
        "/problems/invalid-request"
      )
      assert.include(JSON.stringify(missing), "reason")
      const malformed = yield* expectProblem(
        yield* call("POST", "/api/v1/suppressions/lift", { body: { email: "not-an-address", reason: "x" } }),
        400,
        "/problems/invalid-request"
      )
      assert.include(JSON.stringify(malformed), "email")
    }))

  it.effect("events tracked for an erased customer's id are refused and not stored", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      yield* eraseAndWait(customer.id)
      const tracked = yield* call("POST", "/api/v1/events/batch", {
        body: { events: [{ customerId: customer.id, type: "page_view" }] }
      })
      assert.strictEqual(tracked.status, 200)
      const body = yield* json<{ readonly results: ReadonlyArray<{ readonly status: string; readonly problem?: { readonly type: string } }> }>(tracked)
      assert.deepStrictEqual(body.results.map((result) => [result.status, result.problem?.type]), [
        ["rejected", "/problems/customer-not-found"]
      ])
      const sql = yield* PgClient.PgClient
      const [{ n }] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM customer_events
        WHERE customer_id = ${customer.id}`.pipe(Effect.orDie)
      assert.strictEqual(n, 0)
    }))

  it.effect("an analyst may neither erase nor read an erasure (403), and nothing changes", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const before = yield* writeCounts
      yield* expectProblem(
        yield* call("DELETE", `${customersPath}/${customer.id}/data`, { role: "analyst" }),
        403,
        "/problems/forbidden"
      )
      yield* expectProblem(
        yield* call("GET", `${customersPath}/${customer.id}/erasure`, { role: "analyst" }),
        403,
        "/problems/forbidden"
      )
      assert.deepStrictEqual(yield* writeCounts, before)
      assert.strictEqual((yield* call("GET", `${customersPath}/${customer.id}`)).status, 200)
    }))

  it.effect("unknown customers: erasure 404 customer-not-found, status 404 erasure-not-found; a bad id 400", () =>
    Effect.gen(function*() {
      const unknown = "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35"
      yield* expectProblem(yield* call("DELETE", `${customersPath}/${unknown}/data`), 404, "/problems/customer-not-found")
      yield* expectProblem(yield* call("GET", `${customersPath}/${unknown}/erasure`), 404, "/problems/erasure-not-found")
      yield* expectProblem(yield* call("DELETE", `${customersPath}/not-a-uuid/data`), 400, "/problems/invalid-request")
    }))

  it.effect("over RPC: EraseCustomerData, GetCustomerErasure, a suppressed create and a missing erasure", () =>
    Effect.gen(function*() {
      const { baseUrl, token } = yield* TestService
      const input = newCustomer({ email: uniqueEmail("rpc-erased") })
      yield* Effect.gen(function*() {
        const client = yield* CustomerRpcClient
        const created = yield* client.CreateCustomer({ input })
        const request = yield* client.EraseCustomerData({ id: created.id })
        assert.strictEqual(request.customerId, created.id)
        const status = yield* client.GetCustomerErasure({ id: created.id })
        assert.strictEqual(status.id, request.id)
        assert.instanceOf(yield* Effect.flip(client.CreateCustomer({ input })), IdentitySuppressed)
        const missing = yield* Effect.flip(client.GetCustomerErasure({ id: CustomerId.make(crypto.randomUUID()) }))
        assert.instanceOf(missing, ErasureNotFound)
      }).pipe(Effect.provide(CustomerRpcClient.layer({ baseUrl, credentials: { bearer: yield* token("admin") } })))
    }))
})
