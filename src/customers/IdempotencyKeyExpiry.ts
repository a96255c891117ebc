/**
 * Idempotency keys answer retries for a day (IDEMPOTENCY_KEY_TTL_HOURS), then
 * go: without this the table would grow with every keyed create forever.
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Duration, Effect, Layer } from "effect"
import { cutoffBefore, repeatLoggingFailures } from "../platform/BackgroundWork.ts"

/** Deletes the keys created more than `ttl` ago, by Effect's Clock. */
export const expireIdempotencyKeys = Effect.fn("IdempotencyKeyExpiry.expire")(function*(ttl: Duration.Duration) {
  const sql = yield* PgClient.PgClient
  yield* sql`DELETE FROM idempotency_keys WHERE created_at < ${yield* cutoffBefore(ttl)}`
})

export const IdempotencyKeyExpiryLive = Layer.effectDiscard(Effect.gen(function*() {
  const ttlHours = yield* Config.Int("IDEMPOTENCY_KEY_TTL_HOURS").pipe(Config.withDefault(24))
  const expire = expireIdempotencyKeys(Duration.hours(ttlHours))
  yield* Effect.forkScoped(repeatLoggingFailures("idempotency keys: expiry failed", "10 minutes", expire))
}))
