/**
 * Tracking events over REST: one event for a customer, a batch across
 * customers; what is stored (once, however often it is retried), what is
 * refused as a request (400, nothing stored) and what is rejected per event.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { BatchResult, EventResult } from "../../src/domain/Event.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

const track = (customerId: string, body: unknown, role: "admin" | "analyst" | "service" = "service") =>
  call("POST", `${customersPath}/${customerId}/track`, { body, role })

const trackBatch = (events: ReadonlyArray<unknown>) => call("POST", "/api/v1/events/batch", { body: { events } })

/** The stored events of a customer, oldest first. */
const storedEvents = (customerId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly id: string; readonly type: string; readonly occurredAt: Date; readonly revenue: string | null }>`
      SELECT id::text, type, occurred_at AS "occurredAt", revenue::text FROM customer_events
      WHERE customer_id = ${customerId} ORDER BY occurred_at, id`.pipe(Effect.orDie))

const Env = testServiceWithDatabase()

layer(Env, { excludeTestServices: true })("POST /api/v1/customers/:id/track", (it) => {
  it.effect("an event is committed before the answer, with the time and revenue it was sent with", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const id = crypto.randomUUID()
      const response = yield* track(customer.id, {
        id,
        type: "purchase",
        occurredAt: "2026-03-01T10:00:00.123Z",
        sessionId: "s-1",
        channel: "web",
        device: { type: "mobile", os: "iOS" },
        properties: { orderId: "A-1" },
        revenue: 42.5,
        currency: "USD"
      })
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(yield* json<EventResult>(response), { id: id as EventResult["id"], status: "stored" })
      const [stored] = yield* storedEvents(customer.id)
      assert.strictEqual(stored.id, id)
      assert.strictEqual(stored.type, "purchase")
      assert.strictEqual(stored.occurredAt.toISOString(), "2026-03-01T10:00:00.123Z")
      assert.strictEqual(stored.revenue, "42.5000")
    }))

  it.effect("the same id and time sent twice is stored once; the retry is answered duplicate", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const event = { id: crypto.randomUUID(), type: "page_view", occurredAt: "2026-02-01T08:00:00+01:00" }
      assert.strictEqual((yield* json<EventResult>(yield* track(customer.id, event))).status, "stored")
      // The same instant written another way is the same event.
      const retry = { ...event, occurredAt: "2026-02-01T07:00:00Z" }
      assert.strictEqual((yield* json<EventResult>(yield* track(customer.id, retry))).status, "duplicate")
      assert.lengthOf(yield* storedEvents(customer.id), 1)
    }))

  it.effect("without an id or time the service makes both: every such event is stored", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const first = yield* json<EventResult>(yield* track(customer.id, { type: "sign_in" }))
      const second = yield* json<EventResult>(yield* track(customer.id, { type: "sign_in" }))
      assert.notStrictEqual(first.id, second.id)
      assert.lengthOf(yield* storedEvents(customer.id), 2)
    }))

  it.effect("an unknown customer is a 404 and nothing is stored", () =>
    Effect.gen(function*() {
      const unknown = crypto.randomUUID()
      yield* expectProblem(yield* track(unknown, { type: "page_view" }), 404, "/problems/customer-not-found")
      assert.lengthOf(yield* storedEvents(unknown), 0)
    }))

  it.effect("an erased customer is a 404: events about a deleted person are not kept", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${customer.id}`)).status, 204)
      yield* expectProblem(yield* track(customer.id, { type: "page_view" }), 404, "/problems/customer-not-found")
      assert.lengthOf(yield* storedEvents(customer.id), 0)
    }))

  it.effect("a time more than five minutes ahead of the service's clock is a 422 naming occurredAt", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const ahead = new Date(Date.now() + 3_600_000).toISOString()
      const problem = yield* expectProblem(
        yield* track(customer.id, { type: "page_view", occurredAt: ahead }),
        422,
        "/problems/occurred-in-future"
      )
      assert.strictEqual(problem.field, "occurredAt")
      assert.lengthOf(yield* storedEvents(customer.id), 0)
    }))

  it.effect("history is welcome: an event of 1997 is stored in a partition made for it", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const response = yield* track(customer.id, { type: "purchase", occurredAt: "1997-01-01T00:00:00Z", revenue: 29.33, currency: "USD" })
      assert.strictEqual(response.status, 200)
      const sql = yield* PgClient.PgClient
      const [row] = yield* sql<{ readonly partition: string }>`SELECT tableoid::regclass::text AS partition
        FROM customer_events WHERE customer_id = ${customer.id}`.pipe(Effect.orDie)
      assert.strictEqual(row.partition, "customer_events_p199701")
    }))

  it.effect("a time before 1970 is a 400 naming occurredAt: a bad client cannot make a partition per month of history", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const problem = yield* expectProblem(
        yield* track(customer.id, { type: "page_view", occurredAt: "0001-01-01T00:00:00Z" }),
        400,
        "/problems/invalid-request"
      )
      assert.deepStrictEqual(invalidPaths(problem), ["payload.occurredAt"])
      assert.lengthOf(yield* storedEvents(customer.id), 0)
    }))

  it.effect("malformed events are a 400 naming each field, and nothing is stored", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const problem = yield* expectProblem(
        yield* track(customer.id, {
          type: "Page View",
          occurredAt: "yesterday",
          revenue: "12",
          device: { type: "toaster" },
          unknownField: 1
        }),
        400,
        "/problems/invalid-request"
      )
      assert.includeMembers(invalidPaths(problem), [
        "payload.type",
        "payload.occurredAt",
        "payload.revenue",
        "payload.device.type",
        "payload.unknownField"
      ])
      assert.lengthOf(yield* storedEvents(customer.id), 0)
    }))

  it.effect("revenue without its currency is a 400 naming currency", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const problem = yield* expectProblem(
        yield* track(customer.id, { type: "purchase", revenue: 10 }),
        400,
        "/problems/invalid-request"
      )
      assert.deepStrictEqual(invalidPaths(problem), ["payload.currency"])
    }))

  it.effect("an analyst may read but not track: 403 before the body is read", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      yield* expectProblem(yield* track(customer.id, { type: 1 }, "analyst"), 403, "/problems/forbidden")
    }))
})

layer(Env, { excludeTestServices: true })("POST /api/v1/events/batch", (it) => {
  it.effect("events for several customers are stored in one request, with one result each, in order", () =>
    Effect.gen(function*() {
      const [ada, grace] = [yield* createCustomer(), yield* createCustomer()]
      const unknown = crypto.randomUUID()
      const response = yield* trackBatch([
        { customerId: ada.id, type: "page_view" },
        { customerId: grace.id, type: "add_to_cart", properties: { sku: "X" } },
        { customerId: unknown, type: "page_view" },
        { customerId: ada.id, type: "purchase", revenue: 9.99, currency: "EUR" }
      ])
      assert.strictEqual(response.status, 200)
      const batch = yield* json<BatchResult>(response)
      assert.deepStrictEqual(batch.results.map((result) => result.status), ["stored", "stored", "rejected", "stored"])
      assert.deepStrictEqual(batch.results[2].problem, {
        type: "/problems/customer-not-found",
        title: "No customer with this id (or it was erased)",
        field: "customerId"
      })
      assert.deepInclude(batch, { stored: 3, duplicates: 0, rejected: 1 })
      assert.lengthOf(yield* storedEvents(ada.id), 2)
      assert.lengthOf(yield* storedEvents(grace.id), 1)
      assert.lengthOf(yield* storedEvents(unknown), 0)
    }))

  it.effect("an event repeated within a batch is stored once, the repeat answered duplicate", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const event = { customerId: customer.id, id: crypto.randomUUID(), type: "email_open", occurredAt: "2026-01-01T00:00:00Z" }
      const batch = yield* json<BatchResult>(yield* trackBatch([event, event]))
      assert.deepStrictEqual(batch.results.map((result) => result.status), ["stored", "duplicate"])
      assert.lengthOf(yield* storedEvents(customer.id), 1)
    }))

  it.effect("one malformed event refuses the whole batch, naming its index, and nothing is stored", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const problem = yield* expectProblem(
        yield* trackBatch([
          { customerId: customer.id, type: "page_view" },
          { customerId: customer.id, type: "page_view", sessionId: "" }
        ]),
        400,
        "/problems/invalid-request"
      )
      assert.deepStrictEqual(invalidPaths(problem), ["payload.events.1.sessionId"])
      assert.lengthOf(yield* storedEvents(customer.id), 0)
    }))

  it.effect("more than 1,000 events, or none, is a 400 naming events", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const tooMany = Array.from({ length: 1_001 }, () => ({ customerId: customer.id, type: "page_view" }))
      for (const events of [tooMany, []]) {
        const problem = yield* expectProblem(yield* trackBatch(events), 400, "/problems/invalid-request")
        assert.deepStrictEqual(invalidPaths(problem), ["payload.events"])
      }
      assert.lengthOf(yield* storedEvents(customer.id), 0)
    }))

  it.effect("a committed batch is recorded for the rollups and JetStream with exactly its new events", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const id = crypto.randomUUID()
      const event = { customerId: customer.id, id, type: "page_view", occurredAt: "2026-05-05T05:05:05Z" }
      yield* trackBatch([event])
      yield* trackBatch([event])
      const sql = yield* PgClient.PgClient
      const batches = yield* sql<{ readonly ids: ReadonlyArray<string> }>`SELECT event_ids::text[] AS ids
        FROM event_batches WHERE ${id}::uuid = ANY(event_ids)`.pipe(Effect.orDie)
      assert.deepStrictEqual(batches.map((batch) => batch.ids), [[id]])
    }))
})
