/**
 * Publishes tracked events to the JetStream stream EVENTS (`events.<type>`),
 * draining event_batches: each committed batch is published, and marked
 * (published_at) only once JetStream has acknowledged all of its events.
 *
 * Two ways, one result. From memory: EventStore hands over each batch it
 * committed, with its events as stored, and they are published as they come,
 * without reading them back (reading them back cost the database half as much
 * time as storing them, at 1,000,000 events a minute). From the
 * table: at start, after a failed publish, when a handed-over batch is missing
 * (a slow publisher, whose oldest batches EventStore dropped) or when a sweep
 * finds a batch left unpublished for EVENTS_PUBLISH_GRACE (another process
 * that stopped, a crash), the unpublished batches are read back and published
 * in commit order until none is left; then memory again.
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
 * the first failed publish sends the publisher back to the table, drained in
 * commit order before memory again, so nothing is published after an
 * unacknowledged message; within a message events are in the order they
 * occurred. A customer's events are thus in order on every subject. The table
 * is drained by one process at a time (an advisory lock), and no process
 * publishes from memory while another drains it.
 */
import { PgClient } from "@effect/sql-pg"
import type { JetStreamClient } from "@nats-io/jetstream"
import { Clock, Config, Data, Duration, Effect, Layer, Option, PubSub, Result } from "effect"
import { eventsStreamName, trackedEventSubject } from "../domain/Event.ts"
import { cutoffBefore, describeFailure, logFailure, loggingFailures, repeatLoggingFailures } from "../platform/BackgroundWork.ts"
import { Nats } from "../platform/Nats.ts"
import { type CommittedBatch, EventStore } from "./EventStore.ts"
import { millisecondsText } from "./EventTimeline.ts"

class PublishFailed extends Data.TaggedError("PublishFailed")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** The advisory lock key of the one publisher (arbitrary; the outbox relay's is 7_301_001). */
const publisherLockKey = 7_301_014
const encoder = new TextEncoder()

/** What a pass over the table came to: nothing left, more left, or another process holding the table. */
type PassOutcome = "drained" | "more" | "elsewhere"
const passed = (outcome: PassOutcome, failure = Option.none<PublishFailed>()) => ({ outcome, failure })

/** An event's identity as a message id: its id and time, the table's key (a client may reuse an id at another time). */
export const eventMessageId = (event: { readonly id: string; readonly occurredAt: string }) =>
  `${event.id}@${event.occurredAt}`

/** A message as PostgreSQL builds it: its batch, type, first event and events (a JSON array of TrackedEvent). */
export interface MessageRow {
  readonly batch: string
  readonly type: string
  readonly first_id: string
  readonly first_occurred_at: string
  readonly events: string
}

/**
 * A committed batch's messages built in memory as the database builds them from the table: per type, events
 * oldest first (then by id, as PostgreSQL orders uuids), cut into chunks of `chunk`; so each message has the
 * Nats-Msg-Id it gets either way, and the stream drops the one published second.
 */
export const messagesOfBatch = (batch: CommittedBatch, chunk: number): ReadonlyArray<MessageRow> => {
  const byType = new Map<string, Array<{ readonly id: string; readonly occurredAt: string; readonly json: string }>>()
  for (const event of batch.events) {
    // PostgreSQL's text of a uuid is lower case, whatever case the client sent.
    const id = event.id.toLowerCase()
    const json = JSON.stringify({
      id,
      customerId: event.customerId.toLowerCase(),
      type: event.type,
      occurredAt: event.occurredAt,
      receivedAt: batch.receivedAt,
      sessionId: event.sessionId,
      channel: event.channel,
      device: event.device,
      properties: event.properties ?? {},
      revenue: event.revenue,
      currency: event.currency
    })
    const events = byType.get(event.type)
    if (events === undefined) byType.set(event.type, [{ id, occurredAt: event.occurredAt, json }])
    else events.push({ id, occurredAt: event.occurredAt, json })
  }
  const messages: Array<MessageRow> = []
  for (const [type, unsorted] of [...byType.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
    const events = unsorted.sort((a, b) =>
      a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0
    )
    for (let start = 0; start < events.length; start += chunk) {
      const part = events.slice(start, start + chunk)
      messages.push({
        batch: batch.id,
        type,
        first_id: part[0].id,
        first_occurred_at: part[0].occurredAt,
        events: `[${part.map((event) => event.json).join(",")}]`
      })
    }
  }
  return messages
}

/** The batches' messages as PostgreSQL builds them from the table (after a crash, or when memory fell behind). */
export const messagesFromTable = (sql: PgClient.PgClient, ids: ReadonlyArray<string>, chunk: number) =>
  // Each (id, occurred_at) is one primary-key probe in its month's partition. The messages' JSON is built
  // here, in C: decoding rows into objects and encoding them again cost the ingest a third of its rate.
  sql<MessageRow>`WITH keys AS (
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
  const store = yield* EventStore
  const batchesPerPass = yield* Config.Int("EVENTS_PUBLISH_BATCHES").pipe(Config.withDefault(16))
  const chunk = yield* Config.Int("EVENTS_PUBLISH_CHUNK").pipe(Config.withDefault(500))
  const duplicateWindow = yield* Config.Duration("EVENTS_DUPLICATE_WINDOW").pipe(Config.withDefault(Duration.minutes(10)))
  const maxAge = yield* Config.Duration("EVENTS_STREAM_MAX_AGE").pipe(Config.withDefault(Duration.days(7)))
  const sweepInterval = yield* Config.Duration("EVENTS_PUBLISH_SWEEP").pipe(Config.withDefault(Duration.seconds(1)))
  const grace = yield* Config.Duration("EVENTS_PUBLISH_GRACE").pipe(Config.withDefault(Duration.seconds(5)))
  const markInterval = yield* Config.Duration("EVENTS_PUBLISH_MARK").pipe(Config.withDefault(Duration.millis(200)))
  // How often the table is looked at while NATS is away or another process drains it.
  const awayPoll = Duration.millis(100)
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
    // Another process is draining the table: publishing from memory beside it could overtake its batches.
    if (!locked) return passed("elsewhere")
    const batches = yield* sql<{ readonly id: string }>`SELECT id::text AS id FROM event_batches
      WHERE published_at IS NULL ORDER BY id LIMIT ${batchesPerPass}`
    if (batches.length === 0) return passed("drained")
    const ids = batches.map((batch) => batch.id)
    const messages = yield* messagesFromTable(sql, ids, chunk)
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
    return passed(batches.length < batchesPerPass ? "drained" : "more", failure)
  }))

  // Neither a transaction nor a lock when nothing waits.
  const pass = (js: JetStreamClient) =>
    Effect.gen(function*() {
      const [{ waiting }] = yield* sql<{ readonly waiting: boolean }>`SELECT EXISTS (
        SELECT 1 FROM event_batches WHERE published_at IS NULL) AS waiting`
      return waiting ? yield* publishBatches(js) : passed("drained")
    })

  // Batches published from memory and not yet marked: marked together, off the publishing path. A row a fold
  // holds is left for the next round rather than waited for: this statement shares its connection with others
  // (pipelined), and a wait here would hold the ingest's statements behind it.
  const unmarked = new Set<string>()
  const mark = Effect.gen(function*() {
    if (unmarked.size === 0) return
    const now = new Date(yield* Clock.currentTimeMillis)
    const marked = yield* sql<{ readonly id: string }>`UPDATE event_batches SET published_at = ${now} WHERE id IN (
        SELECT id FROM event_batches WHERE id = ANY(${[...unmarked]}::bigint[]) FOR NO KEY UPDATE SKIP LOCKED)
      RETURNING id::text AS id`
    for (const { id } of marked) unmarked.delete(id)
  })

  /** Whether a batch has waited unpublished longer than the grace, and is not one of ours awaiting its mark. */
  const forgotten = Effect.gen(function*() {
    const [{ some }] = yield* sql<{ readonly some: boolean }>`SELECT EXISTS (
      SELECT 1 FROM event_batches WHERE published_at IS NULL AND committed_at < ${yield* cutoffBefore(grace)}
        AND NOT (id = ANY(${[...unmarked]}::bigint[]))) AS some`
    return some
  })

  const committed = yield* PubSub.subscribe(store.committedBatches)
  // From the table first: what an earlier run left, then memory.
  let fromMemory = false
  // The seq of the last committed batch the publisher has dealt with (published, or left to the table).
  let handled = 0
  let lastSweep = 0

  /** From the table, until nothing waits; then from memory, from the batch after the last this pass could see. */
  const fromTable = Effect.gen(function*() {
    const js = yield* nats.jetstream
    if (Option.isNone(js)) return yield* Effect.sleep(awayPoll)
    const seen = yield* store.lastCommittedSeq
    const { outcome, failure } = yield* pass(js.value)
    if (Option.isSome(failure)) {
      yield* logFailure("events: publish failed, will retry", failure.value)
      return yield* Effect.sleep("1 second")
    }
    if (outcome === "more") return
    if (outcome === "elsewhere") return yield* Effect.sleep(awayPoll)
    fromMemory = true
    handled = Math.max(handled, seen)
    lastSweep = yield* Clock.currentTimeMillis
  })

  const publishFromMemory = Effect.gen(function*() {
    const next = yield* PubSub.take(committed).pipe(Effect.timeoutOption(sweepInterval))
    const now = yield* Clock.currentTimeMillis
    if (Option.isNone(next) || now - lastSweep >= Duration.toMillis(sweepInterval)) {
      lastSweep = now
      if (yield* forgotten) {
        fromMemory = false
        return
      }
    }
    if (Option.isNone(next) || next.value.seq <= handled) return
    const batch = next.value
    const js = yield* nats.jetstream
    // A gap (batches dropped while this one fell behind) or NATS away: the table has them all, in order.
    if (batch.seq !== handled + 1 || Option.isNone(js)) {
      fromMemory = false
      return
    }
    for (const message of messagesOfBatch(batch, chunk)) {
      const published = yield* Effect.result(publish(js.value, message))
      if (Result.isFailure(published)) {
        fromMemory = false
        yield* logFailure("events: publish failed, will retry", published.failure)
        return yield* Effect.sleep("1 second")
      }
    }
    handled = batch.seq
    unmarked.add(batch.id)
  })

  const publisher = Effect.suspend(() => fromMemory ? publishFromMemory : fromTable).pipe(
    // The database or the connection failed: nothing was marked, and the table has all of it.
    loggingFailures("events: publisher failed, will retry", Effect.sync(() => {
      fromMemory = false
    }).pipe(Effect.andThen(Effect.sleep("1 second")))),
    Effect.forever
  )
  yield* Effect.forkScoped(publisher)
  yield* Effect.forkScoped(repeatLoggingFailures("events: marking published batches failed", markInterval, mark))
  // What was published and not yet marked is marked on the way out (else it is published again, and dropped).
  yield* Effect.addFinalizer(() => mark.pipe(Effect.exit, Effect.asVoid))
}))
