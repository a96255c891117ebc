/**
 * Publishes outbox rows to JetStream in id order, marking them only once
 * JetStream has acknowledged them. Nats-Msg-Id is the row's event id, so a
 * batch that is republished after a crash or a timeout is deduplicated by the
 * stream: every change is delivered exactly once. (Not the serial id: two
 * databases, or one restored from a backup, would reuse those and have fresh
 * events dropped as duplicates.)
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Data, Duration, Effect, Layer, Option, PubSub, Schedule } from "effect"
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
const idlePoll = Duration.millis(500)

export const OutboxRelayLive = Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const nats = yield* Nats
  const outbox = yield* Outbox
  const retentionHours = yield* Config.Int("OUTBOX_RETENTION_HOURS").pipe(Config.withDefault(24))
  const wakeUps = yield* PubSub.subscribe(outbox.wakeUps)

  const encoder = new TextEncoder()

  /** One batch in one transaction: rows stay locked (and unmarked) until every ack is in. */
  const relayBatch = sql.withTransaction(Effect.gen(function*() {
    const js = yield* nats.jetstream
    if (Option.isNone(js)) return 0
    const rows = yield* sql<OutboxRow>`SELECT id::text AS id, event_id, subject, payload FROM outbox
      WHERE published_at IS NULL ORDER BY outbox.id LIMIT ${batchSize} FOR UPDATE SKIP LOCKED`
    if (rows.length === 0) return 0
    yield* Effect.tryPromise({
      try: () =>
        Promise.all(rows.map((row) =>
          js.value.publish(row.subject, encoder.encode(JSON.stringify(row.payload)), {
            msgID: row.event_id,
            timeout: 5_000
          })
        )),
      catch: (cause) => new PublishFailed({ reason: String(cause) })
    })
    yield* sql`UPDATE outbox SET published_at = now() WHERE id = ANY(${rows.map((row) => row.id)}::bigint[])`
    return rows.length
  }))

  const waitForWork = PubSub.take(wakeUps).pipe(Effect.timeoutOption(idlePoll), Effect.asVoid)

  const relay = relayBatch.pipe(
    Effect.tapError((error) =>
      Effect.logWarning("outbox: publish failed, will retry").pipe(Effect.annotateLogs({ error: error.message }))
    ),
    Effect.catch(() => Effect.sleep("1 second").pipe(Effect.as(0))),
    Effect.flatMap((published) => published < batchSize ? waitForWork : Effect.void),
    Effect.forever
  )

  const prune = sql`DELETE FROM outbox WHERE published_at < now() - make_interval(hours => ${retentionHours})`.pipe(
    Effect.ignore,
    Effect.repeat(Schedule.spaced("10 minutes"))
  )

  yield* Effect.forkScoped(relay)
  yield* Effect.forkScoped(prune)
}))
