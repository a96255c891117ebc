/**
 * Publishes tracked events to the JetStream stream EVENTS (`events.<type>`),
 * draining event_batches: each committed batch whose published_at is unset
 * has its events read back from customer_events and published, one message
 * per event, and the batch is marked only once JetStream has acknowledged
 * every one. Nats-Msg-Id is `<event id>@<occurredAt>` (an event's identity,
 * as in the table), so what a crash or a timeout makes us publish again is
 * dropped by the stream within its duplicate window: each event reaches the
 * stream once.
 *
 * Order: a customer's events are published one after the other, by batch and
 * then by time occurred, and a customer's chain stops at its first failed
 * publish; different customers publish concurrently. A batch with any event
 * unacknowledged stays unmarked and is retried whole (what was acknowledged is
 * deduplicated). One publisher at a time across instances (an advisory lock).
 */
import { PgClient } from "@effect/sql-pg"
import type { JetStreamClient } from "@nats-io/jetstream"
import { Clock, Config, Data, Duration, Effect, Layer, Option, Result, Schema } from "effect"
import { eventsStreamName, TrackedEvent, trackedEventSubject } from "../domain/Event.ts"
import { describeFailure, logFailure, loggingFailures } from "../platform/BackgroundWork.ts"
import { Nats } from "../platform/Nats.ts"
import { type EventRow, toTrackedEvent, trackedEventColumns } from "./EventTimeline.ts"

class PublishFailed extends Data.TaggedError("PublishFailed")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** The advisory lock key of the one publisher (arbitrary; the outbox relay's is 7_301_001). */
const publisherLockKey = 7_301_014
const encoder = new TextEncoder()
const encodeEvent = Schema.encodeSync(TrackedEvent, { disableChecks: true })

/** The message id of an event: its id and time, the table's key (a client may reuse an id at another time). */
export const eventMessageId = (event: { readonly id: string; readonly occurredAt: string }) =>
  `${event.id}@${event.occurredAt}`

interface Chain {
  readonly events: ReadonlyArray<{ readonly batch: string; readonly event: TrackedEvent }>
}

const publishOne = (js: JetStreamClient, event: TrackedEvent) =>
  Effect.tryPromise({
    try: () =>
      js.publish(trackedEventSubject(event.type), encoder.encode(JSON.stringify(encodeEvent(event))), {
        msgID: eventMessageId(event),
        timeout: 5_000
      }),
    catch: (cause) => new PublishFailed({ reason: describeFailure(cause) })
  })

/** A chain in order, stopping at its first failure: the batches it left incomplete, and the failure. */
const publishChain = (js: JetStreamClient, chain: Chain) =>
  Effect.gen(function*() {
    for (const [index, { event }] of chain.events.entries()) {
      const published = yield* Effect.result(publishOne(js, event))
      if (Result.isFailure(published)) {
        return Option.some({ incomplete: new Set(chain.events.slice(index).map((entry) => entry.batch)), failure: published.failure })
      }
    }
    return Option.none()
  })

export const EventPublisherLive = Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const nats = yield* Nats
  const batchesPerPass = yield* Config.Int("EVENTS_PUBLISH_BATCHES").pipe(Config.withDefault(16))
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
  const columns = sql.literal(trackedEventColumns)

  /** One pass: the oldest unpublished batches, in one transaction holding the publisher's lock. */
  const pass = sql.withTransaction(Effect.gen(function*() {
    const js = yield* nats.jetstream
    if (Option.isNone(js)) return { batches: 0, failure: Option.none<PublishFailed>() }
    const [{ locked }] = yield* sql<{ readonly locked: boolean }>`SELECT pg_try_advisory_xact_lock(${publisherLockKey}) AS locked`
    if (!locked) return { batches: 0, failure: Option.none<PublishFailed>() }
    const batches = yield* sql<{ readonly id: string }>`SELECT id::text AS id FROM event_batches
      WHERE published_at IS NULL ORDER BY id LIMIT ${batchesPerPass}`
    if (batches.length === 0) return { batches: 0, failure: Option.none<PublishFailed>() }
    const ids = batches.map((batch) => batch.id)
    // Partition pruning per key: each (id, occurred_at) is one primary-key probe in its month.
    const rows = yield* sql<EventRow & { readonly batch: string }>`SELECT k.batch::text AS batch, ${columns}
      FROM (SELECT b.id AS batch, u.id, u.occurred_at FROM event_batches b,
              unnest(b.event_ids, b.occurred) AS u(id, occurred_at) WHERE b.id = ANY(${ids}::bigint[])) k
      JOIN customer_events e ON e.id = k.id AND e.occurred_at = k.occurred_at
      ORDER BY e.customer_id, k.batch, e.occurred_at, e.id`
    const chains: Array<{ events: Array<Chain["events"][number]> }> = []
    let current: string | undefined
    for (const row of rows) {
      if (row.customer_id !== current) {
        chains.push({ events: [] })
        current = row.customer_id
      }
      chains[chains.length - 1].events.push({ batch: row.batch, event: toTrackedEvent(row) })
    }
    const outcomes = yield* Effect.forEach(chains, (chain) => publishChain(js.value, chain), { concurrency: "unbounded" })
    const incomplete = new Set<string>()
    let failure = Option.none<PublishFailed>()
    for (const outcome of outcomes) {
      if (Option.isNone(outcome)) continue
      for (const batch of outcome.value.incomplete) incomplete.add(batch)
      failure = Option.some(outcome.value.failure)
    }
    const done = ids.filter((id) => !incomplete.has(id))
    if (done.length > 0) {
      const now = new Date(yield* Clock.currentTimeMillis)
      yield* sql`UPDATE event_batches SET published_at = ${now} WHERE id = ANY(${done}::bigint[])`
    }
    return { batches: batches.length, failure }
  }))

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
