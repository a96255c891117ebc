import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { CustomerRpcClient } from "../../src/client/index.ts"
import type { Customer } from "../../src/domain/Customer.ts"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { outboxRows, testServiceWithDatabase, writeCounts } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem, getCustomer } from "../support/Http.ts"
import { json, TestService } from "../support/TestService.ts"

// No NATS: the customer's events wait in the outbox, where anonymisation must strip them.
const Env = testServiceWithDatabase({ nats: false })

const anonymize = (id: string, body: unknown = { reason: "art. 17(3)(b): records kept, person removed" }) =>
  call("POST", `${customersPath}/${id}/anonymize`, { body })

const person = () =>
  newCustomer({
    name: "Annie Anonymous",
    age: 37,
    gender: "FEMALE",
    location: { country: "GB", city: "London", postalCode: "NW1 6XE", timezone: "Europe/London" },
    metadata: { passport: "123456789" },
    tags: ["vip"]
  })

const figures = (id: string) =>
  Effect.gen(function*() {
    const fleetResponse = yield* call("GET", "/api/v1/analytics/fleet?period=day&from=2025-06-01&to=2025-06-03", {
      role: "analyst"
    })
    assert.strictEqual(fleetResponse.status, 200)
    const analyticsResponse = yield* call("GET", `${customersPath}/${id}/analytics`)
    assert.strictEqual(analyticsResponse.status, 200)
    // `asOf` is when the figures were read, not a figure.
    const { asOf: _, ...analytics } = yield* json<{ readonly asOf: string }>(analyticsResponse)
    return { fleet: yield* json(fleetResponse), analytics }
  })

const folded = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* eventually(
    "the fold",
    sql<{ readonly batches: number }>`SELECT count(*)::int AS batches FROM event_batches`.pipe(Effect.orDie),
    ([row]) => row.batches === 0
  )
})

layer(Env, { excludeTestServices: true, timeout: 120_000 })("POST /api/v1/customers/:id/anonymize", (it) => {
  it.effect("removes the identifying fields for good; the customer stays, not DELETED", () =>
    Effect.gen(function*() {
      const input = person()
      const customer = yield* createCustomer(input)
      const response = yield* anonymize(customer.id)
      assert.strictEqual(response.status, 200)
      const anonymous = yield* json<Customer>(response)
      assert.deepInclude(anonymous, {
        email: `anonymized-${customer.id}@anonymized.invalid`,
        pendingEmail: null,
        emailVerified: false,
        name: "Anonymous customer",
        age: 30,
        gender: "FEMALE",
        location: { country: "GB" },
        metadata: {},
        tags: ["vip"],
        status: "ACTIVE",
        version: customer.version + 1
      })
      const read = yield* getCustomer(customer.id)
      const text = JSON.stringify(read)
      for (const personal of ["Annie", input.email, "London", "NW1", "123456789"]) assert.notInclude(text, personal)
    }))

  it.effect("keeps the fleet report and the customer's analytics identical before and after", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(person())
      const events = [
        { customerId: customer.id, type: "page_view", occurredAt: "2025-06-01T09:00:00Z", sessionId: "s-1" },
        { customerId: customer.id, type: "purchase", occurredAt: "2025-06-02T10:00:00Z", revenue: 42, currency: "USD" }
      ]
      const tracked = yield* call("POST", "/api/v1/events/batch", { body: { events } })
      assert.strictEqual(tracked.status, 200)
      yield* folded
      const before = yield* figures(customer.id)
      // The customer's purchase is in the figures compared.
      assert.include(JSON.stringify(before.fleet), "42")
      assert.strictEqual((yield* anonymize(customer.id)).status, 200)
      yield* folded
      assert.deepStrictEqual(yield* figures(customer.id), before)
      const sql = yield* PgClient.PgClient
      const [{ n }] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM customer_events
        WHERE customer_id = ${customer.id}`.pipe(Effect.orDie)
      assert.strictEqual(n, events.length)
    }))

  it.effect("strips the person from events still waiting in the outbox and publishes customer.anonymized", () =>
    Effect.gen(function*() {
      const input = person()
      const customer = yield* createCustomer(input)
      assert.strictEqual((yield* anonymize(customer.id)).status, 200)
      const events = (yield* outboxRows()).filter((event) => event.subject.startsWith(`customers.${customer.id}.`))
      assert.deepStrictEqual(events.map((event) => event.payload.type), ["customer.created", "customer.anonymized"])
      const text = JSON.stringify(events)
      for (const personal of ["Annie", input.email, "London", "123456789"]) assert.notInclude(text, personal)
      assert.deepStrictEqual(
        [...(events[1].payload as unknown as { readonly changes: ReadonlyArray<string> }).changes].sort(),
        ["age", "email", "location", "metadata", "name"]
      )
    }))

  it.effect("is audited with the fields and the reason, never the values", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(person())
      assert.strictEqual((yield* anonymize(customer.id, { reason: "ticket 7" })).status, 200)
      const sql = yield* PgClient.PgClient
      const entries = yield* sql<{ readonly reason: string; readonly actor_role: string }>`
        SELECT reason, actor_role FROM audit_log
        WHERE customer_id = ${customer.id} AND action = 'customer.anonymize'`.pipe(Effect.orDie)
      assert.deepStrictEqual(entries, [{ reason: "ticket 7", actor_role: "admin" }])
    }))

  it.effect("a second call answers the anonymous customer as it is and writes nothing", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(person())
      const first = yield* json<Customer>(yield* anonymize(customer.id))
      const before = yield* writeCounts
      const second = yield* anonymize(customer.id)
      assert.strictEqual(second.status, 200)
      assert.deepStrictEqual(yield* json<Customer>(second), first)
      assert.deepStrictEqual(yield* writeCounts, before)
    }))

  it.effect("an analyst may not anonymise (403); unknown 404; a bad body 400; nothing changes", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(person())
      const before = yield* writeCounts
      yield* expectProblem(
        yield* call("POST", `${customersPath}/${customer.id}/anonymize`, { body: {}, role: "analyst" }),
        403,
        "/problems/forbidden"
      )
      yield* expectProblem(
        yield* anonymize("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35"),
        404,
        "/problems/customer-not-found"
      )
      yield* expectProblem(yield* anonymize(customer.id, { reason: "" }), 400, "/problems/invalid-request")
      yield* expectProblem(yield* anonymize(customer.id, { name: "x" }), 400, "/problems/invalid-request")
      assert.deepStrictEqual(yield* writeCounts, before)
      assert.strictEqual((yield* getCustomer(customer.id)).name, "Annie Anonymous")
    }))

  it.effect("over RPC: AnonymizeCustomer as an agent", () =>
    Effect.gen(function*() {
      const { baseUrl, token } = yield* TestService
      const customer = yield* createCustomer(person())
      const anonymous = yield* Effect.gen(function*() {
        const client = yield* CustomerRpcClient
        return yield* client.AnonymizeCustomer({ id: customer.id, reason: "rpc" })
      }).pipe(Effect.provide(CustomerRpcClient.layer({ baseUrl, credentials: { bearer: yield* token("agent") } })))
      assert.strictEqual(anonymous.name, "Anonymous customer")
    }))
})
