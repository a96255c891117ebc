/**
 * Publishes outbox rows to JetStream, marking them only once JetStream has
 * acknowledged them. Nats-Msg-Id is the row's event id, so a row that is
 * republished after a crash or a timeout is deduplicated by the stream: every
 * change is delivered exactly once. (Not the serial id: two databases, or one
 * restored from a backup, would reuse those and have fresh events dropped as
 * duplicates.)
 *
 * Order: the events of one customer are published one after the other, in id
 * order, and a customer's chain stops at its first failed publish; only the
 * acknowledged prefix is marked, so the failed event and everything after it
 * are retried together, in order. Different customers publish concurrently,
 * and only one relay (of all the service's instances) publishes at a time.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Config, Data, Duration, Effect, Layer, Option, PubSub, Result } from "effect"
import type { JetStreamClient } from "@nats-io/jetstream"
import { cutoffBefore, describeFailure, logFailure, loggingFailures, repeatLoggingFailures } from "./BackgroundWork.ts"
import { Nats } from "./Nats.ts"
import { Outbox } from "./Outbox.ts"

interface OutboxRow {
  readonly id: string
  readonly event_id: string
  readonly subject: string
  readonly payload: unknown
}

class PublishFailed extends Data.TaggedError("PublishFailed")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

const batchSize = 256
/**
 * One relay at a time across every instance of the service on this database:
 * with two, one could publish a customer's later event while the other still
 * holds its earlier one. (An arbitrary constant, the key of a transaction-level advisory lock.)
 */
const relayLockKey = 7_301_001
const idlePoll = Duration.millis(500)
const encoder = new TextEncoder()

/** What an event is about, `customers.<id>` of `customers.<id>.updated`: its events keep their order. */
const orderingKey = (subject: string) => subject.slice(0, subject.lastIndexOf("."))

/** Rows (in id order) grouped by ordering key, each group still in id order. */
const chainsOf = (rows: ReadonlyArray<OutboxRow>): Array<Array<OutboxRow>> => {
  const chains = new Map<string, Array<OutboxRow>>()
  for (const row of rows) {
    const key = orderingKey(row.subject)
    const chain = chains.get(key)
    if (chain === undefined) chains.set(key, [row])
    else chain.push(row)
  }
  return [...chains.values()]
}

const publish = (js: JetStreamClient, row: OutboxRow) =>
  Effect.tryPromise({
    try: () => js.publish(row.subject, encoder.encode(JSON.stringify(row.payload)), { msgID: row.event_id, timeout: 5_000 }),
    // The driver's message names the stream and the limit, never the payload.
    catch: (cause) => new PublishFailed({ reason: describeFailure(cause) })
  })

/** Publishes one chain in order, stopping at its first failure: the ids acknowledged, and that failure. */
const publishChain = (js: JetStreamClient, chain: ReadonlyArray<OutboxRow>) =>
  Effect.gen(function*() {
    const acknowledged: Array<string> = []
    for (const row of chain) {
      const published = yield* Effect.result(publish(js, row))
      if (Result.isFailure(published)) return { acknowledged, failure: Option.some(published.failure) }
      acknowledged.push(row.id)
    }
    return { acknowledged, failure: Option.none<PublishFailed>() }
  })

/** Deletes published rows older than `retention`, by Effect's Clock. */
export const pruneOutbox = Effect.fn("OutboxRelay.prune")(function*(retention: Duration.Duration) {
  const sql = yield* PgClient.PgClient
  yield* sql`DELETE FROM outbox WHERE published_at < ${yield* cutoffBefore(retention)}`
})

export const OutboxRelayLive = Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const nats = yield* Nats
  const outbox = yield* Outbox
  const retentionHours = yield* Config.Int("OUTBOX_RETENTION_HOURS").pipe(Config.withDefault(24))
  const wakeUps = yield* PubSub.subscribe(outbox.wakeUps)

  /**
   * One batch in one transaction: rows stay locked (and unmarked) until their
   * acks are in. A failed publish does not roll the batch back: the acknowledged
   * rows are marked and the failure is returned, to be retried after a pause.
   */
  const relayBatch = sql.withTransaction(Effect.gen(function*() {
    const js = yield* nats.jetstream
    if (Option.isNone(js)) return { fetched: 0, failure: Option.none<PublishFailed>() }
    const [{ locked }] = yield* sql<{ readonly locked: boolean }>`SELECT pg_try_advisory_xact_lock(${relayLockKey}) AS locked`
    if (!locked) return { fetched: 0, failure: Option.none<PublishFailed>() }
    const rows = yield* sql<OutboxRow>`SELECT id::text AS id, event_id, subject, payload FROM outbox
      WHERE published_at IS NULL ORDER BY outbox.id LIMIT ${batchSize} FOR UPDATE SKIP LOCKED`
    if (rows.length === 0) return { fetched: 0, failure: Option.none<PublishFailed>() }
    const chains = yield* Effect.forEach(chainsOf(rows), (chain) => publishChain(js.value, chain), {
      concurrency: "unbounded"
    })
    const acknowledged = chains.flatMap((chain) => chain.acknowledged)
    if (acknowledged.length > 0) {
      const now = new Date(yield* Clock.currentTimeMillis)
      yield* sql`UPDATE outbox SET published_at = ${now} WHERE id = ANY(${acknowledged}::bigint[])`
    }
    const failure = chains.map((chain) => chain.failure).find(Option.isSome) ?? Option.none<PublishFailed>()
    return { fetched: rows.length, failure }
  }))

  const waitForWork = PubSub.take(wakeUps).pipe(Effect.timeoutOption(idlePoll), Effect.asVoid)
  const pause = Effect.sleep("1 second")

  const relay = relayBatch.pipe(
    Effect.flatMap(({ failure, fetched }) =>
      Option.isSome(failure)
        ? Effect.andThen(logFailure("outbox: publish failed, will retry", failure.value), pause)
        : fetched < batchSize
        ? waitForWork
        : Effect.void
    ),
    // The database or the connection failed the whole batch: nothing was marked, all of it is retried.
    loggingFailures("outbox: relay failed, will retry", pause),
    Effect.forever
  )

  yield* Effect.forkScoped(relay)
  yield* Effect.forkScoped(
    repeatLoggingFailures("outbox: prune failed", "10 minutes", pruneOutbox(Duration.hours(retentionHours)))
  )
}))
