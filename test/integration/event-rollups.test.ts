/**
 * The rollups tracked events are folded into (src/events/RollupFolder.ts):
 * events go in through the real ingest endpoints, and once every committed
 * batch is folded each rollup holds the figures worked out by hand below.
 * Three folders run side by side, each folding at most two batches at a time,
 * so folds interleave as they would across several service processes.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { perCustomerEventTables } from "../../src/events/EventErasure.ts"
import type { BatchResult } from "../../src/domain/Event.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, getCustomer } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

const trackBatch = (events: ReadonlyArray<Record<string, unknown>>) =>
  Effect.gen(function*() {
    const response = yield* call("POST", "/api/v1/events/batch", { body: { events }, role: "service" })
    assert.strictEqual(response.status, 200)
    const result = yield* json<BatchResult>(response)
    assert.strictEqual(result.stored, events.length, JSON.stringify(result.results))
  })

const track = (customerId: string, event: Record<string, unknown>) =>
  Effect.gen(function*() {
    const response = yield* call("POST", `${customersPath}/${customerId}/track`, { body: event, role: "service" })
    assert.strictEqual(response.status, 200)
  })

/** Every committed batch folded. */
const folded = Effect.flatMap(PgClient.PgClient, (sql) =>
  eventually(
    "every batch to be folded",
    sql<{ readonly waiting: number }>`SELECT count(*)::int AS waiting FROM event_batches WHERE folded_at IS NULL`
      .pipe(Effect.orDie),
    ([row]) => row.waiting === 0
  ))

/** Every queued last activity written to its customers row. */
const synced = Effect.flatMap(PgClient.PgClient, (sql) =>
  eventually(
    "every queued last activity to be written",
    sql<{ readonly waiting: number }>`SELECT count(*)::int AS waiting FROM customer_last_activity_pending`
      .pipe(Effect.orDie),
    ([row]) => row.waiting === 0
  ))

const query = <A extends object>(run: (sql: PgClient.PgClient) => Effect.Effect<ReadonlyArray<A>, unknown>) =>
  Effect.flatMap(PgClient.PgClient, (sql) => Effect.orDie(run(sql)))

const activityOf = (customerId: string) =>
  Effect.map(
    query((sql) =>
      sql<{
        readonly firstSeenAt: string
        readonly lastSeenAt: string
        readonly events: number
        readonly revenue: string
        readonly purchaseDays: number
        readonly firstPurchaseOn: string | null
        readonly lastPurchaseOn: string | null
        readonly repeatRevenue: string
      }>`SELECT to_char(first_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "firstSeenAt",
          to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "lastSeenAt",
          events::int, revenue::text, purchase_days AS "purchaseDays", first_purchase_on::text AS "firstPurchaseOn",
          last_purchase_on::text AS "lastPurchaseOn", repeat_revenue::text AS "repeatRevenue"
        FROM customer_activity WHERE customer_id = ${customerId}`
    ),
    (rows) => rows[0]
  )

/** customer_activity's all-history totals of days and sessions. */
const totalsOf = (customerId: string) =>
  Effect.map(
    query((sql) =>
      sql<{
        readonly activeDays: number
        readonly sessions: number
        readonly sessionSeconds: string
        readonly sessionEvents: number
      }>`SELECT active_days AS "activeDays", sessions::int, session_seconds::text AS "sessionSeconds",
          session_events::int AS "sessionEvents"
        FROM customer_activity WHERE customer_id = ${customerId}`
    ),
    (rows) => rows[0]
  )

const typesOf = (customerId: string) =>
  query((sql) =>
    sql<{ readonly type: string; readonly events: number; readonly revenue: string; readonly lastOn: string }>`
      SELECT type, events::int, revenue::text, last_on::text AS "lastOn" FROM customer_type_activity
      WHERE customer_id = ${customerId} ORDER BY type`
  )

const Env = testServiceWithDatabase({
  env: {
    ROLLUP_FOLDERS: "3",
    ROLLUP_FOLD_MAX_BATCHES: "2",
    ROLLUP_PRUNE_INTERVAL: "200 millis",
    // Three customers' last activity a run: a burst of more takes several.
    LAST_ACTIVITY_SYNC_BATCH: "3",
    LAST_ACTIVITY_SYNC_INTERVAL: "100 millis"
  }
})

layer(Env, { excludeTestServices: true })("folding tracked events into the rollups", (it) => {
  /**
   * One customer's week in March 2025 (Monday 3rd to Sunday 9th), reporting currency USD:
   * Mon 09:15 and 09:45 page views and 10:05 a 100 USD purchase in session s1 on the web;
   * Tue 20:00 a 50 EUR purchase in session s2 in the app; Sun 23:30 a sign-in by email
   * and 23:59 a 20.50 USD purchase, neither in a session.
   */
  const week = (customerId: string) => [
    { customerId, type: "page_view", occurredAt: "2025-03-03T09:15:00Z", sessionId: "s1", channel: "web" },
    { customerId, type: "page_view", occurredAt: "2025-03-03T09:45:00Z", sessionId: "s1", channel: "web" },
    {
      customerId,
      type: "purchase",
      occurredAt: "2025-03-03T10:05:00Z",
      sessionId: "s1",
      channel: "web",
      revenue: 100,
      currency: "USD"
    },
    {
      customerId,
      type: "purchase",
      occurredAt: "2025-03-04T20:00:00Z",
      sessionId: "s2",
      channel: "app",
      revenue: 50,
      currency: "EUR"
    },
    { customerId, type: "sign_in", occurredAt: "2025-03-09T23:30:00Z", channel: "email" },
    { customerId, type: "purchase", occurredAt: "2025-03-09T23:59:00Z", revenue: 20.5, currency: "USD" }
  ]

  const trackWeek = Effect.gen(function*() {
    const customer = yield* createCustomer()
    const events = week(customer.id)
    // Two requests, so the week spans batches (and, likely, folds).
    yield* trackBatch(events.slice(0, 3))
    yield* trackBatch(events.slice(3))
    yield* folded
    return customer.id
  })

  it.effect("the customer's totals: first and last seen, events, revenue in the reporting currency only", () =>
    Effect.gen(function*() {
      const id = yield* trackWeek
      const activity = yield* activityOf(id)
      assert.strictEqual(activity.firstSeenAt, "2025-03-03T09:15:00Z")
      assert.strictEqual(activity.lastSeenAt, "2025-03-09T23:59:00Z")
      assert.strictEqual(activity.events, 6)
      assert.strictEqual(activity.revenue, "120.5000")
    }))

  it.effect("events and revenue per day and type", () =>
    Effect.gen(function*() {
      const id = yield* trackWeek
      const days = yield* query((sql) =>
        sql<{ readonly day: string; readonly type: string; readonly events: number; readonly revenue: string }>`
          SELECT day::text, type, events, revenue::text FROM customer_daily_activity
          WHERE customer_id = ${id} ORDER BY day, type`
      )
      assert.deepStrictEqual(days, [
        { day: "2025-03-03", type: "page_view", events: 2, revenue: "0.0000" },
        { day: "2025-03-03", type: "purchase", events: 1, revenue: "100.0000" },
        // Another currency: a purchase day all the same, with no revenue in the reporting currency.
        { day: "2025-03-04", type: "purchase", events: 1, revenue: "0.0000" },
        { day: "2025-03-09", type: "purchase", events: 1, revenue: "20.5000" },
        { day: "2025-03-09", type: "sign_in", events: 1, revenue: "0.0000" }
      ])
    }))

  it.effect("events and revenue per type since the first event, and the last day of each", () =>
    Effect.gen(function*() {
      const types = yield* typesOf(yield* trackWeek)
      assert.deepStrictEqual(types, [
        { type: "page_view", events: 2, revenue: "0.0000", lastOn: "2025-03-03" },
        // 100 + 0 (EUR) + 20.50
        { type: "purchase", events: 3, revenue: "120.5000", lastOn: "2025-03-09" },
        { type: "sign_in", events: 1, revenue: "0.0000", lastOn: "2025-03-09" }
      ])
    }))

  it.effect("the customer's active days and session totals: count, length in seconds, events", () =>
    Effect.gen(function*() {
      const totals = yield* totalsOf(yield* trackWeek)
      // Days 3rd, 4th and 9th; s1 lasts 09:15 to 10:05 (3,000 s, 3 events), s2 one event (0 s).
      assert.deepStrictEqual(totals, { activeDays: 3, sessions: 2, sessionSeconds: "3000.000000", sessionEvents: 4 })
    }))

  it.effect("a session extended by a later fold: still one session, its growth added to the seconds", () =>
    Effect.gen(function*() {
      const { id: customerId } = yield* createCustomer()
      const view = (occurredAt: string, sessionId?: string) => ({ customerId, type: "page_view", occurredAt, sessionId })
      yield* trackBatch([view("2025-04-01T09:00:00Z", "s1"), view("2025-04-01T09:10:00Z", "s1")])
      yield* folded
      assert.deepStrictEqual(yield* totalsOf(customerId), {
        activeDays: 1,
        sessions: 1,
        sessionSeconds: "600.000000",
        sessionEvents: 2
      })

      // s1 now starts earlier and ends later (08:50 to 09:30), on the same day; s2 is new, the next day.
      yield* trackBatch([
        view("2025-04-01T08:50:00Z", "s1"),
        view("2025-04-01T09:30:00Z", "s1"),
        view("2025-04-02T12:00:00Z", "s2"),
        view("2025-04-02T12:05:00Z")
      ])
      yield* folded
      assert.deepStrictEqual(yield* totalsOf(customerId), {
        activeDays: 2,
        sessions: 2,
        // 40 minutes of s1 + 0 s of s2 (one event)
        sessionSeconds: "2400.000000",
        sessionEvents: 5
      })
      assert.deepStrictEqual(yield* typesOf(customerId), [
        { type: "page_view", events: 6, revenue: "0.0000", lastOn: "2025-04-02" }
      ])
    }))

  it.effect("revenue per currency, every currency as sent", () =>
    Effect.gen(function*() {
      const id = yield* trackWeek
      const revenue = yield* query((sql) =>
        sql<{ readonly currency: string; readonly revenue: string; readonly events: number }>`
          SELECT currency, revenue::text, events::int FROM customer_revenue WHERE customer_id = ${id} ORDER BY currency`
      )
      assert.deepStrictEqual(revenue, [
        { currency: "EUR", revenue: "50.0000", events: 1 },
        { currency: "USD", revenue: "120.5000", events: 2 }
      ])
    }))

  it.effect("sessions: first and last event and how many, for events that name a session", () =>
    Effect.gen(function*() {
      const id = yield* trackWeek
      const sessions = yield* query((sql) =>
        sql<{ readonly sessionId: string; readonly startedAt: string; readonly endedAt: string; readonly events: number }>`
          SELECT session_id AS "sessionId", to_char(started_at AT TIME ZONE 'UTC', 'DD HH24:MI') AS "startedAt",
            to_char(ended_at AT TIME ZONE 'UTC', 'DD HH24:MI') AS "endedAt", events
          FROM customer_sessions WHERE customer_id = ${id} ORDER BY session_id`
      )
      assert.deepStrictEqual(sessions, [
        { sessionId: "s1", startedAt: "03 09:15", endedAt: "03 10:05", events: 3 },
        { sessionId: "s2", startedAt: "04 20:00", endedAt: "04 20:00", events: 1 }
      ])
    }))

  it.effect("hour of the week: Monday 00:00 UTC is 0, Sunday 23:00 is 167", () =>
    Effect.gen(function*() {
      const id = yield* trackWeek
      const hours = yield* query((sql) =>
        sql<{ readonly hour: number; readonly events: number }>`SELECT hour_of_week AS hour, events
          FROM customer_hourly_activity WHERE customer_id = ${id} ORDER BY hour_of_week`
      )
      assert.deepStrictEqual(hours, [
        { hour: 9, events: 2 },
        { hour: 10, events: 1 },
        { hour: 24 + 20, events: 1 },
        { hour: 6 * 24 + 23, events: 2 }
      ])
    }))

  it.effect("channels: events and the last one, for events that name a channel", () =>
    Effect.gen(function*() {
      const id = yield* trackWeek
      const channels = yield* query((sql) =>
        sql<{ readonly channel: string; readonly events: number; readonly lastSeenAt: string }>`
          SELECT channel, events, to_char(last_seen_at AT TIME ZONE 'UTC', 'DD HH24:MI') AS "lastSeenAt"
          FROM customer_channel_activity WHERE customer_id = ${id} ORDER BY channel`
      )
      assert.deepStrictEqual(channels, [
        { channel: "app", events: 1, lastSeenAt: "04 20:00" },
        { channel: "email", events: 1, lastSeenAt: "09 23:30" },
        { channel: "web", events: 3, lastSeenAt: "03 10:05" }
      ])
    }))

  it.effect("the purchase summary: purchase days, first and last, and the revenue of every day but the first", () =>
    Effect.gen(function*() {
      const activity = yield* activityOf(yield* trackWeek)
      assert.strictEqual(activity.purchaseDays, 3)
      assert.strictEqual(activity.firstPurchaseOn, "2025-03-03")
      assert.strictEqual(activity.lastPurchaseOn, "2025-03-09")
      // 0 (the EUR day) + 20.50
      assert.strictEqual(activity.repeatRevenue, "20.5000")
    }))

  it.effect("a backfill older than what was folded moves the first purchase day and the repeat revenue", () =>
    Effect.gen(function*() {
      const { id: customerId } = yield* createCustomer()
      const purchase = (occurredAt: string, revenue: number) => ({
        customerId,
        type: "purchase",
        occurredAt,
        revenue,
        currency: "USD"
      })
      yield* trackBatch([purchase("2025-06-10T12:00:00Z", 30), purchase("2025-06-20T12:00:00Z", 40)])
      yield* folded
      const before = yield* activityOf(customerId)
      assert.deepInclude(before, { purchaseDays: 2, firstPurchaseOn: "2025-06-10", repeatRevenue: "40.0000" })

      // January, and a second purchase on a day already counted.
      yield* trackBatch([purchase("2025-01-05T08:00:00Z", 10), purchase("2025-06-10T18:00:00Z", 5)])
      yield* folded
      const after = yield* activityOf(customerId)
      assert.deepInclude(after, {
        purchaseDays: 3,
        firstPurchaseOn: "2025-01-05",
        lastPurchaseOn: "2025-06-20",
        // (30 + 5) + 40: every day after the first.
        repeatRevenue: "75.0000",
        revenue: "85.0000"
      })
    }))

  it.effect("last activity moves forward with tracked events, never back", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const later = new Date(Date.parse(customer.lastActivity) + 60_000).toISOString()
      yield* track(customer.id, { type: "sign_in", occurredAt: later })
      yield* folded
      yield* synced
      assert.strictEqual((yield* getCustomer(customer.id)).lastActivity, later)

      yield* track(customer.id, { type: "purchase", occurredAt: "2020-01-01T00:00:00Z", revenue: 1, currency: "USD" })
      yield* folded
      yield* synced
      assert.strictEqual((yield* getCustomer(customer.id)).lastActivity, later)
    }))

  it.effect("last activity moves only by a step of its resolution (a minute) or more", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const within = new Date(Date.parse(customer.lastActivity) + 59_000).toISOString()
      yield* track(customer.id, { type: "page_view", occurredAt: within })
      yield* folded
      yield* synced
      assert.strictEqual((yield* getCustomer(customer.id)).lastActivity, customer.lastActivity)
      // The exact time is kept in the customer's rollup.
      assert.strictEqual((yield* activityOf(customer.id)).lastSeenAt, within.replace(/\.\d{3}Z$/, "Z"))
    }))

  it.effect("a burst of more customers than one sync run takes all get their last activity written", () =>
    Effect.gen(function*() {
      const customers = yield* Effect.forEach(Array.from({ length: 8 }), () => createCustomer())
      const later = (customer: { readonly lastActivity: string }) =>
        new Date(Date.parse(customer.lastActivity) + 120_000).toISOString()
      yield* trackBatch(customers.map((customer) => ({ customerId: customer.id, type: "sign_in", occurredAt: later(customer) })))
      yield* folded
      yield* synced
      for (const customer of customers) {
        assert.strictEqual((yield* getCustomer(customer.id)).lastActivity, later(customer))
      }
    }))

  it.effect("every batch is folded exactly once, however many folders run", () =>
    Effect.gen(function*() {
      const customers = yield* Effect.forEach(Array.from({ length: 5 }), () => createCustomer())
      const ids = customers.map((customer) => customer.id)
      // 40 requests of 25 events at once: many batches for three folders.
      yield* Effect.forEach(
        Array.from({ length: 40 }, (_, request) => request),
        (request) =>
          trackBatch(Array.from({ length: 25 }, (_, n) => ({
            customerId: ids[n % ids.length],
            type: "page_view",
            occurredAt: new Date(Date.UTC(2024, 0, 1 + (request % 28), n)).toISOString()
          }))),
        { concurrency: "unbounded" }
      )
      yield* folded
      const counts = yield* query((sql) =>
        sql<{ readonly events: number; readonly daily: number; readonly hourly: number }>`SELECT
          (SELECT sum(events)::int FROM customer_activity WHERE customer_id = ANY(${ids}::uuid[])) AS events,
          (SELECT sum(events)::int FROM customer_daily_activity WHERE customer_id = ANY(${ids}::uuid[])) AS daily,
          (SELECT sum(events)::int FROM customer_hourly_activity WHERE customer_id = ANY(${ids}::uuid[])) AS hourly`
      )
      assert.deepStrictEqual(counts, [{ events: 1000, daily: 1000, hourly: 1000 }])
    }))

  it.effect("with the JetStream publisher running (NATS configured), a batch's row goes once folded and published", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const { id } = yield* createCustomer()
      yield* track(id, { type: "page_view", occurredAt: "2023-05-05T05:05:05Z" })
      yield* folded
      yield* eventually(
        "the batch to be published and pruned",
        sql<{ readonly batches: number }>`SELECT count(*)::int AS batches FROM event_batches`.pipe(Effect.orDie),
        ([row]) => row.batches === 0
      )
      assert.strictEqual((yield* activityOf(id)).events, 1)
    }))

  it.effect("an erasure that overtakes a fold of the customer's events leaves no rollup of them", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const { id } = yield* createCustomer()
      // Holding the customer's row lines both up behind it: the erasure first, then the fold of an event
      // tracked while the erasure waits (the customer is not erased until it commits).
      const erasure = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1 FROM customers WHERE id = ${id} FOR UPDATE`
        const erasing = yield* Effect.forkChild(call("DELETE", `${customersPath}/${id}`))
        yield* Effect.sleep("300 millis")
        yield* track(id, { type: "page_view" })
        yield* Effect.sleep("500 millis")
        return erasing
      })).pipe(Effect.orDie)
      assert.strictEqual((yield* Fiber.join(erasure)).status, 204)
      yield* folded
      for (const table of perCustomerEventTables) {
        const rows = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ${sql(table)}
          WHERE customer_id = ${id}`.pipe(Effect.orDie)
        assert.strictEqual(rows[0].n, 0, table)
      }
    }))
})
