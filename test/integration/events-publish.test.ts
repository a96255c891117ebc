/**
 * Tracked events reach the JetStream stream EVENTS on `events.<type>`, one
 * message per batch and type (here cut into chunks of 2 events): each event
 * once, a customer's in order; and a
 * batch published again after a crash (committed, published, not yet marked)
 * is deduplicated by the stream (Nats-Msg-Id). Each test tracks a type of its
 * own: the NATS server is shared.
 */
import { PgClient } from "@effect/sql-pg"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import { type BatchResult, TrackedEvents } from "../../src/domain/Event.ts"
import { eventMessageId } from "../../src/events/EventPublisher.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer } from "../support/Http.ts"
import { natsConnection } from "../support/Nats.ts"
import { json, natsUrl } from "../support/TestService.ts"

// Every message must be one the published schema (and so the AsyncAPI document) describes.
const decodeMessage = Schema.decodeUnknownSync(TrackedEvents, { onExcessProperty: "error" })

const uniqueType = () => `test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`

interface Delivered {
  readonly msgId: string | undefined
  readonly message: TrackedEvents
}

/** Everything EVENTS holds on `subject`, in stream order, and the stream's own count of it. */
const readEvents = (nc: NatsConnection, subject: string) =>
  Effect.promise(async () => {
    const info = await (await jetstreamManager(nc)).streams.info("EVENTS", { subjects_filter: subject })
    const stored = Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0)
    const consumer = await jetstream(nc).consumers.get("EVENTS", { filter_subjects: subject })
    const delivered: Array<Delivered> = []
    while (delivered.length < stored) {
      const message = await consumer.next({ expires: 2_000 })
      if (message === null) break
      delivered.push({ msgId: message.headers?.get("Nats-Msg-Id"), message: decodeMessage(message.json()) })
      if (message.info.pending === 0) break
    }
    return { stored, delivered, events: delivered.flatMap(({ message }) => message.events) }
  })

const trackBatch = (events: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const response = yield* call("POST", "/api/v1/events/batch", { body: { events } })
    assert.strictEqual(response.status, 200)
    return yield* json<BatchResult>(response)
  })

/** Waits until every batch holding these events is marked published. */
const published = (ids: ReadonlyArray<string>) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly waiting: number }>`SELECT count(*)::int AS waiting FROM event_batches
      WHERE published_at IS NULL AND event_ids && ${ids}::uuid[]`).pipe(
      Effect.orDie,
      Effect.flatMap(([{ waiting }]) => waiting === 0 ? Effect.void : Effect.fail("waiting" as const)),
      Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 150 }),
      Effect.orDie
    )

layer(testServiceWithDatabase({ env: { EVENTS_PUBLISH_CHUNK: "2", EVENTS_PUBLISH_GRACE: "1 second" } }), { excludeTestServices: true })("publishing tracked events to JetStream", (it) => {
  it.effect("a batch's events of one type reach events.<type> once, in chunks named by their first event", () =>
    Effect.gen(function*() {
      const nc = yield* natsConnection(natsUrl)
      const type = uniqueType()
      const [ada, grace] = [yield* createCustomer(), yield* createCustomer()]
      const events = [ada, grace, ada].map((customer, n) => ({
        customerId: customer.id,
        id: crypto.randomUUID(),
        type,
        occurredAt: `2026-07-0${n + 1}T00:00:00.000Z`,
        properties: { n }
      }))
      const result = yield* trackBatch(events)
      assert.strictEqual(result.stored, 3)
      // A retry stores nothing new and publishes nothing new.
      yield* trackBatch(events)
      yield* published(events.map((event) => event.id))
      const { stored, delivered, events: received } = yield* readEvents(nc, `events.${type}`)
      assert.strictEqual(stored, 2)
      assert.deepStrictEqual(delivered.map(({ msgId, message }) => [msgId, message.type]), [
        [eventMessageId(events[0]), type],
        [eventMessageId(events[2]), type]
      ])
      assert.deepStrictEqual(received.map((event): string => event.id), events.map((event) => event.id))
      assert.deepInclude(received[0], { customerId: ada.id, type, occurredAt: events[0].occurredAt, properties: { n: 0 } })
    }))

  it.effect("a customer's events arrive batch after batch, each batch's in the order they occurred", () =>
    Effect.gen(function*() {
      const nc = yield* natsConnection(natsUrl)
      const type = uniqueType()
      const customer = yield* createCustomer()
      const at = (day: number) => new Date(Date.UTC(2026, 7, day)).toISOString()
      // Sent out of order within the first batch; the second batch, committed after it, follows it whatever its times.
      const first = [3, 1, 2].map((day) => ({ customerId: customer.id, id: crypto.randomUUID(), type, occurredAt: at(day) }))
      yield* trackBatch(first)
      const second = [5, 0].map((day) => ({ customerId: customer.id, id: crypto.randomUUID(), type, occurredAt: at(day) }))
      yield* trackBatch(second)
      yield* published([...first, ...second].map((event) => event.id))
      const { events: received } = yield* readEvents(nc, `events.${type}`)
      assert.deepStrictEqual(received.map((event) => event.occurredAt), [at(1), at(2), at(3), at(0), at(5)])
    }))

  it.effect("a batch published again after a crash (published, not marked) is deduplicated by the stream", () =>
    Effect.gen(function*() {
      const nc = yield* natsConnection(natsUrl)
      const sql = yield* PgClient.PgClient
      const type = uniqueType()
      const customer = yield* createCustomer()
      const events = [1, 2, 3].map((n) => ({ customerId: customer.id, id: crypto.randomUUID(), type, occurredAt: `2026-09-0${n}T00:00:00.000Z` }))
      yield* trackBatch(events)
      const ids = events.map((event) => event.id)
      yield* published(ids)
      assert.strictEqual((yield* readEvents(nc, `events.${type}`)).stored, 2)
      // What a crash between JetStream's acks and the mark leaves: the batch again, unpublished (already folded).
      yield* sql`INSERT INTO event_batches (committed_at, event_ids, occurred, folded_at)
        SELECT committed_at, event_ids, occurred, now() FROM event_batches WHERE event_ids && ${ids}::uuid[]`.pipe(Effect.orDie)
      yield* published(ids)
      const { stored, events: received } = yield* readEvents(nc, `events.${type}`)
      assert.strictEqual(stored, 2)
      assert.deepStrictEqual(received.map((event): string => event.id), ids)
    }))
})

