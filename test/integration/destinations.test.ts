/**
 * Segment destinations on the real database and NATS, with receivers that are
 * real HTTP servers on loopback: joins reach destinations signed so that the
 * standardwebhooks library's own verifier accepts them, a destination of one
 * segment gets only that segment's events, failed attempts are retried with
 * growing delays, a delivery given up is a dead letter that can be listed and
 * replayed, delivery status, secret rotation, a message JetStream delivers
 * twice, RPC, and the refusals (bad input, SSRF) as RFC 9457 problems.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Webhook, WebhookVerificationError } from "standardwebhooks"
import { openApiDocument } from "../../src/api/Documentation.ts"
import type { DeadLetterPage, Destination, DestinationPage, RotatedSecret } from "../../src/domain/Destination.ts"
import { Forbidden } from "../../src/domain/Errors.ts"
import { uuidv7 } from "../../src/platform/Ids.ts"
import { newCustomer, unique } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import {
  createDestination,
  destinationsPath,
  durableConsumerCleanup,
  durableConsumerReady,
  membershipEvent,
  publishEvents,
  type Received,
  receiver
} from "../support/Destinations.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import { freePort } from "../support/Nats.ts"
import { makeValidator } from "../support/OpenApi.ts"
import { withRpcClient } from "../support/Rpc.ts"
import {
  createSegment,
  dynamicSegment,
  manualSegment,
  type SegmentBody,
  segmentsPath
} from "../support/SegmentsApi.ts"
import { runningService } from "../support/ServiceProcess.ts"
import { json, natsUrl, TestService } from "../support/TestService.ts"

interface MembershipNotification {
  readonly type: string
  readonly eventId: string
  readonly segmentId: string
  readonly customerIds: ReadonlyArray<string>
  readonly reason?: string
}

/** The notifications of one segment among those received, each verified with `secret` by the library. */
const verifiedFor = (received: ReadonlyArray<Received>, secret: string, segmentId: string) =>
  received
    .map((request) => ({ request, payload: new Webhook(secret).verify(request.body, request.headers) as MembershipNotification }))
    .filter(({ payload }) => payload.segmentId === segmentId)

const document = openApiDocument()
const validate = makeValidator(document)
type JsonSchema = Record<string, unknown>
type WebhookEntry = { readonly post: { readonly requestBody: { readonly content: Record<string, { readonly schema: JsonSchema }> } } }
const webhookBodySchema = (type: string) =>
  (document.webhooks as Record<string, WebhookEntry>)[type].post.requestBody.content["application/json"].schema

const durable = `test-destinations-${unique()}`

const consumerReady = durableConsumerReady(durable)
const consumerCleanup = durableConsumerCleanup(durable)

const readDestination = (id: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${destinationsPath}/${id}`)
    assert.strictEqual(response.status, 200)
    return yield* json<Destination>(response)
  })

const taggedWith = (tag: string) => ({ kind: "tags", match: "any", tags: [tag] })

interface TaggedSegment {
  readonly segmentId: string
  readonly tag: string
  readonly customers: ReadonlyArray<string>
}

/**
 * A dynamic segment of `count` new customers with a fresh tag, once its first calculation is done (which
 * published their join, when there were any).
 */
const segmentOf = (count: number) =>
  Effect.gen(function*() {
    const tag = `dest-${unique()}`
    const customers: Array<string> = []
    for (let i = 0; i < count; i++) customers.push((yield* createCustomer(newCustomer({ tags: [tag] }))).id)
    const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
    yield* eventually(
      "the first calculation",
      Effect.flatMap(call("GET", `${segmentsPath}/${segment.id}`), (response) => json<SegmentBody>(response)),
      (read) => read.lastCalculatedAt !== null
    )
    return { segmentId: segment.id, tag, customers: customers.sort() } satisfies TaggedSegment
  })

/** A new customer who matches the segment, joined by real-time membership (one join event); their id. */
const joinNew = (segment: TaggedSegment) =>
  Effect.map(createCustomer(newCustomer({ tags: [segment.tag] })), (customer) => customer.id as string)

const deleteDestination = (id: string) =>
  Effect.gen(function*() {
    assert.strictEqual((yield* call("DELETE", `${destinationsPath}/${id}`)).status, 204)
  })

/** A secret of the right form that no destination has. */
const strangerSecret = `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`

const deliveryRows = (destinationId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly id: string; readonly eventId: string; readonly status: string; readonly attempts: number }>`SELECT
        id::text AS id, event_id::text AS "eventId", status, attempts
      FROM destination_deliveries WHERE destination_id = ${destinationId} ORDER BY id`.pipe(Effect.orDie))

layer(
  testServiceWithDatabase({
    env: {
      DESTINATIONS_ALLOW_PRIVATE_NETWORKS: "true",
      DESTINATIONS_CONSUMER: durable,
      DESTINATION_POLL_SECONDS: "0.1",
      DESTINATION_RETRY_BASE_SECONDS: "0.5",
      DESTINATION_RETRY_CAP_SECONDS: "5",
      DESTINATION_MAX_ATTEMPTS: "3",
      DESTINATION_TIMEOUT_SECONDS: "2",
      SEGMENT_CALCULATION_POLL_SECONDS: "0.2"
    }
  }).pipe(Layer.provideMerge(consumerCleanup)),
  { excludeTestServices: true, timeout: 60_000 }
)("segment destinations", (it) => {
  it.effect("a join reaches a destination of every segment, signed so that the library's Webhook.verify accepts it", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver()
      const destination = yield* createDestination({ url: hooks.url })
      assert.match(destination.secret, /^whsec_/)
      assert.strictEqual(destination.segmentId, null)
      assert.isTrue(destination.enabled)
      yield* consumerReady

      const { customers, segmentId } = yield* segmentOf(2)
      const [notification] = yield* eventually(
        "the join at the receiver",
        Effect.sync(() => verifiedFor(hooks.received, destination.secret, segmentId)),
        (found) => found.length > 0
      )
      assert.strictEqual(notification.payload.type, "segment.joined")
      assert.deepStrictEqual(notification.payload.customerIds, customers)
      assert.strictEqual(notification.request.headers["content-type"], "application/json")
      assert.match(notification.request.headers["webhook-signature"], /^v1,[A-Za-z0-9+/=]+$/)
      // The body is what the document's `webhooks` entry describes.
      const documented = webhookBodySchema("segment.joined")
      assert.deepStrictEqual(validate(documented, JSON.parse(notification.request.body)), [])
      const [row] = (yield* deliveryRows(destination.id)).filter((row) => row.eventId === notification.payload.eventId)
      assert.strictEqual(notification.request.headers["webhook-id"], row.id)

      // Another secret, or a changed body, fails the library's verification.
      assert.throws(() => new Webhook(strangerSecret).verify(notification.request.body, notification.request.headers), WebhookVerificationError)
      assert.throws(
        () => new Webhook(destination.secret).verify(notification.request.body.replace("joined", "left"), notification.request.headers),
        WebhookVerificationError
      )

      const status = (yield* eventually(
        "the delivery recorded",
        readDestination(destination.id),
        (read) => read.status.delivered >= 1 && read.status.pending === 0
      )).status
      assert.strictEqual(status.dead, 0)
      assert.strictEqual(status.lastHttpStatus, 200)
      assert.isNull(status.lastError)
      assert.isNotNull(status.lastSuccessAt)
      assert.strictEqual(status.consecutiveFailures, 0)
      yield* deleteDestination(destination.id)
    }))

  it.effect("a destination of one segment gets that segment's events only", () =>
    Effect.gen(function*() {
      const [oneSegment, everySegment] = [yield* receiver(), yield* receiver()]
      yield* consumerReady
      const wanted = yield* segmentOf(0)
      const subscribed = yield* createDestination({ url: oneSegment.url, segmentId: wanted.segmentId })
      const witness = yield* createDestination({ url: everySegment.url })
      const other = yield* segmentOf(1)
      const member = yield* joinNew(wanted)

      yield* eventually(
        "the other segment's join at the destination of every segment",
        Effect.sync(() => verifiedFor(everySegment.received, witness.secret, other.segmentId)),
        (found) => found.length > 0
      )
      const got = yield* eventually(
        "the wanted segment's join",
        Effect.sync(() =>
          oneSegment.received.map((request) =>
            new Webhook(subscribed.secret).verify(request.body, request.headers) as MembershipNotification
          )
        ),
        (payloads) => payloads.length > 0
      )
      assert.deepStrictEqual(got.map((payload) => [payload.segmentId, payload.customerIds]), [[wanted.segmentId, [member]]])
      yield* deleteDestination(witness.id)
    }))

  it.effect("failed attempts are retried with growing delays until one succeeds, with one webhook-id and body", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver((index) => index < 2 ? 500 : 204)
      yield* consumerReady
      const wanted = yield* segmentOf(0)
      const destination = yield* createDestination({ url: hooks.url, segmentId: wanted.segmentId })
      const member = yield* joinNew(wanted)

      const attempts = yield* eventually("three attempts", Effect.sync(() => hooks.received), (got) => got.length >= 3)
      assert.strictEqual(new Set(attempts.map((request) => request.headers["webhook-id"])).size, 1)
      assert.strictEqual(new Set(attempts.map((request) => request.body)).size, 1)
      const payload = new Webhook(destination.secret).verify(attempts[2].body, attempts[2].headers) as MembershipNotification
      assert.deepStrictEqual(payload.customerIds, [member])
      const [first, second] = [attempts[1].at - attempts[0].at, attempts[2].at - attempts[1].at]
      assert.isAtLeast(first, 400, "base 0.5 s, jitter at most -20 %")
      assert.isAbove(second, first, "the second wait is longer than the first")

      const status = (yield* eventually("the success recorded", readDestination(destination.id), (read) => read.status.delivered === 1)).status
      assert.strictEqual(status.lastHttpStatus, 204)
      assert.strictEqual(status.consecutiveFailures, 0)
      assert.isNotNull(status.lastFailureAt)
      assert.deepStrictEqual((yield* deliveryRows(destination.id)).map((row) => [row.status, row.attempts]), [["delivered", 3]])
    }))

  it.effect("a delivery that fails its last attempt is a dead letter, listed, and delivered when replayed", () =>
    Effect.gen(function*() {
      let healthy = false
      const hooks = yield* receiver(() => healthy ? 200 : 503)
      yield* consumerReady
      const wanted = yield* segmentOf(0)
      const destination = yield* createDestination({ url: hooks.url, segmentId: wanted.segmentId })
      yield* joinNew(wanted)

      const dead = (yield* eventually("the dead letter", readDestination(destination.id), (read) => read.status.dead === 1)).status
      assert.strictEqual(dead.pending, 0)
      assert.strictEqual(dead.delivered, 0)
      assert.strictEqual(dead.consecutiveFailures, 3)
      assert.strictEqual(dead.lastHttpStatus, 503)
      assert.strictEqual(dead.lastError, "HTTP 503")
      assert.isNull(dead.lastSuccessAt)
      assert.strictEqual(hooks.received.length, 3)

      const listed = yield* json<DeadLetterPage>(yield* call("GET", `${destinationsPath}/${destination.id}/dead-letters`, { role: "agent" }))
      assert.strictEqual(listed.data.length, 1)
      assert.isNull(listed.nextCursor)
      const [letter] = listed.data
      assert.strictEqual(letter.id, hooks.received[0].headers["webhook-id"])
      assert.strictEqual(letter.type, "segment.joined")
      assert.strictEqual(letter.attempts, 3)
      assert.strictEqual(letter.lastHttpStatus, 503)

      // Ids that are not this destination's dead letters replay nothing.
      const none = yield* call("POST", `${destinationsPath}/${destination.id}/dead-letters/replay`, { body: { ids: [uuidv7()] } })
      assert.deepStrictEqual(yield* json(none), { replayed: 0 })

      healthy = true
      const replayed = yield* call("POST", `${destinationsPath}/${destination.id}/dead-letters/replay`, { body: { ids: [letter.id] } })
      assert.deepStrictEqual(yield* json(replayed), { replayed: 1 })
      const status = (yield* eventually("the replay delivered", readDestination(destination.id), (read) => read.status.delivered === 1)).status
      assert.strictEqual(status.dead, 0)
      assert.strictEqual(status.consecutiveFailures, 0)
      assert.strictEqual(hooks.received.length, 4)
      assert.strictEqual(hooks.received[3].headers["webhook-id"], letter.id)
      assert.strictEqual(hooks.received[3].body, hooks.received[0].body)
      const after = yield* json<DeadLetterPage>(yield* call("GET", `${destinationsPath}/${destination.id}/dead-letters`))
      assert.deepStrictEqual(after.data, [])
    }))

  it.effect("erasing a customer takes their id out of dead letters, so a replay no longer names them", () =>
    Effect.gen(function*() {
      let healthy = false
      const hooks = yield* receiver(() => healthy ? 200 : 503)
      yield* consumerReady
      const wanted = yield* segmentOf(0)
      const destination = yield* createDestination({ url: hooks.url, segmentId: wanted.segmentId })
      // Real-time membership joins them in one event or in two, as its rounds fall: either way, dead letters.
      const [kept, erased] = [
        (yield* createCustomer(newCustomer({ tags: [wanted.tag] }))).id,
        (yield* createCustomer(newCustomer({ tags: [wanted.tag] }))).id
      ]
      const namedIn = (requests: ReadonlyArray<Received>) =>
        new Set(requests.flatMap((request) =>
          (new Webhook(destination.secret).verify(request.body, request.headers) as MembershipNotification).customerIds
        ))
      const dead = yield* eventually(
        "the dead letters",
        readDestination(destination.id),
        (read) => read.status.pending === 0 && read.status.dead > 0 && namedIn(hooks.received).has(erased)
      )
      const attempts = hooks.received.length

      assert.strictEqual((yield* call("DELETE", `/api/v1/customers/${erased}`)).status, 204)
      // A dead letter of the erased customer alone was dropped (erased): only the others are replayed.
      const afterErasure = yield* readDestination(destination.id)
      assert.strictEqual(afterErasure.status.dead + afterErasure.status.erased, dead.status.dead)
      healthy = true
      yield* call("POST", `${destinationsPath}/${destination.id}/dead-letters/replay`, { body: {} })
      const replayed = (yield* eventually(
        "the replay",
        Effect.sync(() => hooks.received),
        (got) => got.length === attempts + afterErasure.status.dead
      )).slice(attempts)
      assert.deepStrictEqual([...namedIn(replayed)], [kept])
      for (const request of replayed) assert.notInclude(request.body, erased)
    }))

  it.effect("a dead letter whose every customer was erased is dropped as erased, never replayed with no ids", () =>
    Effect.gen(function*() {
      let healthy = false
      const hooks = yield* receiver(() => healthy ? 200 : 503)
      yield* consumerReady
      const segment = yield* createSegment(manualSegment())
      const destination = yield* createDestination({ url: hooks.url, segmentId: segment.id })
      const [kept, erased] = [(yield* createCustomer(newCustomer())).id, (yield* createCustomer(newCustomer())).id]
      const erasedOnly = { ...membershipEvent(segment.id), customerIds: [erased] }
      const both = { ...membershipEvent(segment.id), customerIds: [kept, erased].sort() }
      yield* publishEvents([erasedOnly, both])
      yield* eventually("two dead letters", readDestination(destination.id), (read) => read.status.dead === 2)
      const attempts = hooks.received.length

      assert.strictEqual((yield* call("DELETE", `/api/v1/customers/${erased}`)).status, 204)
      const status = (yield* readDestination(destination.id)).status
      assert.deepStrictEqual([status.pending, status.dead, status.erased], [0, 1, 1])
      const rows = yield* deliveryRows(destination.id)
      assert.deepStrictEqual(
        rows.map((row) => [row.eventId, row.status]).sort(),
        [[erasedOnly.eventId, "erased"], [both.eventId, "dead"]].sort()
      )
      const letters = yield* json<DeadLetterPage>(yield* call("GET", `${destinationsPath}/${destination.id}/dead-letters`))
      assert.deepStrictEqual(letters.data.map((letter) => letter.eventId), [both.eventId])

      healthy = true
      const replay = yield* call("POST", `${destinationsPath}/${destination.id}/dead-letters/replay`, { body: {} })
      assert.strictEqual((yield* json<{ readonly replayed: number }>(replay)).replayed, 1)
      yield* eventually("the replay delivered", readDestination(destination.id), (read) => read.status.delivered === 1)
      yield* Effect.sleep("500 millis")
      const replayed = hooks.received.slice(attempts)
      assert.strictEqual(replayed.length, 1, "the erased-only delivery is not sent")
      const payload = new Webhook(destination.secret).verify(replayed[0].body, replayed[0].headers) as MembershipNotification
      assert.deepStrictEqual([payload.eventId, payload.customerIds], [both.eventId, [kept]])
    }))

  it.effect("an event published before its customer's erasure and filed after it is scrubbed, or dropped as erased", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver()
      yield* consumerReady
      const segment = yield* createSegment(manualSegment())
      const destination = yield* createDestination({ url: hooks.url, segmentId: segment.id })
      const [kept, erased] = [(yield* createCustomer(newCustomer())).id, (yield* createCustomer(newCustomer())).id]
      assert.strictEqual((yield* call("DELETE", `/api/v1/customers/${erased}`)).status, 204)
      // As if published before the erasure and still in the stream.
      const erasedOnly = { ...membershipEvent(segment.id), customerIds: [erased] }
      const both = { ...membershipEvent(segment.id), customerIds: [kept, erased].sort() }
      yield* publishEvents([erasedOnly, both])

      const status = (yield* eventually(
        "one delivered, one dropped",
        readDestination(destination.id),
        (read) => read.status.delivered === 1 && read.status.erased === 1
      )).status
      assert.deepStrictEqual([status.pending, status.dead], [0, 0])
      const rows = yield* deliveryRows(destination.id)
      assert.deepStrictEqual(
        rows.map((row) => [row.eventId, row.status]).sort(),
        [[erasedOnly.eventId, "erased"], [both.eventId, "delivered"]].sort()
      )
      assert.strictEqual(hooks.received.length, 1)
      const payload = new Webhook(destination.secret).verify(hooks.received[0].body, hooks.received[0].headers) as MembershipNotification
      assert.deepStrictEqual([payload.eventId, payload.customerIds], [both.eventId, [kept]])
      assert.notInclude(hooks.received[0].body, erased)
    }))

  it.effect("a destination that does not answer holds only its own attempts: another gets the same event at once", () =>
    Effect.gen(function*() {
      const [silent, prompt] = [yield* receiver(() => 0), yield* receiver()]
      yield* consumerReady
      const wanted = yield* segmentOf(0)
      const hanging = yield* createDestination({ url: silent.url, segmentId: wanted.segmentId })
      const answering = yield* createDestination({ url: prompt.url, segmentId: wanted.segmentId })
      yield* joinNew(wanted)

      yield* eventually("the answering destination's delivery", readDestination(answering.id), (read) => read.status.delivered === 1)
      yield* eventually("the silent receiver's request", Effect.sync(() => silent.received.length), (count) => count === 1)
      const meanwhile = yield* readDestination(hanging.id)
      assert.strictEqual(meanwhile.status.pending, 1, "its attempt is still waiting for an answer")
      assert.strictEqual(meanwhile.status.consecutiveFailures, 0)

      const timedOut = yield* eventually("the timeout", readDestination(hanging.id), (read) => read.status.consecutiveFailures >= 1)
      assert.strictEqual(timedOut.status.lastError, "timeout")
      assert.isNull(timedOut.status.lastHttpStatus)
    }))

  it.effect("a disabled destination keeps its deliveries pending and gets them once enabled", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver()
      yield* consumerReady
      const wanted = yield* segmentOf(0)
      const destination = yield* createDestination({ url: hooks.url, segmentId: wanted.segmentId, enabled: false })
      yield* joinNew(wanted)
      yield* eventually("the delivery filed", readDestination(destination.id), (read) => read.status.pending === 1)
      yield* Effect.sleep("500 millis")
      assert.strictEqual(hooks.received.length, 0)

      const enabled = yield* call("PATCH", `${destinationsPath}/${destination.id}`, { body: { enabled: true } })
      assert.isTrue((yield* json<Destination>(enabled)).enabled)
      yield* eventually("the delivery", readDestination(destination.id), (read) => read.status.delivered === 1)
      assert.strictEqual(hooks.received.length, 1)
    }))

  it.effect("an unreachable destination's status names the connection error, with no HTTP status", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      yield* consumerReady
      const wanted = yield* segmentOf(0)
      const destination = yield* createDestination({ url: `http://127.0.0.1:${port}/nobody`, segmentId: wanted.segmentId })
      yield* joinNew(wanted)
      const status = (yield* eventually("a failed attempt", readDestination(destination.id), (read) => read.status.consecutiveFailures >= 1)).status
      assert.isNull(status.lastHttpStatus)
      assert.strictEqual(status.lastError, "ECONNREFUSED")
    }))

  it.effect("after a rotation notifications are signed by the new secret and, for the grace period, the old one", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver()
      yield* consumerReady
      const wanted = yield* segmentOf(0)
      const destination = yield* createDestination({ url: hooks.url, segmentId: wanted.segmentId })
      const forbidden = yield* call("POST", `${destinationsPath}/${destination.id}/rotate-secret`, { role: "agent" })
      yield* expectProblem(forbidden, 403, "/problems/forbidden")

      const response = yield* call("POST", `${destinationsPath}/${destination.id}/rotate-secret`, { role: "analyst" })
      assert.strictEqual(response.status, 200)
      const rotated = yield* json<RotatedSecret>(response)
      assert.notStrictEqual(rotated.secret, destination.secret)
      assert.isAbove(Date.parse(rotated.previousSecretExpiresAt), Date.now() + 23 * 3_600_000)

      yield* joinNew(wanted)
      const [request] = yield* eventually("the notification", Effect.sync(() => hooks.received), (got) => got.length > 0)
      assert.strictEqual(request.headers["webhook-signature"].split(" ").length, 2)
      new Webhook(rotated.secret).verify(request.body, request.headers)
      new Webhook(destination.secret).verify(request.body, request.headers)
      // The secrets are never listed.
      assert.notInclude(JSON.stringify(yield* readDestination(destination.id)), "whsec_")
    }))

  it.effect("a message JetStream delivers twice makes one delivery; fields the consumer does not know pass through", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver()
      yield* consumerReady
      const segment = yield* createSegment(manualSegment())
      const destination = yield* createDestination({ url: hooks.url, segmentId: segment.id })
      const twice = { ...membershipEvent(segment.id), reason: "realtime" }
      const marker = membershipEvent(segment.id)
      // Distinct Nats-Msg-Ids, so the stream keeps both copies: the consumer sees the event twice.
      yield* publishEvents([twice, twice, marker])
      const got = yield* eventually("both events", Effect.sync(() => hooks.received), (received) => received.length >= 2)
      yield* Effect.sleep("500 millis")
      const payloads = got.map((request) => new Webhook(destination.secret).verify(request.body, request.headers) as MembershipNotification)
      assert.deepStrictEqual(payloads.map((payload) => payload.eventId).sort(), [twice.eventId, marker.eventId].sort())
      assert.strictEqual(hooks.received.length, 2)
      assert.deepStrictEqual(JSON.parse(got.find((request) => request.body.includes(twice.eventId))!.body), twice)
      assert.strictEqual((yield* deliveryRows(destination.id)).length, 2)
    }))

  it.effect("two service processes on one database share the work: every event reaches the destination once", () =>
    Effect.gen(function*() {
      const { databaseUrl } = yield* TestService
      yield* runningService({
        DATABASE_URL: databaseUrl,
        NATS_URL: natsUrl,
        ACCESS_LOG: "false",
        DESTINATIONS_ALLOW_PRIVATE_NETWORKS: "true",
        DESTINATIONS_CONSUMER: durable,
        DESTINATION_POLL_SECONDS: "0.1"
      })
      const hooks = yield* receiver()
      yield* consumerReady
      const segment = yield* createSegment(manualSegment())
      const destination = yield* createDestination({ url: hooks.url, segmentId: segment.id })
      const events = Array.from({ length: 40 }, () => membershipEvent(segment.id))
      yield* publishEvents(events)

      yield* eventually("every delivery", readDestination(destination.id), (read) => read.status.delivered === 40)
      yield* Effect.sleep("300 millis")
      assert.strictEqual(hooks.received.length, 40)
      const sent = hooks.received.map((request) => (JSON.parse(request.body) as { readonly eventId: string }).eventId)
      assert.deepStrictEqual(sent.sort(), events.map((event) => event.eventId).sort())
    }), { timeout: 120_000 })

  it.effect("the same operations over typed RPC, changes refused to roles without segments:manage", () =>
    Effect.gen(function*() {
      const created = yield* withRpcClient((client) =>
        client.CreateDestination({ input: { name: `Rpc ${unique()}`, url: "http://127.0.0.1:9/hooks", enabled: false } }), "service")
      assert.match(created.secret, /^whsec_/)
      assert.isFalse(created.enabled)
      const read = yield* withRpcClient((client) => client.GetDestination({ id: created.id }), "agent")
      assert.strictEqual(read.url, "http://127.0.0.1:9/hooks")
      const updated = yield* withRpcClient((client) => client.UpdateDestination({ id: created.id, update: { name: "Renamed" } }), "admin")
      assert.strictEqual(updated.name, "Renamed")
      const page = yield* withRpcClient((client) => client.ListDestinations({ limit: 100 }), "analyst")
      assert.include(page.data.map((destination) => destination.id), created.id)
      const forbidden = yield* withRpcClient((client) => client.DeleteDestination({ id: created.id }), "agent").pipe(Effect.flip)
      assert.instanceOf(forbidden, Forbidden)
      yield* withRpcClient((client) => client.DeleteDestination({ id: created.id }), "admin")
      yield* expectProblem(yield* call("GET", `${destinationsPath}/${created.id}`), 404, "/problems/destination-not-found")
    }))

  it.effect("bad input is refused as a problem naming the field, and nothing is written", () =>
    Effect.gen(function*() {
      const listed = Effect.flatMap(call("GET", `${destinationsPath}?limit=100`), (response) => json<DestinationPage>(response))
      const before = (yield* listed).data.length
      const invalid = (body: unknown) => call("POST", destinationsPath, { body })
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ name: "x", url: "ftp://example.com/hooks" }, "payload.url"],
        [{ name: "x", url: "not a url" }, "payload.url"],
        [{ name: "", url: "https://example.com/hooks" }, "payload.name"],
        [{ name: "x", url: "https://example.com/hooks", segmentId: "nope" }, "payload.segmentId"],
        [{ name: "x", url: "https://example.com/hooks", secret: "mine" }, "payload.secret"]
      ]
      for (const [body, path] of cases) {
        const problem = yield* expectProblem(yield* invalid(body), 400, "/problems/invalid-request")
        assert.include(invalidPaths(problem), path, JSON.stringify(body))
      }
      const unknownSegment = yield* expectProblem(
        yield* invalid({ name: "x", url: "http://127.0.0.1:9/hooks", segmentId: uuidv7() }),
        422,
        "/problems/destination-segment-not-found"
      )
      assert.strictEqual(unknownSegment.field, "segmentId")
      const credentials = yield* expectProblem(
        yield* invalid({ name: "x", url: "https://user:secret@example.com/hooks" }),
        422,
        "/problems/invalid-destination-url"
      )
      assert.strictEqual(credentials.field, "url")
      const byAgent = yield* call("POST", destinationsPath, { body: { name: "x", url: "http://127.0.0.1:9/" }, role: "agent" })
      yield* expectProblem(byAgent, 403, "/problems/forbidden")
      const after = (yield* listed).data.length
      assert.strictEqual(after, before)
      yield* expectProblem(yield* call("GET", `${destinationsPath}/${uuidv7()}`), 404, "/problems/destination-not-found")
    }))
})

layer(testServiceWithDatabase({ nats: false }), { excludeTestServices: true })("destinations without private networks", (it) => {
  it.effect("URLs that reach loopback, private or link-local addresses are refused (SSRF), naming the field", () =>
    Effect.gen(function*() {
      for (
        const url of [
          "http://127.0.0.1:8080/hooks",
          "http://localhost/hooks",
          "http://[::1]/hooks",
          "http://[::ffff:127.0.0.1]/hooks",
          "http://169.254.169.254/latest/meta-data",
          "http://10.1.2.3/hooks",
          "http://192.168.0.10/hooks",
          "http://172.16.0.1/hooks",
          "http://0.0.0.0/hooks",
          "http://2130706433/hooks"
        ]
      ) {
        const problem = yield* expectProblem(
          yield* call("POST", destinationsPath, { body: { name: "ssrf", url } }),
          422,
          "/problems/invalid-destination-url"
        )
        assert.strictEqual(problem.field, "url", url)
      }
      const page = yield* json<{ readonly data: ReadonlyArray<unknown> }>(yield* call("GET", destinationsPath))
      assert.deepStrictEqual(page.data, [])
    }))
})
