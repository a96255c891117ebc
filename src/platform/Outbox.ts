/**
 * The transactional outbox: `append` writes an event in the caller's
 * transaction; the relay (OutboxRelay.ts) publishes it after commit.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, PubSub } from "effect"
import { uuidv7 } from "./Ids.ts"

export interface OutboxEvent {
  readonly subject: string
  readonly payload: Record<string, unknown>
}

export class Outbox extends Context.Service<Outbox, {
  /** Must run inside the transaction that makes the change. */
  append(event: OutboxEvent): Effect.Effect<void>
  /** Tells the relay there is work, so delivery does not wait for its next poll. */
  readonly committed: Effect.Effect<void>
  readonly wakeUps: PubSub.PubSub<void>
}>()("cms/platform/Outbox") {
  static readonly layer = Layer.effect(
    Outbox,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const wakeUps = yield* PubSub.sliding<void>(1)
      return Outbox.of({
        append: Effect.fn("Outbox.append")(function*(event: OutboxEvent) {
          const eventId = uuidv7()
          yield* sql`INSERT INTO outbox (event_id, subject, payload)
            VALUES (${eventId}, ${event.subject}, ${sql.json({ eventId, ...event.payload })})`.pipe(Effect.orDie)
        }),
        committed: PubSub.publish(wakeUps, undefined).pipe(Effect.asVoid),
        wakeUps
      })
    })
  )
}
