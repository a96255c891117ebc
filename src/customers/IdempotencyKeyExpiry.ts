/**
 * Idempotency keys answer retries for a day (IDEMPOTENCY_KEY_TTL_HOURS), then
 * go: without this the table would grow with every keyed create forever.
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Effect, Layer, Schedule } from "effect"

export const IdempotencyKeyExpiryLive = Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const ttlHours = yield* Config.Int("IDEMPOTENCY_KEY_TTL_HOURS").pipe(Config.withDefault(24))
  const expire = sql`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => ${ttlHours})`
  yield* Effect.forkScoped(expire.pipe(Effect.ignore, Effect.repeat(Schedule.spaced("10 minutes"))))
}))
