/**
 * Real-time segment membership on the real database and NATS: a customer's
 * creation, update or tracked events move them in or out of the dynamic
 * segments they can affect without a calculation, with the stays, the counts
 * and the joined/left events on JetStream; a segment naming another follows in
 * the same round; nothing is written when nothing moved; a queued customer is
 * evaluated by whichever process polls the queue; a calculation holding the
 * segment keeps the customer queued until it is done; erasure drops what is queued.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect, Schema } from "effect"
import { SegmentMembershipChanged } from "../../src/domain/SegmentEvents.ts"
import { customersPath, newCustomer, unique } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer } from "../support/Http.ts"
import { natsConnection } from "../support/Nats.ts"
import { createSegment, dynamicSegment, memberOf, type SegmentBody, segmentPath } from "../support/SegmentsApi.ts"
import { json, natsUrl } from "../support/TestService.ts"

const decodeMembershipEvent = Schema.decodeUnknownSync(SegmentMembershipChanged)

/** The promise: joins and leaves are published within a second of the change. */
const withinMillis = 1_000

interface Received {
  readonly at: number
  readonly subject: string
  readonly event: SegmentMembershipChanged
}

/** Every membership event of the segment published from now on, as it arrives (a core subscription). */
const watch = (nc: NatsConnection, segmentId: string) =>
  Effect.gen(function*() {
    const received: Array<Received> = []
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        nc.subscribe(`segments.${segmentId}.>`, {
          callback: (error, message) => {
            if (error === null) {
              received.push({ at: performance.now(), subject: message.subject, event: decodeMembershipEvent(message.json()) })
            }
          }
        })
      ),
      (subscription) => Effect.sync(() => subscription.unsubscribe())
    )
    yield* Effect.promise(() => nc.flush())
    return received
  })

/** Waits for the `count`-th event after `since` (performance.now()), and fails unless it came within a second. */
const arrived = (received: ReadonlyArray<Received>, count: number, since: number) =>
  Effect.gen(function*() {
    const events = yield* eventually(
      `${count} membership event(s)`,
      Effect.sync(() => received.filter((item) => item.at >= since)),
      (items) => items.length >= count,
      5_000
    )
    const latest = events[count - 1].at - since
    assert.isBelow(latest, withinMillis, `the event came ${latest.toFixed(0)} ms after the change`)
    return events.slice(0, count)
  })

const summary = (received: ReadonlyArray<Received>) =>
  received.map(({ event }) => [event.type, event.cause, event.calculationId, [...event.customerIds]])

const patch = (customerId: string, body: Record<string, unknown>) =>
  Effect.gen(function*() {
    const response = yield* call("PATCH", `${customersPath}/${customerId}`, { body })
    assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.text()))
  })

const trackPurchases = (customerId: string, count: number) =>
  Effect.gen(function*() {
    const occurredAt = new Date(Date.now() - 60_000).toISOString()
    const events = Array.from({ length: count }, () => ({ customerId, type: "purchase", occurredAt, revenue: 10, currency: "USD" }))
    const response = yield* call("POST", "/api/v1/events/batch", { body: { events }, role: "service" })
    assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.text()))
  })

const readSegment = (segmentId: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", segmentPath(segmentId))
    assert.strictEqual(response.status, 200)
    return yield* json<SegmentBody>(response)
  })

/** The segment's stays, oldest first: who, and whether the stay is current. */
const stays = (segmentId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly customerId: string; readonly current: boolean }>`SELECT customer_id::text AS "customerId",
        left_at IS NULL AS current
      FROM customer_segment_memberships WHERE segment_id = ${segmentId} ORDER BY id`.pipe(Effect.orDie))

/** The sources the customer is queued for (the queue is append-only: one row per change, so each source once). */
const queued = (customerId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly source: string }>`SELECT DISTINCT source FROM segment_evaluation_pending
      WHERE customer_id = ${customerId} ORDER BY source`.pipe(Effect.orDie, Effect.map((rows) => rows.map((row) => row.source))))

/** The segment's calculations all finished (its first one, queued by its creation, included). */
const settled = (segmentId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    eventually(
      `segment ${segmentId} to settle`,
      sql<{ readonly status: string }>`SELECT status FROM segment_calculations WHERE segment_id = ${segmentId}`.pipe(
        Effect.orDie
      ),
      (rows) => rows.length > 0 && rows.every((row) => row.status === "succeeded")
    ))

/** The customer's purchases as the rollups count them (folded). */
const purchasesRolledUp = (customerId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly events: number }>`SELECT coalesce(sum(events), 0)::int AS events FROM customer_type_activity
      WHERE customer_id = ${customerId} AND type = 'purchase'`.pipe(Effect.orDie, Effect.map(([row]) => row.events)))

const taggedWith = (tag: string) => ({ kind: "tags", match: "any", tags: [tag] })

/** A dynamic segment, created and calculated once (before the changes under test). */
const calculatedSegment = (criteria: unknown) =>
  Effect.gen(function*() {
    const segment = yield* createSegment(dynamicSegment({ criteria }))
    yield* settled(segment.id)
    return segment
  })

/** A customer not tagged yet, a calculated segment of a fresh tag, and the segment's events as they arrive. */
const untaggedCustomerAndSegment = (label: string) =>
  Effect.gen(function*() {
    const tag = `${label}-${unique()}`
    const customer = yield* createCustomer(newCustomer({ tags: ["other"] }))
    const segment = yield* calculatedSegment(taggedWith(tag))
    const received = yield* watch(yield* natsConnection(natsUrl), segment.id)
    return { tag, customer, segment, received }
  })

layer(
  testServiceWithDatabase({
    env: {
      SEGMENT_CALCULATION_POLL_SECONDS: "0.2",
      SEGMENT_REALTIME_POLL: "200 millis",
      SEGMENT_REALTIME_RETRY: "300 millis",
      // Every behaviour here holds with it on; one test needs it (a join before the fold).
      SEGMENT_REALTIME_UNFOLDED: "true"
    }
  }),
  { excludeTestServices: true }
)("real-time segment membership", (it) => {
  it.effect("an update that makes a customer match joins them, one that makes them stop leaves them, each published within a second", () =>
    Effect.gen(function*() {
      const { tag, customer, segment, received } = yield* untaggedCustomerAndSegment("rt")

      const joining = performance.now()
      yield* patch(customer.id, { tags: [tag] })
      const [joined] = yield* arrived(received, 1, joining)
      assert.strictEqual(joined.subject, `segments.${segment.id}.joined`)
      assert.deepStrictEqual(summary([joined]), [["segment.joined", "real-time", null, [customer.id]]])
      assert.deepStrictEqual([joined.event.part, joined.event.parts], [1, 1])
      assert.strictEqual((yield* readSegment(segment.id)).memberCount, 1)
      assert.deepStrictEqual(yield* stays(segment.id), [{ customerId: customer.id, current: true }])

      const leaving = performance.now()
      yield* patch(customer.id, { tags: ["other"] })
      const [left] = yield* arrived(received, 1, leaving)
      assert.strictEqual(left.subject, `segments.${segment.id}.left`)
      assert.deepStrictEqual(summary([left]), [["segment.left", "real-time", null, [customer.id]]])
      assert.strictEqual((yield* readSegment(segment.id)).memberCount, 0)
      // The stay is closed, not deleted: the history keeps it.
      assert.deepStrictEqual(yield* stays(segment.id), [{ customerId: customer.id, current: false }])
    }))

  it.effect("tracked events make a customer join a behavioural segment within a second of the third purchase", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer({ tags: [`buyer-${unique()}`] }))
      // "Purchased at least 3 times in the last 30 days", among this test's customers only.
      const segment = yield* calculatedSegment({
        kind: "all",
        criteria: [
          { kind: "eventCount", type: "purchase", window: { lastDays: 30 }, atLeast: 3 },
          taggedWith(customer.tags[0]!)
        ]
      })
      const received = yield* watch(yield* natsConnection(natsUrl), segment.id)

      yield* trackPurchases(customer.id, 2)
      // Two purchases are folded and evaluated: not yet a member.
      yield* eventually("the two purchases to be evaluated", queued(customer.id), (sources) => sources.length === 0)
      yield* eventually("the two purchases to be folded", purchasesRolledUp(customer.id), (events) => events === 2)
      yield* eventually("the evaluation after the fold", queued(customer.id), (sources) => sources.length === 0)
      assert.strictEqual((yield* readSegment(segment.id)).memberCount, 0)

      const third = performance.now()
      yield* trackPurchases(customer.id, 1)
      const [joined] = yield* arrived(received, 1, third)
      assert.deepStrictEqual(summary([joined]), [["segment.joined", "real-time", null, [customer.id]]])
      assert.deepStrictEqual(summary(received), [["segment.joined", "real-time", null, [customer.id]]])
      assert.strictEqual((yield* readSegment(segment.id)).memberCount, 1)
    }))

  it.effect("tracked events join a customer before the fold has them; the fold's own evaluation then moves nothing", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const customer = yield* createCustomer(newCustomer({ tags: [`early-${unique()}`] }))
      const segment = yield* calculatedSegment({
        kind: "all",
        criteria: [
          { kind: "eventCount", type: "purchase", window: { lastDays: 30 }, atLeast: 3 },
          taggedWith(customer.tags[0]!)
        ]
      })
      // A first purchase folded: the customer has a rollup row to hold.
      yield* trackPurchases(customer.id, 1)
      yield* eventually("the first purchase to be folded", purchasesRolledUp(customer.id), (events) => events === 1)
      const received = yield* watch(yield* natsConnection(natsUrl), segment.id)

      // While this transaction holds the customer's rollup row, a fold of their events waits for it.
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1 FROM customer_activity WHERE customer_id = ${customer.id} FOR UPDATE`.pipe(Effect.orDie)
        const tracked = performance.now()
        yield* trackPurchases(customer.id, 2)
        const [joined] = yield* arrived(received, 1, tracked)
        assert.deepStrictEqual(summary([joined]), [["segment.joined", "real-time", null, [customer.id]]])
        // Joined on events the rollups do not hold yet.
        assert.strictEqual(yield* purchasesRolledUp(customer.id), 1)
      }))

      yield* eventually("the purchases to be folded", purchasesRolledUp(customer.id), (events) => events === 3)
      yield* eventually("the evaluation after the fold", queued(customer.id), (sources) => sources.length === 0)
      // Give a stray round time to publish: there is none, and the stay opened once is still current.
      yield* Effect.sleep("500 millis")
      assert.deepStrictEqual(summary(received), [["segment.joined", "real-time", null, [customer.id]]])
      assert.deepStrictEqual(yield* stays(segment.id), [{ customerId: customer.id, current: true }])
    }))

  it.effect("tracked events of a type no dynamic segment reads queue no evaluation", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const [viewer, buyer] = [yield* createCustomer(), yield* createCustomer()]
      const segment = yield* calculatedSegment({ kind: "eventCount", type: "purchase", window: { lastDays: 30 }, atLeast: 1 })
      yield* eventually("the creations' evaluations", Effect.map(Effect.all([queued(viewer.id), queued(buyer.id)]), (rows) => rows.flat()), (rows) => rows.length === 0)

      // Holding the segment keeps the buyer's evaluation in the queue, where the test can see it.
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1 FROM customer_segments WHERE id = ${segment.id} FOR NO KEY UPDATE`
        const occurredAt = new Date(Date.now() - 60_000).toISOString()
        const response = yield* call("POST", "/api/v1/events/batch", {
          body: { events: [{ customerId: viewer.id, type: "page_view", occurredAt }, { customerId: buyer.id, type: "purchase", occurredAt }] },
          role: "service"
        })
        assert.strictEqual(response.status, 200)
        yield* eventually("the buyer's evaluation queued by the fold", queued(buyer.id), (sources) => sources.length > 0)
        assert.deepStrictEqual(yield* queued(viewer.id), [])
      })).pipe(Effect.orDie)
    }))

  // Consent is recorded at creation (updates do not change it: Customer.ts), so that is where it moves a customer.
  it.effect("a customer created with marketing consent joins a segment of consent within a second; one without does not", () =>
    Effect.gen(function*() {
      const tag = `consent-${unique()}`
      const segment = yield* calculatedSegment({
        kind: "all",
        criteria: [{ kind: "consent", purpose: "marketing", given: true }, taggedWith(tag)]
      })
      const received = yield* watch(yield* natsConnection(natsUrl), segment.id)

      const declined = yield* createCustomer(newCustomer({ tags: [tag], consent: { marketing: false, dataProcessing: true } }))
      const creating = performance.now()
      const granted = yield* createCustomer(newCustomer({ tags: [tag], consent: { marketing: true, dataProcessing: true } }))
      yield* arrived(received, 1, creating)
      yield* eventually("both evaluated", Effect.map(Effect.all([queued(declined.id), queued(granted.id)]), (rows) => rows.flat()), (rows) => rows.length === 0)
      assert.deepStrictEqual(summary(received), [["segment.joined", "real-time", null, [granted.id]]])
      assert.strictEqual((yield* readSegment(segment.id)).memberCount, 1)
    }))

  it.effect("a segment naming another follows it in the same round", () =>
    Effect.gen(function*() {
      const tag = `inner-${unique()}`
      const customer = yield* createCustomer(newCustomer({ tags: ["other"] }))
      const inner = yield* calculatedSegment(taggedWith(tag))
      const outer = yield* calculatedSegment({ kind: "all", criteria: [memberOf(inner.id), { kind: "status", in: ["ACTIVE"] }] })
      const nc = yield* natsConnection(natsUrl)
      const [innerEvents, outerEvents] = [yield* watch(nc, inner.id), yield* watch(nc, outer.id)]

      const changed = performance.now()
      yield* patch(customer.id, { tags: [tag] })
      yield* arrived(innerEvents, 1, changed)
      yield* arrived(outerEvents, 1, changed)
      assert.deepStrictEqual(summary(outerEvents), [["segment.joined", "real-time", null, [customer.id]]])
      assert.strictEqual((yield* readSegment(outer.id)).memberCount, 1)
      // No calculation was needed for it.
      const calculations = yield* Effect.flatMap(PgClient.PgClient, (sql) =>
        sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM segment_calculations WHERE segment_id = ${outer.id}`)
      assert.strictEqual(calculations[0].n, 1)
    }))

  it.effect("a change that moves nothing writes no stay and publishes nothing; a change of no fact criteria read is not even queued", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const tag = `same-${unique()}`
      const customer = yield* createCustomer(newCustomer({ tags: [tag] }))
      const segment = yield* calculatedSegment(taggedWith(tag))
      yield* eventually("the creation's evaluation", queued(customer.id), (sources) => sources.length === 0)
      const received = yield* watch(yield* natsConnection(natsUrl), segment.id)
      const before = yield* stays(segment.id)
      assert.strictEqual(before.length, 1)

      // Holding the segment keeps what is queued for it in the queue, where the test can see it.
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1 FROM customer_segments WHERE id = ${segment.id} FOR NO KEY UPDATE`
        // The name is no fact of any criterion: nothing queued.
        yield* patch(customer.id, { name: "Still The Same Audience" })
        assert.deepStrictEqual(yield* queued(customer.id), [])
        // Another tag is: queued, in the update's own statement.
        yield* patch(customer.id, { tags: [tag, "extra"] })
        assert.deepStrictEqual(yield* queued(customer.id), ["profile"])
      })).pipe(Effect.orDie)

      // Evaluated once the segment is free: still a member, so nothing is written.
      yield* eventually("the evaluation", queued(customer.id), (sources) => sources.length === 0)
      yield* Effect.sleep("1 second")
      assert.deepStrictEqual(received, [])
      assert.deepStrictEqual(yield* stays(segment.id), before)
      assert.strictEqual((yield* readSegment(segment.id)).memberCount, 1)
    }))

  it.effect("a queued customer whose process never woke its worker is evaluated by the poll (the queue is durable)", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const { tag, customer, received } = yield* untaggedCustomerAndSegment("durable")

      // The change and its queued row, committed as a process that died right after its commit left them.
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`UPDATE customers SET tags = ARRAY[${tag}]::text[] WHERE id = ${customer.id}`
        yield* sql`INSERT INTO segment_evaluation_pending (customer_id, source, due_at)
          VALUES (${customer.id}, 'profile', now())`
      })).pipe(Effect.orDie)
      const committed = performance.now()
      yield* arrived(received, 1, committed)
      assert.deepStrictEqual(summary(received), [["segment.joined", "real-time", null, [customer.id]]])
    }))

  it.effect("while a calculation holds the segment, the customer stays queued; the round after it moves them", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const { tag, customer, segment, received } = yield* untaggedCustomerAndSegment("held")

      // The segment's row held as a calculation's run holds it: the real-time path neither waits nor writes.
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1 FROM customer_segments WHERE id = ${segment.id} FOR NO KEY UPDATE`
        yield* patch(customer.id, { tags: [tag] })
        yield* Effect.sleep("1 second")
        assert.deepStrictEqual(received, [])
        assert.deepStrictEqual(yield* queued(customer.id), ["profile"])
      })).pipe(Effect.orDie)

      const released = performance.now()
      yield* arrived(received, 1, released)
      assert.deepStrictEqual(summary(received), [["segment.joined", "real-time", null, [customer.id]]])
      assert.strictEqual((yield* readSegment(segment.id)).memberCount, 1)
    }))

  it.effect("erasing a queued customer drops their evaluation: an erased customer never joins", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const { tag, customer, segment, received } = yield* untaggedCustomerAndSegment("erased")

      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1 FROM customer_segments WHERE id = ${segment.id} FOR NO KEY UPDATE`
        yield* patch(customer.id, { tags: [tag] })
        assert.deepStrictEqual(yield* queued(customer.id), ["profile"])
        assert.strictEqual((yield* call("DELETE", `${customersPath}/${customer.id}`)).status, 204)
        assert.deepStrictEqual(yield* queued(customer.id), [])
      })).pipe(Effect.orDie)

      yield* Effect.sleep("1 second")
      assert.deepStrictEqual(received, [])
      assert.deepStrictEqual(yield* stays(segment.id), [])
      assert.strictEqual((yield* readSegment(segment.id)).memberCount, 0)
    }))
})
