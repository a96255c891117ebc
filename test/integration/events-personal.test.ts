/**
 * Personal data inside tracked events (issue 16): the device details but its type, and the properties a type
 * marks personal in the tracking plan, are sealed at rest under the customer's data key; the timeline and the
 * export open them for the roles that see personal data (analysts get the event without them); the EVENTS stream
 * never carries them; once anonymisation replaces the key they are unreadable.
 */
import { PgClient } from "@effect/sql-pg"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { assert, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import type { Role } from "../../src/domain/Access.ts"
import type { BatchResult, TimelinePage, TrackedEvent, TrackedEvents } from "../../src/domain/Event.ts"
import type { RegisteredEventType } from "../../src/domain/TrackingPlan.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { natsConnection } from "../support/Nats.ts"
import { withRpcClient } from "../support/Rpc.ts"
import { json, natsUrl } from "../support/TestService.ts"

const planPath = "/api/v1/tracking-plan/event-types"

/** A type of its own per test: the plan and the NATS server are shared. */
const uniqueType = () => `order_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`

const orderSchema = { type: "object", properties: { orderId: { type: "string" }, phone: { type: "string" } } }

const registerWithPhone = (type: string) =>
  Effect.gen(function*() {
    const response = yield* call("PUT", `${planPath}/${type}`, {
      body: { propertiesSchema: orderSchema, mode: "refuse", personalProperties: ["phone"] }
    })
    assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.clone().text()))
    return yield* json<RegisteredEventType>(response)
  })

const device = { type: "mobile", os: "iOS", osVersion: "18.1", userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1)" } as const

/** A customer with one event of `type`: a phone number (personal), an order id (not) and a detailed device. */
const customerWithEvent = (type: string) =>
  Effect.gen(function*() {
    const customer = yield* createCustomer()
    const phone = `+31 6 ${Math.floor(Math.random() * 1e8).toString().padStart(8, "0")}`
    const response = yield* call("POST", "/api/v1/events/batch", {
      role: "service",
      body: { events: [{ customerId: customer.id, type, device, properties: { orderId: "A-1", phone } }] }
    })
    const result = yield* json<BatchResult>(response)
    assert.strictEqual(result.stored, 1, JSON.stringify(result))
    return { customerId: customer.id, eventId: result.results[0].id, phone }
  })

const timeline = (customerId: string, role: Role = "admin") =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${customersPath}/${customerId}/events`, { role })
    assert.strictEqual(response.status, 200)
    return (yield* json<TimelinePage>(response)).data
  })

const rawRow = (eventId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly row: string; readonly personal_sealed: Uint8Array | null }>`SELECT e::text AS row, personal_sealed
      FROM customer_events e WHERE id = ${eventId}`.pipe(Effect.map(([row]) => row), Effect.orDie))

/** Every event EVENTS holds on `events.<type>` (the stream is read once the message is there). */
const streamed = (type: string) =>
  Effect.gen(function*() {
    const nc = yield* natsConnection(natsUrl)
    return yield* Effect.promise(async () => {
      const subject = `events.${type}`
      const info = await (await jetstreamManager(nc)).streams.info("EVENTS", { subjects_filter: subject })
      const stored = Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0)
      if (stored === 0) return []
      const consumer = await jetstream(nc).consumers.get("EVENTS", { filter_subjects: subject })
      const message = await consumer.next({ expires: 2_000 })
      return message === null ? [] : (message.json() as TrackedEvents).events
    }).pipe(
      Effect.flatMap((events) => events.length > 0 ? Effect.succeed(events) : Effect.fail("not yet" as const)),
      Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 }),
      Effect.orDie
    )
  })

const whole = (event: TrackedEvent | undefined, phone: string) => {
  assert.deepStrictEqual(event?.device, device)
  assert.deepStrictEqual(event?.properties, { orderId: "A-1", phone })
}

const withoutPersonalPart = (event: TrackedEvent | undefined) => {
  assert.deepStrictEqual(event?.device, { type: "mobile" })
  assert.deepStrictEqual(event?.properties, { orderId: "A-1" })
}

layer(testServiceWithDatabase(), { excludeTestServices: true })("personal data inside tracked events", (it) => {
  it.effect("a type's personal properties are part of its registration (none unless listed)", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      const registered = yield* registerWithPhone(type)
      assert.deepStrictEqual(registered.personalProperties, ["phone"])
      assert.deepStrictEqual(yield* json(yield* call("GET", `${planPath}/${type}`)), registered)
      const plain = yield* json<RegisteredEventType>(
        yield* call("PUT", `${planPath}/${uniqueType()}`, { body: { propertiesSchema: orderSchema, mode: "flag" } })
      )
      assert.deepStrictEqual(plain.personalProperties, [])
    }))

  it.effect("a personal property listed twice or not a property name is refused, naming the field", () =>
    Effect.gen(function*() {
      for (const personalProperties of [["phone", "phone"], ["1phone"]]) {
        const response = yield* call("PUT", `${planPath}/${uniqueType()}`, {
          body: { propertiesSchema: orderSchema, mode: "refuse", personalProperties }
        })
        const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
        assert.include(JSON.stringify(problem), "personalProperties")
      }
    }))

  it.effect("at rest the device details and personal properties are sealed; the clear columns hold the rest", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* registerWithPhone(type)
      const { eventId, phone } = yield* customerWithEvent(type)
      const { personal_sealed, row } = yield* rawRow(eventId)
      assert.isNotNull(personal_sealed)
      for (const secret of [phone, device.userAgent, device.os, device.osVersion]) {
        assert.notInclude(row, secret)
        assert.notInclude(Buffer.from(personal_sealed!).toString("latin1"), secret)
      }
      assert.include(row, "A-1")
      assert.include(row, "mobile")
    }))

  it.effect("an event with nothing personal has no sealed part", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const response = yield* call("POST", `${customersPath}/${customer.id}/track`, {
        body: { type: "page_view", device: { type: "desktop" }, properties: { path: "/" } }
      })
      const { id } = yield* json<{ readonly id: string }>(response)
      assert.isNull((yield* rawRow(id)).personal_sealed)
      const [event] = yield* timeline(customer.id)
      assert.deepStrictEqual(event.device, { type: "desktop" })
    }))

  it.effect("an unregistered type's properties stay clear; its device details are sealed", () =>
    Effect.gen(function*() {
      const { eventId, phone } = yield* customerWithEvent(uniqueType())
      const { row } = yield* rawRow(eventId)
      assert.include(row, phone)
      assert.notInclude(row, device.userAgent)
    }))

  it.effect("the timeline serves the whole event to admins, agents and services", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* registerWithPhone(type)
      const { customerId, phone } = yield* customerWithEvent(type)
      for (const role of ["admin", "agent", "service"] as const) {
        whole((yield* timeline(customerId, role))[0], phone)
      }
    }))

  it.effect("analysts get the event without its personal part, on REST and RPC", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* registerWithPhone(type)
      const { customerId } = yield* customerWithEvent(type)
      withoutPersonalPart((yield* timeline(customerId, "analyst"))[0])
      const page = yield* withRpcClient((client) => client.ListCustomerEvents({ id: customerId as never }), "analyst")
      withoutPersonalPart(page.data[0])
    }))

  it.effect("RPC serves the whole event to an admin", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* registerWithPhone(type)
      const { customerId, phone } = yield* customerWithEvent(type)
      const page = yield* withRpcClient((client) => client.ListCustomerEvents({ id: customerId as never }), "admin")
      whole(page.data[0], phone)
    }))

  it.effect("reading personal event data is audited; an analyst's read, which has none, is not", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* registerWithPhone(type)
      const { customerId } = yield* customerWithEvent(type)
      yield* timeline(customerId, "analyst")
      yield* timeline(customerId, "agent")
      const reads = Effect.flatMap(PgClient.PgClient, (sql) =>
        sql<{ readonly actor_role: string; readonly fields: ReadonlyArray<string> }>`SELECT actor_role, fields
          FROM audit_log WHERE customer_id = ${customerId} AND action = 'customer.events.read'`.pipe(Effect.orDie))
      const entries = yield* reads.pipe(
        Effect.flatMap((rows) => rows.length > 0 ? Effect.succeed(rows) : Effect.fail("not yet" as const)),
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }),
        Effect.orDie
      )
      assert.deepStrictEqual(entries.map((entry) => ({ ...entry })), [
        { actor_role: "agent", fields: ["events.device", "events.properties"] }
      ])
    }))

  it.effect("the export holds the whole event", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* registerWithPhone(type)
      const { customerId, phone } = yield* customerWithEvent(type)
      const exported = yield* json<{ readonly events: ReadonlyArray<TrackedEvent> }>(
        yield* call("GET", `${customersPath}/${customerId}/data`)
      )
      whole(exported.events[0], phone)
    }))

  it.effect("the EVENTS stream carries the event without its personal part", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* registerWithPhone(type)
      const { eventId } = yield* customerWithEvent(type)
      const [event] = yield* streamed(type)
      assert.strictEqual(event.id, eventId)
      withoutPersonalPart(event)
    }))

  it.effect("after anonymisation the personal part cannot be opened: the event is served without it", () =>
    Effect.gen(function*() {
      const type = uniqueType()
      yield* registerWithPhone(type)
      const { customerId } = yield* customerWithEvent(type)
      const response = yield* call("POST", `${customersPath}/${customerId}/anonymize`, { body: { reason: "test" } })
      assert.strictEqual(response.status, 200)
      withoutPersonalPart((yield* timeline(customerId, "admin"))[0])
    }))
})
