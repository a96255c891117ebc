/**
 * The tracking plan: event types registered with a JSON Schema for their
 * properties; events breaking it refused or stored flagged, per the type's
 * mode; unregistered types allowed or refused per configuration.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import type { BatchResult, EventResult } from "../../src/domain/Event.ts"
import type { RegisteredEventType } from "../../src/domain/TrackingPlan.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

const planPath = "/api/v1/tracking-plan/event-types"

/** A type no other test registers, so tests sharing the service stay independent. */
const uniqueType = () => `order_${crypto.randomUUID().slice(0, 8)}`

const orderSchema = {
  type: "object",
  required: ["orderId", "items"],
  properties: { orderId: { type: "string" }, items: { type: "integer", minimum: 1 } }
}

const register = (type: string, mode: "refuse" | "flag", propertiesSchema: unknown = orderSchema) =>
  call("PUT", `${planPath}/${type}`, { body: { propertiesSchema, mode, description: "An order was placed" } })

const track = (customerId: string, body: unknown) => call("POST", `${customersPath}/${customerId}/track`, { body })

const storedCount = (type: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM customer_events WHERE type = ${type}`.pipe(
      Effect.map(([row]) => row.n),
      Effect.orDie
    ))

layer(testServiceWithDatabase())("the tracking plan", (it) => {
  it.effect("registers a type, reads it back, and counts its changes", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      const first = yield* json<RegisteredEventType>(yield* register(type, "refuse"))
      assert.deepInclude(first, { type, mode: "refuse", version: 1, propertiesSchema: orderSchema })
      const changed = yield* json<RegisteredEventType>(yield* register(type, "flag"))
      assert.deepInclude(changed, { mode: "flag", version: 2, createdAt: first.createdAt })
      assert.deepStrictEqual(yield* json(yield* call("GET", `${planPath}/${type}`, { role: "analyst" })), changed)
      const plan = yield* json<{ readonly unregisteredTypes: string; readonly types: ReadonlyArray<{ type: string }> }>(
        yield* call("GET", planPath)
      )
      assert.strictEqual(plan.unregisteredTypes, "allow")
      assert.include(plan.types.map((registered) => registered.type), type)
    }))

  it.effect("refuses an event that breaks a refusing type's schema, naming the property; nothing is stored", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* register(type, "refuse")
      const customer = yield* createCustomer()
      const problem = yield* expectProblem(
        yield* track(customer.id, { type, properties: { orderId: "A-1", items: 0 } }),
        422,
        "/problems/tracking-plan-violation"
      )
      assert.strictEqual(problem.field, "properties.items")
      assert.match(problem.detail ?? "", />= 1/)
      assert.strictEqual(yield* storedCount(type), 0)
    }))

  it.effect("names a missing required property", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* register(type, "refuse")
      const customer = yield* createCustomer()
      const problem = yield* expectProblem(
        yield* track(customer.id, { type, properties: { items: 2 } }),
        422,
        "/problems/tracking-plan-violation"
      )
      assert.strictEqual(problem.field, "properties.orderId")
    }))

  it.effect("stores an event that matches", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* register(type, "refuse")
      const customer = yield* createCustomer()
      const result = yield* json<EventResult>(yield* track(customer.id, { type, properties: { orderId: "A-1", items: 2 } }))
      assert.strictEqual(result.status, "stored")
      assert.notProperty(result, "violations")
      assert.strictEqual(yield* storedCount(type), 1)
    }))

  it.effect("stores a flagged type's offending event with its violations, in the answer and the row", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* register(type, "flag")
      const customer = yield* createCustomer()
      const result = yield* json<EventResult>(yield* track(customer.id, { type, properties: { orderId: 7, items: 1 } }))
      assert.strictEqual(result.status, "stored")
      assert.deepStrictEqual(result.violations, [{ field: "properties.orderId", message: "must be string" }])
      const sql = yield* PgClient.PgClient
      const [row] = yield* sql<{ readonly violations: unknown }>`SELECT plan_violations AS violations
        FROM customer_events WHERE id = ${result.id}`.pipe(Effect.orDie)
      assert.deepStrictEqual(row.violations, result.violations)
    }))

  it.effect("in a batch, an offending event is rejected with its violations and the others are stored", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* register(type, "refuse")
      const customer = yield* createCustomer()
      const batch = yield* json<BatchResult>(
        yield* call("POST", "/api/v1/events/batch", {
          body: {
            events: [
              { customerId: customer.id, type, properties: { orderId: "A-1", items: 1 } },
              { customerId: customer.id, type, properties: { orderId: "A-2", items: "two" } },
              { customerId: customer.id, type: "page_view" }
            ]
          }
        })
      )
      assert.deepStrictEqual(batch.results.map((result) => result.status), ["stored", "rejected", "stored"])
      assert.deepInclude(batch.results[1].problem, { type: "/problems/tracking-plan-violation", field: "properties.items" })
      assert.deepStrictEqual(batch.results[1].violations, [{ field: "properties.items", message: "must be integer" }])
      assert.strictEqual(yield* storedCount(type), 1)
    }))

  it.effect("refuses a schema with an unknown keyword, naming it, and keeps nothing", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      const problem = yield* expectProblem(
        yield* register(type, "refuse", { type: "object", requird: ["orderId"] }),
        422,
        "/problems/invalid-properties-schema"
      )
      assert.strictEqual(problem.field, "propertiesSchema")
      assert.match(problem.detail ?? "", /requird/)
      yield* expectProblem(yield* call("GET", `${planPath}/${type}`), 404, "/problems/event-type-not-registered")
    }))

  it.effect("refuses what is not a JSON Schema, naming where", () =>
    Effect.gen(function*() {
      const problem = yield* expectProblem(
        yield* register(uniqueType(), "refuse", { type: "object", properties: { items: { minimum: "one" } } }),
        422,
        "/problems/invalid-properties-schema"
      )
      assert.strictEqual(problem.field, "propertiesSchema.properties.items.minimum")
    }))

  it.effect("refuses a reference it cannot resolve (nothing is fetched from elsewhere)", () =>
    Effect.gen(function*() {
      yield* expectProblem(
        yield* register(uniqueType(), "refuse", { $ref: "https://example.com/order.json" }),
        422,
        "/problems/invalid-properties-schema"
      )
    }))

  it.effect("refuses a schema larger than 32 KiB", () =>
    Effect.gen(function*() {
      const properties = Object.fromEntries(
        Array.from({ length: 800 }, (_, n) => [`property_${n}`, { type: "string", description: "x".repeat(30) }])
      )
      const problem = yield* expectProblem(
        yield* register(uniqueType(), "refuse", { type: "object", properties }),
        422,
        "/problems/invalid-properties-schema"
      )
      assert.match(problem.detail ?? "", /32768/)
    }))

  it.effect("once a type is removed its events are accepted as any unregistered type's", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* register(type, "refuse")
      assert.strictEqual((yield* call("DELETE", `${planPath}/${type}`)).status, 204)
      const customer = yield* createCustomer()
      assert.strictEqual((yield* json<EventResult>(yield* track(customer.id, { type }))).status, "stored")
      yield* expectProblem(yield* call("DELETE", `${planPath}/${type}`), 404, "/problems/event-type-not-registered")
    }))

  it.effect("only admins change the plan", () =>
    Effect.gen(function*() {
      yield* expectProblem(
        yield* call("PUT", `${planPath}/${uniqueType()}`, { body: { propertiesSchema: {}, mode: "flag" }, role: "service" }),
        403,
        "/problems/forbidden"
      )
    }))

  it.effect("a registration made by another process applies after the refresh interval", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      const sql = yield* PgClient.PgClient
      yield* sql`INSERT INTO tracking_plan (type, properties_schema, mode, created_at, updated_at)
        VALUES (${type}, ${JSON.stringify(orderSchema)}::jsonb, 'refuse', now(), now())`.pipe(Effect.orDie)
      const customer = yield* createCustomer()
      // The service runs on this suite's TestClock: move it past one refresh, then let the reload's query finish.
      yield* TestClock.adjust("5 seconds")
      yield* TestClock.withLive(Effect.sleep("300 millis"))
      yield* expectProblem(yield* track(customer.id, { type }), 422, "/problems/tracking-plan-violation")
    }))
})

layer(testServiceWithDatabase({ env: { TRACKING_PLAN_UNREGISTERED: "refuse" } }))(
  "a tracking plan that refuses unregistered types",
  (it) => {
    it.effect("refuses an event of an unregistered type, naming the type; nothing is stored", () =>
      Effect.gen(function*() {
        const type = uniqueType()
        const customer = yield* createCustomer()
        const problem = yield* expectProblem(yield* track(customer.id, { type }), 422, "/problems/unregistered-event-type")
        assert.strictEqual(problem.field, "type")
        assert.strictEqual(yield* storedCount(type), 0)
      }))

    it.effect("stores an event of a registered type", () =>
      Effect.gen(function*() {
        const type = uniqueType()
        yield* register(type, "flag", { type: "object" })
        const customer = yield* createCustomer()
        assert.strictEqual((yield* json<EventResult>(yield* track(customer.id, { type }))).status, "stored")
      }))
  }
)
