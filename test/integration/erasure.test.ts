import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { CustomerDeleted, CustomerRpcClient } from "../../src/client/index.ts"
import { perCustomerEventTables } from "../../src/events/EventErasure.ts"
import { customersPath, newCustomer, unique } from "../support/Customers.ts"
import { outboxRows, testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { json, TestService } from "../support/TestService.ts"

// No NATS: every event waits in the outbox, as it would during an outage.
const Env = testServiceWithDatabase({ nats: false })

layer(Env, { excludeTestServices: true })("erasure with events still waiting", (it) => {
  it.effect("deleting a customer strips its data from events not yet published; the events themselves remain", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(newCustomer({ name: "Erin Erased" }))
      const renamed = yield* call("PATCH", `${customersPath}/${created.id}`, {
        body: { name: "Erin Still Erased", email: "erin.new@example.com" }
      })
      assert.strictEqual(renamed.status, 200)
      const deleted = yield* call("DELETE", `${customersPath}/${created.id}`)
      assert.strictEqual(deleted.status, 204)
      // The erasure's last step appends its own event (nothing to purge from a stream without NATS).
      yield* eventually(
        "the erasure to be done",
        call("GET", `${customersPath}/${created.id}/erasure`).pipe(Effect.flatMap(json<{ readonly status: string }>)),
        (erasure) => erasure.status === "done"
      )

      const events = yield* outboxRows()
      const ofCustomer = events.filter((event) => event.subject.startsWith(`customers.${created.id}.`))
      assert.deepStrictEqual(ofCustomer.map((event) => event.payload.type), [
        "customer.created",
        "customer.updated",
        "customer.email-verification-requested",
        "customer.deleted",
        "customer.erased"
      ])
      assert.isTrue(ofCustomer.every((event) => !event.published))
      const text = JSON.stringify(ofCustomer)
      for (const personal of ["Erin", created.email, "erin.new@example.com"]) {
        assert.notInclude(text, personal)
      }
      assert.isUndefined(ofCustomer[2].payload.token)
    }))

  it.effect("after DELETE, a replayed create answers 410 customer-deleted and never the erased profile", () =>
    Effect.gen(function*() {
      const input = newCustomer({ name: "Rita Replayed" })
      const headers = { "idempotency-key": `signup-${unique()}` }
      const created = yield* json<{ readonly id: string }>(yield* call("POST", customersPath, { body: input, headers }))
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${created.id}`)).status, 204)

      const replay = yield* call("POST", customersPath, { body: input, headers })
      const text = yield* Effect.promise(() => replay.clone().text())
      assert.notInclude(text, "Rita")
      assert.notInclude(text, input.email)
      yield* expectProblem(replay, 410, "/problems/customer-deleted")

      // What is kept of the key: that it was used, nothing of the person.
      const sql = yield* PgClient.PgClient
      const rows = yield* sql<{ readonly response: unknown; readonly request_hash: unknown }>`
        SELECT response, request_hash FROM idempotency_keys WHERE customer_id = ${created.id}`.pipe(Effect.orDie)
      assert.deepStrictEqual(rows, [{ response: null, request_hash: null }])
    }))

  it.effect("after DELETE, a replayed RPC create fails with CustomerDeleted", () =>
    Effect.gen(function*() {
      const { baseUrl, token } = yield* TestService
      const input = newCustomer()
      const idempotencyKey = `rpc-signup-${unique()}`
      const failure = yield* Effect.gen(function*() {
        const client = yield* CustomerRpcClient
        const created = yield* client.CreateCustomer({ input, idempotencyKey })
        yield* client.DeleteCustomer({ id: created.id })
        return yield* Effect.flip(client.CreateCustomer({ input, idempotencyKey }))
      }).pipe(Effect.provide(CustomerRpcClient.layer({ baseUrl, credentials: { bearer: yield* token("admin") } })))
      assert.instanceOf(failure, CustomerDeleted)
    }))
})

layer(Env, { excludeTestServices: true })("erasure of behaviour", (it) => {
  it.effect("deleting a customer deletes their tracked events and every per-customer rollup of them", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const tracked = yield* call("POST", "/api/v1/events/batch", {
        body: {
          events: [
            { customerId: customer.id, type: "page_view", sessionId: "s-1", channel: "web" },
            { customerId: customer.id, type: "purchase", revenue: 12.5, currency: "USD", occurredAt: "2025-06-01T10:00:00Z" }
          ]
        }
      })
      assert.strictEqual(tracked.status, 200)
      const sql = yield* PgClient.PgClient
      // Rollup rows as the folder writes them, whether or not it has run yet.
      yield* sql`INSERT INTO customer_activity (customer_id, first_seen_at, last_seen_at, events, folded_at)
        VALUES (${customer.id}, now(), now(), 2, now()) ON CONFLICT DO NOTHING`.pipe(Effect.orDie)
      yield* sql`INSERT INTO customer_daily_activity (customer_id, day, type, events)
        VALUES (${customer.id}, '2025-06-01', 'purchase', 1) ON CONFLICT DO NOTHING`.pipe(Effect.orDie)
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${customer.id}`)).status, 204)
      for (const table of perCustomerEventTables) {
        const [{ n }] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ${sql(table)}
          WHERE customer_id = ${customer.id}`.pipe(Effect.orDie)
        assert.strictEqual(n, 0, `${table} still holds rows of the erased customer`)
      }
    }))
})
