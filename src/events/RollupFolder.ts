/**
 * Folds committed event batches into the rollups (migrations/0005_event_rollups.sql).
 *
 * A fold claims a group of unfolded batches (FOR NO KEY UPDATE SKIP LOCKED, so
 * any number of folders, in this process or others, share the work), copies
 * their events once into a session-local table, and updates every rollup from
 * it set-wise, a handful of statements whatever the number of events, in the
 * transaction that marks the batches folded: a batch is counted exactly once,
 * and a failed fold leaves it to be folded again.
 *
 * Lock order, so that concurrent folds (and erasures) wait for one another
 * instead of deadlocking: customer_activity rows, in customer order (two folds
 * sharing a customer are then serialised, and every later statement of the
 * second sees the first's rows); the other per-customer tables, each in key
 * order; and last the fleet and cohort rows every fold touches, held only for
 * the last statement before the commit. A fold locks no customers row: it
 * queues the customers whose last activity moved, and a throttled sync writes
 * customers.last_activity (erasure locks the customers row first, then the
 * rollups; the sync locks customers rows alone).
 *
 * A batch's row goes once it is folded and published to JetStream. With no
 * publisher (NATS_URL unset) there is nothing to wait for: the fold deletes
 * the batches it folds. With one, the fold deletes those already published
 * and marks the others, and a prune deletes them once published.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Config, Duration, Effect, Layer, PubSub } from "effect"
import { loggingFailures, repeatLoggingFailures } from "../platform/BackgroundWork.ts"
import { Nats } from "../platform/Nats.ts"
import { SegmentEvaluationQueue } from "../segments/EvaluationQueue.ts"
import { EventStore } from "./EventStore.ts"
import { reportingCurrency } from "./ReportingCurrency.ts"

/** What one fold took: batches claimed, and their events still stored (an erased customer's may be gone). */
export interface Fold {
  readonly batches: number
  readonly events: number
}

/**
 * The events of the batches being folded, made once per connection and emptied at every commit
 * (no catalog churn per fold). `at_utc` is the wall time in UTC that days, weeks, months and hours are cut from.
 */
const foldingTable = `CREATE TEMP TABLE folding_events (
  customer_id       uuid NOT NULL,
  type              text NOT NULL,
  occurred_at       timestamptz NOT NULL,
  at_utc            timestamp NOT NULL,
  session_id        text,
  channel           text,
  revenue           numeric(20, 4),
  currency          text,
  reporting_revenue numeric(20, 4) NOT NULL
) ON COMMIT DELETE ROWS`

export const RollupFolderLive = Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const store = yield* EventStore
  const evaluations = yield* SegmentEvaluationQueue
  const nats = yield* Nats
  const currency = yield* reportingCurrency
  const idlePoll = yield* Config.Duration("ROLLUP_FOLD_INTERVAL").pipe(Config.withDefault(Duration.millis(250)))
  const maxBatches = yield* Config.Int("ROLLUP_FOLD_MAX_BATCHES").pipe(Config.withDefault(32))
  const folders = yield* Config.Int("ROLLUP_FOLDERS").pipe(Config.withDefault(1))
  const lastActivityResolution = yield* Config.Duration("LAST_ACTIVITY_RESOLUTION").pipe(
    Config.withDefault(Duration.minutes(1))
  )
  const syncInterval = yield* Config.Duration("LAST_ACTIVITY_SYNC_INTERVAL").pipe(Config.withDefault(Duration.seconds(1)))
  const syncBatch = yield* Config.Int("LAST_ACTIVITY_SYNC_BATCH").pipe(Config.withDefault(2_000))
  const pruneInterval = yield* Config.Duration("ROLLUP_PRUNE_INTERVAL").pipe(Config.withDefault(Duration.minutes(1)))
  // NATS_URL unset: nothing publishes batches, so a folded batch is done.
  const publishing = (yield* nats.status) !== "disabled"
  const isDone = publishing ? sql`published_at IS NOT NULL` : sql`TRUE`

  const fold = Effect.fn("RollupFolder.fold")(function*() {
    const now = new Date(yield* Clock.currentTimeMillis)
    // For this transaction only. Room to group a fold's events in memory rather than on disk. And no wait for
    // the commit's flush: a fold lost in a crash loses its batches' marks with it, so they are folded again.
    yield* sql`SELECT set_config('work_mem', '64MB', true), set_config('synchronous_commit', 'off', true)`
    const [{ made }] = yield* sql<{ readonly made: boolean }>`SELECT to_regclass('pg_temp.folding_events') IS NOT NULL AS made`
    if (!made) yield* sql.unsafe(foldingTable)
    const [claimed] = yield* sql<Fold>`WITH claimed AS (
        SELECT id, event_ids, occurred, ${isDone} AS done FROM event_batches
        WHERE folded_at IS NULL ORDER BY id LIMIT ${maxBatches} FOR NO KEY UPDATE SKIP LOCKED
      ),
      pruned AS (DELETE FROM event_batches WHERE id IN (SELECT id FROM claimed WHERE done)),
      marked AS (UPDATE event_batches SET folded_at = ${now} WHERE id IN (SELECT id FROM claimed WHERE NOT done)),
      loaded AS (
        INSERT INTO folding_events (customer_id, type, occurred_at, at_utc, session_id, channel, revenue, currency,
          reporting_revenue)
        SELECT e.customer_id, e.type, e.occurred_at, e.occurred_at AT TIME ZONE 'UTC', e.session_id, e.channel,
          e.revenue, e.currency,
          CASE WHEN e.currency IS NULL OR e.currency = ${currency} THEN coalesce(e.revenue, 0) ELSE 0 END
        FROM claimed CROSS JOIN LATERAL unnest(claimed.event_ids, claimed.occurred) AS k(id, occurred_at)
        JOIN customer_events e ON e.id = k.id AND e.occurred_at = k.occurred_at
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM claimed)::int AS batches, (SELECT count(*) FROM loaded)::int AS events`
    if (claimed.events === 0) return claimed

    // Customers whose last activity moves forward by the resolution or more (a backfilled event is no new
    // activity), queued for the sync below rather than written here: a customers row has a dozen indexes,
    // last_activity's among them, so no update of it is HOT, and rewriting it at every fold was the fold's
    // dearest statement (at a million customers more than half of its time). A read, and no lock: erasure
    // locks the customers row first and the rollups after, and the sync skips an erased customer.
    yield* sql`INSERT INTO customer_last_activity_pending (customer_id)
      SELECT latest.customer_id FROM (
        SELECT customer_id, max(occurred_at) AS last FROM folding_events GROUP BY customer_id
      ) AS latest JOIN customers AS c ON c.id = latest.customer_id
      WHERE c.last_activity < latest.last
        AND c.last_activity <= latest.last - ${Duration.toMillis(lastActivityResolution)} * interval '1 millisecond'
        AND c.status <> 'DELETED'
      ORDER BY 1
      ON CONFLICT DO NOTHING`

    // Then this fold's customers' rollups, in order: two folds sharing a customer are serialised from here,
    // so every later statement of the second sees the first's rows.
    yield* sql`INSERT INTO customer_activity AS a (customer_id, first_seen_at, last_seen_at, events, revenue, folded_at)
      SELECT customer_id, min(occurred_at), max(occurred_at), count(*), sum(reporting_revenue), ${now}
      FROM folding_events GROUP BY customer_id ORDER BY customer_id
      ON CONFLICT (customer_id) DO UPDATE SET
        first_seen_at = LEAST(a.first_seen_at, EXCLUDED.first_seen_at),
        last_seen_at = GREATEST(a.last_seen_at, EXCLUDED.last_seen_at),
        events = a.events + EXCLUDED.events,
        revenue = a.revenue + EXCLUDED.revenue,
        folded_at = EXCLUDED.folded_at`

    // Customers erased since their events were read: nothing of theirs is rolled up, and their events go too
    // (an event committed while the erasure was committing passed the ingest's check; this is where it is
    // caught). This runs after the rows above are locked or inserted, and erasure first waits for those rows
    // (EventErasure.ts), so an erasure either committed before this statement, which then sees it, or deletes
    // this fold's rows after it.
    // Customers who withdrew consent to analytics are not profiled: their events stay stored (the timeline,
    // the export) but are folded into nothing, per customer or fleet-wide; a withdrawal deleted their rollups
    // the same way (ConsentCommand.ts), so the rows this fold made for them go too. A later grant folds the
    // events tracked from then on.
    yield* sql`WITH erased AS (
        SELECT id FROM customers WHERE status = 'DELETED' AND id IN (SELECT customer_id FROM folding_events)
      ),
      withdrawn AS (
        SELECT customer_id AS id FROM customer_consents
        WHERE purpose = 'analytics' AND status = 'withdrawn' AND customer_id IN (SELECT customer_id FROM folding_events)
      ),
      unfolded AS (SELECT id FROM erased UNION SELECT id FROM withdrawn),
      dropped AS (DELETE FROM folding_events WHERE customer_id IN (SELECT id FROM unfolded)),
      events AS (DELETE FROM customer_events WHERE customer_id IN (SELECT id FROM erased))
      DELETE FROM customer_activity WHERE customer_id IN (SELECT id FROM unfolded)`

    // The customers whose event facts this fold changes (in a way some segment reads), queued for real-time
    // segment membership in this transaction, so that they become due with these rollups (evaluated earlier, they would be read without).
    // An insert that locks nothing another fold or a round holds.
    yield* evaluations.queueFoldedStatement(sql`SELECT customer_id, type FROM folding_events`, now)

    // The sessions' totals in customer_activity move by each touched session's change: `touched` reads the
    // sessions as they were before this statement (every part of it shares one snapshot, and a fold sharing a
    // customer committed before this one got past customer_activity), `sessions` returns them after.
    yield* sql`WITH daily AS (
        INSERT INTO customer_daily_activity AS d (customer_id, day, type, events, revenue)
        SELECT customer_id, at_utc::date, type, count(*), sum(reporting_revenue) FROM folding_events
        GROUP BY customer_id, at_utc::date, type ORDER BY customer_id, at_utc::date, type
        ON CONFLICT (customer_id, day, type) DO UPDATE SET
          events = d.events + EXCLUDED.events, revenue = d.revenue + EXCLUDED.revenue
      ),
      types AS (
        INSERT INTO customer_type_activity AS t (customer_id, type, events, revenue, last_on)
        SELECT customer_id, type, count(*), sum(reporting_revenue), max(at_utc)::date FROM folding_events
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (customer_id, type) DO UPDATE SET
          events = t.events + EXCLUDED.events, revenue = t.revenue + EXCLUDED.revenue,
          last_on = GREATEST(t.last_on, EXCLUDED.last_on)
      ),
      touched AS (
        SELECT s.customer_id, s.session_id, extract(epoch FROM s.ended_at - s.started_at) AS seconds, s.events
        FROM (SELECT DISTINCT customer_id, session_id FROM folding_events WHERE session_id IS NOT NULL) AS f
        JOIN customer_sessions AS s ON s.customer_id = f.customer_id AND s.session_id = f.session_id
      ),
      revenue AS (
        INSERT INTO customer_revenue AS r (customer_id, currency, revenue, events)
        SELECT customer_id, coalesce(currency, ${currency}), sum(revenue), count(*) FROM folding_events
        WHERE revenue IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (customer_id, currency) DO UPDATE SET
          revenue = r.revenue + EXCLUDED.revenue, events = r.events + EXCLUDED.events
      ),
      sessions AS (
        INSERT INTO customer_sessions AS s (customer_id, session_id, started_at, ended_at, events)
        SELECT customer_id, session_id, min(occurred_at), max(occurred_at), count(*) FROM folding_events
        WHERE session_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (customer_id, session_id) DO UPDATE SET
          started_at = LEAST(s.started_at, EXCLUDED.started_at),
          ended_at = GREATEST(s.ended_at, EXCLUDED.ended_at),
          events = s.events + EXCLUDED.events
        RETURNING customer_id, session_id, extract(epoch FROM ended_at - started_at) AS seconds, events
      ),
      session_totals AS (
        UPDATE customer_activity AS a SET
          sessions = a.sessions + d.sessions, session_seconds = a.session_seconds + d.seconds,
          session_events = a.session_events + d.events
        FROM (
          SELECT after.customer_id, count(*) FILTER (WHERE before.session_id IS NULL) AS sessions,
            sum(after.seconds - coalesce(before.seconds, 0)) AS seconds,
            sum(after.events - coalesce(before.events, 0)) AS events
          FROM sessions AS after LEFT JOIN touched AS before USING (customer_id, session_id)
          GROUP BY after.customer_id
        ) AS d
        WHERE a.customer_id = d.customer_id
      ),
      hourly AS (
        INSERT INTO customer_hourly_activity AS h (customer_id, hour_of_week, events)
        SELECT customer_id, (extract(isodow FROM at_utc)::int - 1) * 24 + extract(hour FROM at_utc)::int, count(*)
        FROM folding_events GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (customer_id, hour_of_week) DO UPDATE SET events = h.events + EXCLUDED.events
      ),
      channels AS (
        INSERT INTO customer_channel_activity AS c (customer_id, channel, events, last_seen_at)
        SELECT customer_id, channel, count(*), max(occurred_at) FROM folding_events
        WHERE channel IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (customer_id, channel) DO UPDATE SET
          events = c.events + EXCLUDED.events, last_seen_at = GREATEST(c.last_seen_at, EXCLUDED.last_seen_at)
      )
      SELECT 1`

    // From all of the customer's purchase days, not the fold's alone: a backfilled day may come before the
    // first known one, and the repeat revenue is everything after the first day.
    yield* sql`UPDATE customer_activity AS a SET
        purchase_days = p.days, first_purchase_on = p.first_day, last_purchase_on = p.last_day,
        repeat_revenue = p.revenue - p.first_day_revenue
      FROM (
        SELECT customer_id, count(*)::int AS days, min(day) AS first_day, max(day) AS last_day, sum(revenue) AS revenue,
          (array_agg(revenue ORDER BY day))[1] AS first_day_revenue
        FROM customer_daily_activity
        WHERE type = 'purchase'
          AND customer_id IN (SELECT customer_id FROM folding_events WHERE type = 'purchase')
        GROUP BY customer_id
      ) AS p
      WHERE a.customer_id = p.customer_id`

    // Last: these rows are shared by every fold. A customer's first event in a period is what counts them
    // active there (the insert that did not conflict), in the fleet and in their signup month's cohort. A week
    // or month can only be new on a day that is new: a known day's row went in with its week's and month's.
    yield* sql`WITH days AS (
        SELECT customer_id, at_utc::date AS day, count(*) AS events, sum(reporting_revenue) AS revenue
        FROM folding_events GROUP BY 1, 2
      ),
      first_days AS (
        INSERT INTO customer_active_periods (customer_id, period, period_start)
        SELECT customer_id, 'day', day FROM days ORDER BY 1, 3
        ON CONFLICT DO NOTHING
        RETURNING customer_id, period, period_start
      ),
      -- The customer's rows were locked by this fold's customer_activity upsert: no new lock here.
      active_days AS (
        UPDATE customer_activity AS a SET active_days = a.active_days + n.days
        FROM (SELECT customer_id, count(*) AS days FROM first_days GROUP BY 1) AS n
        WHERE a.customer_id = n.customer_id
      ),
      first_longer AS (
        INSERT INTO customer_active_periods (customer_id, period, period_start)
        SELECT DISTINCT first_days.customer_id, p.period, p.period_start
        FROM first_days CROSS JOIN LATERAL (VALUES
          ('week', date_trunc('week', first_days.period_start)::date),
          ('month', date_trunc('month', first_days.period_start)::date)
        ) AS p(period, period_start)
        ORDER BY 1, 2, 3
        ON CONFLICT DO NOTHING
        RETURNING customer_id, period, period_start
      ),
      fleet AS (
        INSERT INTO fleet_activity AS f (period, period_start, active_customers, events, revenue)
        SELECT t.period, t.period_start, coalesce(n.active, 0), t.events, t.revenue
        FROM (
          SELECT p.period, p.period_start, sum(days.events) AS events, sum(days.revenue) AS revenue
          FROM days CROSS JOIN LATERAL (VALUES
            ('day', days.day),
            ('week', date_trunc('week', days.day)::date),
            ('month', date_trunc('month', days.day)::date)
          ) AS p(period, period_start)
          GROUP BY 1, 2
        ) AS t
        LEFT JOIN (
          SELECT period, period_start, count(*) AS active
          FROM (SELECT * FROM first_days UNION ALL SELECT * FROM first_longer) AS firsts
          GROUP BY 1, 2
        ) AS n USING (period, period_start)
        ORDER BY 1, 2
        ON CONFLICT (period, period_start) DO UPDATE SET
          active_customers = f.active_customers + EXCLUDED.active_customers,
          events = f.events + EXCLUDED.events,
          revenue = f.revenue + EXCLUDED.revenue
      ),
      cohorts AS (
        INSERT INTO cohort_activity AS c (cohort_month, activity_month, active_customers)
        SELECT date_trunc('month', customers.created_at AT TIME ZONE 'UTC')::date, first_longer.period_start, count(*)
        FROM first_longer JOIN customers ON customers.id = first_longer.customer_id
        WHERE first_longer.period = 'month' GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (cohort_month, activity_month) DO UPDATE SET
          active_customers = c.active_customers + EXCLUDED.active_customers
      )
      SELECT 1`
    return claimed
  })

  /** Batches both folded and published (a publisher runs); without one, folds delete their batches. */
  const prune = Effect.fn("RollupFolder.prune")(function*() {
    yield* sql`DELETE FROM event_batches WHERE folded_at IS NOT NULL AND published_at IS NOT NULL`
  })

  /**
   * Writes the queued customers' last activity from their rollup (customer_activity.last_seen_at), at most
   * `syncBatch` customers a run: under a burst of new customers the writes wait in the queue instead of
   * competing with the ingest for the database. Its own transaction and connection: it locks customers rows
   * (in id order, as every writer of them does), and a wait for one must not hold statements pipelined
   * behind it. An erased customer's row is skipped (the status is checked again once the row is locked).
   */
  const syncLastActivity = Effect.fn("RollupFolder.syncLastActivity")(function*() {
    const [{ synced }] = yield* sql<{ readonly synced: number }>`WITH taken AS (
        DELETE FROM customer_last_activity_pending WHERE customer_id IN (
          SELECT customer_id FROM customer_last_activity_pending ORDER BY customer_id LIMIT ${syncBatch}
          FOR UPDATE SKIP LOCKED)
        RETURNING customer_id
      ),
      moving AS (
        SELECT c.id, a.last_seen_at FROM taken
        JOIN customers AS c ON c.id = taken.customer_id
        JOIN customer_activity AS a ON a.customer_id = taken.customer_id
        WHERE c.last_activity < a.last_seen_at AND c.status <> 'DELETED'
        ORDER BY c.id FOR NO KEY UPDATE OF c
      ),
      moved AS (
        UPDATE customers AS c SET last_activity = GREATEST(c.last_activity, moving.last_seen_at)
        FROM moving WHERE c.id = moving.id AND c.status <> 'DELETED'
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM taken)::int AS synced`
    return synced
  })

  // Idle polls open no transaction and lock nothing (the partial index answers).
  const pending = Effect.map(
    sql<{ readonly some: boolean }>`SELECT EXISTS (SELECT 1 FROM event_batches WHERE folded_at IS NULL) AS some`,
    ([row]) => row.some
  )

  const folder = Effect.gen(function*() {
    const wakeUps = yield* PubSub.subscribe(store.batchCommitted)
    const waitForWork = PubSub.take(wakeUps).pipe(Effect.timeoutOption(idlePoll), Effect.asVoid)
    yield* pending.pipe(
      Effect.flatMap((some) =>
        some
          ? sql.withTransaction(fold()).pipe(Effect.tap(({ events }) => events > 0 ? evaluations.wake : Effect.void))
          : Effect.succeed({ batches: 0, events: 0 })
      ),
      // A full fold means more may be waiting: go on at once.
      Effect.flatMap(({ batches }) => batches < maxBatches ? waitForWork : Effect.void),
      // Nothing was marked: the same batches are folded on the next try.
      loggingFailures("rollups: fold failed, will retry", Effect.sleep("1 second")),
      Effect.forever
    )
  }).pipe(Effect.scoped)

  for (let n = 0; n < folders; n++) yield* Effect.forkScoped(folder)
  yield* Effect.forkScoped(repeatLoggingFailures(
    "rollups: last activity sync failed",
    syncInterval,
    sql.withTransaction(syncLastActivity())
  ))
  if (publishing) yield* Effect.forkScoped(repeatLoggingFailures("rollups: prune failed", pruneInterval, prune()))
}))
