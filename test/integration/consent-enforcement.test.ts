/**
 * Consent enforced, not just stored, on the real database and NATS: a customer who withdrew analytics is not
 * folded or profiled (their events still stored); marketing segments hold only customers with marketing
 * consent, in the calculation and in real time; and webhook deliveries of a marketing segment's joins lose the
 * id of someone who withdrew.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { TimelinePage } from "../../src/domain/Event.ts"
import { customersPath, newCustomer, unique } from "../support/Customers.ts"
import { calculated, choice, enforcingService, members, setConsent, taggedWith } from "../support/Consent.ts"
import {
  createDestination,
  durableConsumerReady,
  receiver
} from "../support/Destinations.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import { createSegment, dynamicSegment, manualSegment, segmentPath, segmentsPath } from "../support/SegmentsApi.ts"
import { json } from "../support/TestService.ts"

const durable = `test-consent-${unique()}`

const track = (customerId: string | ReadonlyArray<string>, count: number) =>
  Effect.gen(function*() {
    const events = [customerId].flat().flatMap((customerId) => Array.from({ length: count }, (_, index) => ({
      customerId,
      type: "page_view",
      occurredAt: new Date(Date.now() - (index + 1) * 60_000).toISOString(),
      properties: { path: `/page/${index}` }
    })))
    const response = yield* call("POST", "/api/v1/events/batch", { body: { events }, role: "service" })
    assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.text()))
  })

const analyticsOf = (id: string) => call("GET", `${customersPath}/${id}/analytics`, { role: "analyst" })

const eventsTotal = (id: string) =>
  Effect.flatMap(analyticsOf(id), (response) =>
    response.status === 200
      ? Effect.map(json<{ readonly events: { readonly total: number } }>(response), (analytics) => analytics.events.total)
      : Effect.succeed(-response.status))

const rollupRows = (id: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly rows: number }>`SELECT
        ((SELECT count(*) FROM customer_activity WHERE customer_id = ${id})
        + (SELECT count(*) FROM customer_daily_activity WHERE customer_id = ${id})
        + (SELECT count(*) FROM customer_type_activity WHERE customer_id = ${id}))::int AS rows`.pipe(
      Effect.map(([row]) => row.rows),
      Effect.orDie
    ))

/** Whether every committed event batch has been folded (none waits for the folder). */
const allFolded = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ readonly waiting: number }>`SELECT count(*)::int AS waiting FROM event_batches WHERE folded_at IS NULL`.pipe(
    Effect.map(([row]) => row.waiting === 0),
    Effect.orDie
  ))

layer(
  enforcingService(durable, {
    // Events reach segments before the fold too: a withdrawal must hold on that path as well.
    SEGMENT_REALTIME_UNFOLDED: "true"
  }),
  { excludeTestServices: true, timeout: 90_000 }
)("consent enforcement", (it) => {
  it.effect("analytics withdrawn: rollups deleted, analytics and insights refused, events still stored but not folded", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      yield* track(customer.id, 5)
      yield* eventually("the fold", eventsTotal(customer.id), (total) => total === 5)

      yield* setConsent(customer.id, choice("analytics", "withdrawn"))
      assert.strictEqual(yield* rollupRows(customer.id), 0)
      yield* expectProblem(yield* analyticsOf(customer.id), 409, "/problems/analytics-consent-withdrawn")
      yield* expectProblem(
        yield* call("GET", `${customersPath}/${customer.id}/insights`, { role: "analyst" }),
        409,
        "/problems/analytics-consent-withdrawn"
      )

      yield* track(customer.id, 3)
      yield* eventually("the fold of the new events", allFolded, (done) => done)
      assert.strictEqual(yield* rollupRows(customer.id), 0)
      // Stored all the same: the timeline (and the export) still hold every event.
      const timeline = yield* json<TimelinePage>(yield* call("GET", `${customersPath}/${customer.id}/events?limit=100`))
      assert.strictEqual(timeline.data.length, 8)
      // The export says analytics are withheld rather than failing.
      const exported = yield* json<{ readonly analytics: unknown }>(yield* call("GET", `${customersPath}/${customer.id}/data`))
      assert.isNull(exported.analytics)
    }))

  it.effect("analytics granted again: events tracked from then on are folded", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      yield* setConsent(customer.id, choice("analytics", "withdrawn"))
      yield* track(customer.id, 2)
      yield* eventually("the fold", allFolded, (done) => done)
      yield* setConsent(customer.id, choice("analytics", "granted"))
      yield* track(customer.id, 4)
      yield* eventually("the fold after the grant", eventsTotal(customer.id), (total) => total === 4)
    }))

  it.effect("analytics withdrawn: behaviour moves the customer into no segment, before the fold or after it", () =>
    Effect.gen(function*() {
      const withdrawn = yield* createCustomer(newCustomer())
      const control = yield* createCustomer(newCustomer())
      yield* setConsent(withdrawn.id, choice("analytics", "withdrawn"))
      const type = `visit_${unique().replace(/-/g, "_")}`
      const segment = yield* createSegment(dynamicSegment({
        criteria: { kind: "eventCount", type, window: { lastDays: 30 }, atLeast: 1 }
      }))
      yield* calculated(segment.id)
      const events = [withdrawn.id, control.id].map((customerId) => ({
        customerId,
        type,
        occurredAt: new Date(Date.now() - 60_000).toISOString()
      }))
      const response = yield* call("POST", "/api/v1/events/batch", { body: { events }, role: "service" })
      assert.strictEqual(response.status, 200)
      yield* eventually("the control customer's join", members(segment.id), (ids) => ids.includes(control.id))
      assert.deepStrictEqual(yield* members(segment.id), [control.id])
      yield* eventually("the fold", allFolded, (done) => done)
      yield* call("POST", `${segmentPath(segment.id)}/calculate`)
      yield* Effect.sleep("1 second")
      assert.deepStrictEqual(yield* members(segment.id), [control.id])
    }))

  it.effect("a marketing segment's calculation leaves out customers without marketing consent", () =>
    Effect.gen(function*() {
      const tag = `mkt-${unique()}`
      const consenting = yield* createCustomer(newCustomer({ tags: [tag], consent: { marketing: true, dataProcessing: true } }))
      yield* createCustomer(newCustomer({ tags: [tag], consent: { marketing: false, dataProcessing: true } }))
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag), marketing: true }))
      assert.isTrue(segment.marketing)
      yield* calculated(segment.id)
      assert.deepStrictEqual(yield* members(segment.id), [consenting.id])
      // The same criteria without the mark hold both.
      const plain = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      assert.isFalse(plain.marketing)
      yield* calculated(plain.id)
      assert.strictEqual((yield* members(plain.id)).length, 2)
    }))

  it.effect("marking a segment as marketing recalculates it without the customers who did not consent", () =>
    Effect.gen(function*() {
      const tag = `mkt-${unique()}`
      const consenting = yield* createCustomer(newCustomer({ tags: [tag], consent: { marketing: true, dataProcessing: true } }))
      yield* createCustomer(newCustomer({ tags: [tag] }))
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      yield* calculated(segment.id)
      const response = yield* call("PATCH", segmentPath(segment.id), { body: { marketing: true } })
      assert.strictEqual(response.status, 200)
      yield* eventually("the recalculation", members(segment.id), (ids) => ids.length === 1)
      assert.deepStrictEqual(yield* members(segment.id), [consenting.id])
    }))

  it.effect("in real time: withdrawing marketing leaves marketing segments, a fresh consent joins them", () =>
    Effect.gen(function*() {
      const tag = `mkt-${unique()}`
      const customer = yield* createCustomer(newCustomer({ tags: [tag], consent: { marketing: true, dataProcessing: true } }))
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag), marketing: true }))
      yield* calculated(segment.id)
      assert.deepStrictEqual(yield* members(segment.id), [customer.id])

      yield* setConsent(customer.id, choice("marketing", "withdrawn"))
      yield* eventually("the leave", members(segment.id), (ids) => ids.length === 0)
      yield* setConsent(customer.id, choice("marketing", "granted"))
      yield* eventually("the join", members(segment.id), (ids) => ids.length === 1)
    }))

  it.effect("a manual segment cannot be a marketing segment", () =>
    Effect.gen(function*() {
      const created = yield* call("POST", segmentsPath, { body: manualSegment({ marketing: true }) })
      assert.include(invalidPaths(yield* expectProblem(created, 400, "/problems/invalid-request")), "payload.marketing")
      const manual = yield* createSegment(manualSegment())
      const changed = yield* call("PATCH", segmentPath(manual.id), { body: { marketing: true } })
      assert.strictEqual(changed.status, 422)
    }))

  it.effect("a webhook delivery of a marketing segment's join still queued loses the id of a customer who withdrew", () =>
    Effect.gen(function*() {
      // The receiver fails: the join waits for its next attempt, queued.
      const hooks = yield* receiver(() => 503)
      yield* durableConsumerReady(durable)
      const tag = `mkt-${unique()}`
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag), marketing: true }))
      yield* calculated(segment.id)
      const destination = yield* createDestination({ url: hooks.url, segmentId: segment.id })
      const [stays, withdraws] = [
        (yield* createCustomer(newCustomer({ tags: [tag], consent: { marketing: true, dataProcessing: true } }))).id,
        (yield* createCustomer(newCustomer({ tags: [tag], consent: { marketing: true, dataProcessing: true } }))).id
      ]
      const sql = yield* PgClient.PgClient
      const joins = sql<{ readonly status: string; readonly ids: ReadonlyArray<string> }>`SELECT status,
          ARRAY(SELECT jsonb_array_elements_text(payload::jsonb -> 'customerIds')) AS ids
        FROM destination_deliveries WHERE destination_id = ${destination.id} AND event_type = 'segment.joined'`.pipe(
        Effect.orDie
      )
      const named = (rows: ReadonlyArray<{ readonly ids: ReadonlyArray<string> }>) => new Set(rows.flatMap((row) => row.ids))
      yield* eventually("the joins queued and tried once", Effect.zip(joins, Effect.sync(() => hooks.received.length)), ([rows, tried]) =>
        named(rows).has(stays) && named(rows).has(withdraws) && tried > 0)

      yield* setConsent(withdraws, choice("marketing", "withdrawn"))
      const after = yield* joins
      const pending = after.filter((row) => row.status === "pending")
      assert.isTrue(pending.length > 0)
      for (const row of pending) assert.notInclude(row.ids, withdraws)
      assert.isTrue(named(after.filter((row) => row.status !== "erased")).has(stays))
      // A join naming only them is dropped, never sent.
      for (const row of after.filter((row) => row.status === "erased")) assert.deepStrictEqual(row.ids, [])
    }))
})
