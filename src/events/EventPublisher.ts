/**
 * Publishes tracked events to the JetStream stream EVENTS (`events.<type>`),
 * draining event_batches: each committed batch whose published_at is unset
 * has its events read back from customer_events and published, and is marked
 * only once JetStream has acknowledged all of them.
 *
 * One message per (batch, type), cut into chunks of at most
 * EVENTS_PUBLISH_CHUNK events (NATS caps a message at 1 MB): one message per
 * event halved the ingest rate on a 2-core machine (docs/events-nats.md).
 * Nats-Msg-Id is the first event's `<id>@<occurredAt>` (an event's identity,
 * as in the table; an event is in one batch only), and a batch's chunks come
 * out the same each time, so a message published again after a crash or a
 * timeout is dropped by the stream within its duplicate window: each event
 * reaches the stream once.
 *
 * Order: messages go one at a time, batch after batch (in commit order), and
 * a pass stops at its first failed publish, so nothing is published after an
 * unacknowledged message; within a message events are in the order they
 * occurred. A customer's events are thus in order on every subject. One
 * publisher at a time across instances (an advisory lock).
 */
import { PgClient } from "@effect/sql-pg"
import type { JetStreamClient } from "@nats-io/jetstream"
import { Clock, Config, Data, Duration, Effect, Layer, Option, Result } from "effect"
import { eventsStreamName, trackedEventSubject } from "../domain/Event.ts"
import { describeFailure, logFailure, loggingFailures } from "../platform/BackgroundWork.ts"
import { Nats } from "../platform/Nats.ts"
import { millisecondsText } from "./EventTimeline.ts"

class PublishFailed extends Data.TaggedError("PublishFailed")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** The advisory lock key of the one publisher (arbitrary; the outbox relay's is 7_301_001). */
const publisherLockKey = 7_301_014
const encoder = new TextEncoder()

/** An event's identity as a message id: its id and time, the table's key (a client may reuse an id at another time). */
export const eventMessageId = (event: { readonly id: string; readonly occurredAt: string }) =>
  `${event.id}@${event.occurredAt}`

/** A message as PostgreSQL builds it: its batch, type, first event and events (a JSON array of TrackedEvent). */
interface MessageRow {
  readonly batch: string
  readonly type: string
  readonly first_id: string
  readonly first_occurred_at: string
  readonly events: string
}

const publish = (js: JetStreamClient, message: MessageRow) =>
  Effect.tryPromise({
    try: () =>
      js.publish(
        trackedEventSubject(message.type),
        // TrackedEvents: the type is a checked snake_case name, the events JSON from PostgreSQL as it is.
        encoder.encode(`{"type":"${message.type}","events":${message.events}}`),
        { msgID: eventMessageId({ id: message.first_id, occurredAt: message.first_occurred_at }), timeout: 5_000 }
      ),
    // The driver's message names the stream and the limit, never the payload.
    catch: (cause) => new PublishFailed({ reason: describeFailure(cause) })
  })

export const EventPublisherLive = Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const nats = yield* Nats
  const batchesPerPass = yield* Config.Int("EVENTS_PUBLISH_BATCHES").pipe(Config.withDefault(16))
  const chunk = yield* Config.Int("EVENTS_PUBLISH_CHUNK").pipe(Config.withDefault(500))
  const duplicateWindow = yield* Config.Duration("EVENTS_DUPLICATE_WINDOW").pipe(Config.withDefault(Duration.minutes(10)))
  const maxAge = yield* Config.Duration("EVENTS_STREAM_MAX_AGE").pipe(Config.withDefault(Duration.days(7)))
  const idle = yield* Config.Duration("EVENTS_PUBLISH_IDLE").pipe(Config.withDefault(Duration.millis(100)))
  yield* nats.ensureStream({
    name: eventsStreamName,
    // One token per type: `ingest.events`, the tracking door, lives outside the stream's subjects.
    subjects: [trackedEventSubject("*")],
    duplicateWindowMillis: Duration.toMillis(duplicateWindow),
    maxAgeMillis: Duration.toMillis(maxAge)
  })

  /** The oldest unpublished batches, in one transaction holding the publisher's lock. */
  const publishBatches = (js: JetStreamClient) => sql.withTransaction(Effect.gen(function*() {
    const [{ locked }] = yield* sql<{ readonly locked: boolean }>`SELECT pg_try_advisory_xact_lock(${publisherLockKey}) AS locked`
    if (!locked) return { batches: 0, failure: Option.none<PublishFailed>() }
    const batches = yield* sql<{ readonly id: string }>`SELECT id::text AS id FROM event_batches
      WHERE published_at IS NULL ORDER BY id LIMIT ${batchesPerPass}`
    if (batches.length === 0) return { batches: 0, failure: Option.none<PublishFailed>() }
    const ids = batches.map((batch) => batch.id)
    // Each (id, occurred_at) is one primary-key probe in its month's partition. The messages' JSON is built
    // here, in C: decoding rows into objects and encoding them again cost the ingest a third of its rate.
    const messages = yield* sql<MessageRow>`WITH keys AS (
        SELECT b.id AS batch, u.id, u.occurred_at FROM event_batches b,
          unnest(b.event_ids, b.occurred) AS u(id, occurred_at) WHERE b.id = ANY(${ids}::bigint[])
      ),
      events AS (
        SELECT keys.batch, e.*,
          (row_number() OVER (PARTITION BY keys.batch, e.type ORDER BY e.occurred_at, e.id) - 1) / ${chunk} AS chunk
        FROM keys JOIN customer_events e ON e.id = keys.id AND e.occurred_at = keys.occurred_at
      )
      SELECT batch::text AS batch, type,
        (array_agg(id ORDER BY occurred_at, id))[1]::text AS first_id,
        ${sql.literal(millisecondsText("(array_agg(occurred_at ORDER BY occurred_at, id))[1]"))} AS first_occurred_at,
        json_agg(json_build_object(
          'id', id, 'customerId', customer_id, 'type', type,
          'occurredAt', ${sql.literal(millisecondsText("occurred_at"))},
          'receivedAt', ${sql.literal(millisecondsText("received_at"))},
          'sessionId', session_id, 'channel', channel, 'device', device, 'properties', properties,
          'revenue', revenue::float8, 'currency', currency
        ) ORDER BY occurred_at, id)::text AS events
      FROM events GROUP BY batch, type, chunk ORDER BY batch, type, chunk`
    let failure = Option.none<PublishFailed>()
    let failedBatch: string | undefined
    for (const message of messages) {
      const published = yield* Effect.result(publish(js, message))
      if (Result.isFailure(published)) {
        failure = Option.some(published.failure)
        failedBatch = message.batch
        break
      }
    }
    // Batches before the failed one are wholly acknowledged (a batch whose events are all gone has no message).
    const done = failedBatch === undefined ? ids : ids.filter((id) => BigInt(id) < BigInt(failedBatch))
    if (done.length > 0) {
      const now = new Date(yield* Clock.currentTimeMillis)
      yield* sql`UPDATE event_batches SET published_at = ${now} WHERE id = ANY(${done}::bigint[])`
    }
    return { batches: batches.length, failure }
  }))

  const nothing = { batches: 0, failure: Option.none<PublishFailed>() }

  // Neither a transaction nor a lock while NATS is away or nothing waits: the publisher polls often.
  const pass = Effect.gen(function*() {
    const js = yield* nats.jetstream
    if (Option.isNone(js)) return nothing
    const [{ waiting }] = yield* sql<{ readonly waiting: boolean }>`SELECT EXISTS (
      SELECT 1 FROM event_batches WHERE published_at IS NULL) AS waiting`
    return waiting ? yield* publishBatches(js.value) : nothing
  })

  const publisher = pass.pipe(
    Effect.flatMap(({ batches, failure }) =>
      Option.isSome(failure)
        ? Effect.andThen(logFailure("events: publish failed, will retry", failure.value), Effect.sleep("1 second"))
        : batches < batchesPerPass
        ? Effect.sleep(idle)
        : Effect.void
    ),
    // The database or the connection failed the pass: nothing was marked, all of it is retried.
    loggingFailures("events: publisher failed, will retry", Effect.sleep("1 second")),
    Effect.forever
  )
  yield* Effect.forkScoped(publisher)
}))
