/**
 * The RFM quintile breakpoints of the customer base (migrations/0008),
 * recomputed in the background every RFM_REFRESH_MINUTES (default 60) so that
 * scoring a customer reads one small row instead of ranking every customer.
 * Any number of processes may run the job: one computes under a lock while
 * the others skip, and none recomputes breakpoints younger than the interval.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Config, Duration, Effect, Layer } from "effect"
import { cutoffBefore, repeatLoggingFailures } from "../platform/BackgroundWork.ts"

/** Recomputes the breakpoints unless they were computed less than `maxAge` ago (by Effect's Clock). */
export const refreshRfmBreakpoints = Effect.fn("RfmBreakpoints.refresh")(function*(maxAge: Duration.Duration) {
  const sql = yield* PgClient.PgClient
  const now = new Date(yield* Clock.currentTimeMillis)
  const freshSince = yield* cutoffBefore(maxAge)
  // One statement, so its implicit transaction holds the lock for exactly the computation.
  yield* sql`WITH lock AS (SELECT pg_try_advisory_xact_lock(hashtext('rfm_breakpoints')) AS held),
      base AS (
        SELECT count(*) AS customers,
          percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY last_purchase_on) AS recency,
          percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY purchase_days) AS frequency,
          percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY revenue) AS monetary
        FROM customer_activity
        WHERE purchase_days > 0 AND (SELECT held FROM lock)
          AND NOT EXISTS (SELECT 1 FROM rfm_breakpoints WHERE computed_at > ${freshSince})
      )
    INSERT INTO rfm_breakpoints (id, customers, recency, frequency, monetary, computed_at)
    SELECT true, customers, recency, frequency, monetary, ${now} FROM base WHERE customers > 0
    ON CONFLICT (id) DO UPDATE SET customers = excluded.customers, recency = excluded.recency,
      frequency = excluded.frequency, monetary = excluded.monetary, computed_at = excluded.computed_at`
})

export const RfmBreakpointsLive = Layer.effectDiscard(Effect.gen(function*() {
  const minutes = yield* Config.Int("RFM_REFRESH_MINUTES").pipe(Config.withDefault(60))
  // 0 turns the job off: another process (or a test) keeps the breakpoints.
  if (minutes <= 0) return
  const interval = Duration.minutes(minutes)
  yield* Effect.forkScoped(
    repeatLoggingFailures("rfm breakpoints: refresh failed", interval, refreshRfmBreakpoints(interval))
  )
}))
