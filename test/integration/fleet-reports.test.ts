/**
 * Fleet reports (GET /api/v1/analytics/fleet and /cohorts) over a fixture
 * worked out by hand, tracked through the batch endpoint and folded. The
 * service runs without NATS: no publisher, so folded batches are deleted.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { BatchResult } from "../../src/domain/Event.ts"
import type { CohortReport, FleetReport } from "../../src/domain/FleetReport.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { json } from "../support/TestService.ts"


const fleet = (query: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `/api/v1/analytics/fleet?${query}`, { role: "analyst" })
    assert.strictEqual(response.status, 200)
    return yield* json<FleetReport>(response)
  })

const cohorts = (query: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `/api/v1/analytics/cohorts?${query}`, { role: "analyst" })
    assert.strictEqual(response.status, 200)
    return yield* json<CohortReport>(response)
  })

/**
 * A signs up Monday 3 February 2025: two page views and a 10 USD purchase that day, a sign-in on
 * Wednesday the 5th, a 5 EUR purchase on 1 March. B signed up 20 January: a page view on 3 February,
 * a 20 USD purchase Monday 10 February. C signs up Tuesday 4 February and does nothing.
 */
const fixture = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const [a, b, c] = yield* Effect.forEach([1, 2, 3], () => createCustomer())
  // Signup months are the cohorts: these customers were created in the past.
  for (const [customer, createdAt] of [[a, "2025-02-03T08:00:00Z"], [b, "2025-01-20T12:00:00Z"], [c, "2025-02-04T12:00:00Z"]] as const) {
    yield* sql`UPDATE customers SET created_at = ${createdAt} WHERE id = ${customer.id}`.pipe(Effect.orDie)
  }
  // The service never moves a creation time: the daily signup counts are recounted from scratch.
  yield* sql`TRUNCATE customer_signups`.pipe(Effect.orDie)
  const events = [
    { customerId: a.id, type: "page_view", occurredAt: "2025-02-03T09:00:00Z" },
    { customerId: a.id, type: "page_view", occurredAt: "2025-02-03T09:01:00Z" },
    { customerId: a.id, type: "purchase", occurredAt: "2025-02-03T09:05:00Z", revenue: 10, currency: "USD" },
    { customerId: a.id, type: "sign_in", occurredAt: "2025-02-05T18:00:00Z" },
    { customerId: a.id, type: "purchase", occurredAt: "2025-03-01T10:00:00Z", revenue: 5, currency: "EUR" },
    { customerId: b.id, type: "page_view", occurredAt: "2025-02-03T23:59:59Z" },
    { customerId: b.id, type: "purchase", occurredAt: "2025-02-10T00:00:00Z", revenue: 20, currency: "USD" }
  ]
  const response = yield* call("POST", "/api/v1/events/batch", { body: { events }, role: "service" })
  assert.strictEqual((yield* json<BatchResult>(response)).stored, events.length)
  yield* eventually(
    "the fold",
    sql<{ readonly batches: number }>`SELECT count(*)::int AS batches FROM event_batches`.pipe(Effect.orDie),
    ([row]) => row.batches === 0
  )
})

/** The service with the fixture tracked and folded, once for the file: the figures are the whole fleet's. */
const Env = Layer.effectDiscard(fixture).pipe(Layer.provideMerge(testServiceWithDatabase({ nats: false, env: { SIGNUP_COUNTS_INTERVAL: "200 millis" } })))

layer(Env, { excludeTestServices: true })("fleet reports", (it) => {
  it.effect("per day: new customers, distinct active customers, events and revenue in the reporting currency", () =>
    Effect.gen(function*() {
      const report = yield* fleet("period=day&from=2025-02-03&to=2025-02-05")
      assert.deepStrictEqual(report, {
        period: "day",
        from: "2025-02-03",
        to: "2025-02-05",
        currency: "USD",
        periods: [
          { periodStart: "2025-02-03", newCustomers: 1, activeCustomers: 2, events: 4, revenue: 10 },
          { periodStart: "2025-02-04", newCustomers: 1, activeCustomers: 0, events: 0, revenue: 0 },
          { periodStart: "2025-02-05", newCustomers: 0, activeCustomers: 1, events: 1, revenue: 0 }
        ]
      })
    }))

  it.effect("per ISO week, from Monday: a customer active on several days counts once", () =>
    Effect.gen(function*() {
      const report = yield* fleet("period=week&from=2025-02-05&to=2025-02-10")
      assert.strictEqual(report.from, "2025-02-03")
      assert.strictEqual(report.to, "2025-02-16")
      assert.deepStrictEqual(report.periods, [
        { periodStart: "2025-02-03", newCustomers: 2, activeCustomers: 2, events: 5, revenue: 10 },
        { periodStart: "2025-02-10", newCustomers: 0, activeCustomers: 1, events: 1, revenue: 20 }
      ])
    }))

  it.effect("per month: a purchase in another currency is an event with no revenue here", () =>
    Effect.gen(function*() {
      const report = yield* fleet("period=month&from=2025-01-31&to=2025-03-01")
      assert.strictEqual(report.from, "2025-01-01")
      assert.strictEqual(report.to, "2025-03-31")
      assert.deepStrictEqual(report.periods, [
        { periodStart: "2025-01-01", newCustomers: 1, activeCustomers: 0, events: 0, revenue: 0 },
        { periodStart: "2025-02-01", newCustomers: 2, activeCustomers: 2, events: 6, revenue: 30 },
        { periodStart: "2025-03-01", newCustomers: 0, activeCustomers: 1, events: 1, revenue: 0 }
      ])
    }))

  it.effect("a customer active again in a later fold is counted once per week and month", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const { id } = yield* createCustomer()
      for (const occurredAt of ["2023-07-03T10:00:00Z", "2023-07-04T10:00:00Z", "2023-07-04T11:00:00Z"]) {
        const response = yield* call("POST", `/api/v1/customers/${id}/track`, {
          body: { type: "page_view", occurredAt },
          role: "service"
        })
        assert.strictEqual(response.status, 200)
        yield* eventually(
          "the fold",
          sql<{ readonly batches: number }>`SELECT count(*)::int AS batches FROM event_batches`.pipe(Effect.orDie),
          ([row]) => row.batches === 0
        )
      }
      const days = yield* fleet("period=day&from=2023-07-03&to=2023-07-04")
      assert.deepStrictEqual(days.periods.map((period) => [period.activeCustomers, period.events]), [[1, 1], [1, 2]])
      const weeks = yield* fleet("period=week&from=2023-07-03&to=2023-07-03")
      assert.deepStrictEqual(weeks.periods.map((period) => [period.activeCustomers, period.events]), [[1, 3]])
      const months = yield* fleet("period=month&from=2023-07-01&to=2023-07-01")
      assert.deepStrictEqual(months.periods.map((period) => [period.activeCustomers, period.events]), [[1, 3]])
    }))

  it.effect("new customers come from the daily signup counts, and the days since the last count live", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* eventually(
        "the signups of 2025 to be counted",
        sql<{ readonly days: number }>`SELECT count(*)::int AS days FROM customer_signups WHERE day < '2026-01-01'`
          .pipe(Effect.orDie),
        ([row]) => row.days === 3
      )
      const before = (yield* fleet("period=day&from=2025-01-20&to=2025-02-04")).periods
      yield* createCustomer()
      const today = new Date().toISOString().slice(0, 10)
      const [{ customers }] = yield* sql<{ readonly customers: number }>`SELECT count(*)::int AS customers FROM customers
        WHERE created_at >= ${today}::date::timestamp AT TIME ZONE 'UTC'`.pipe(Effect.orDie)
      const now = (yield* fleet(`period=day&from=${today}&to=${today}`)).periods
      assert.deepStrictEqual(now.map((period) => period.newCustomers), [customers])
      const newCustomers = before.filter((period) => period.newCustomers > 0)
      assert.deepStrictEqual(newCustomers.map((period) => [period.periodStart, period.newCustomers]), [
        ["2025-01-20", 1],
        ["2025-02-03", 1],
        ["2025-02-04", 1]
      ])
    }))

  it.effect("by default, the last 30 days up to today", () =>
    Effect.gen(function*() {
      const report = yield* fleet("")
      const today = new Date().toISOString().slice(0, 10)
      assert.strictEqual(report.period, "day")
      assert.lengthOf(report.periods, 30)
      assert.strictEqual(report.to, today)
      assert.strictEqual(report.periods[29].periodStart, today)
    }))

  it.effect("cohorts: each signup month's customers and how many were active in each month since", () =>
    Effect.gen(function*() {
      const report = yield* cohorts("from=2025-01-01&to=2025-02-28")
      assert.strictEqual(report.from, "2025-01-01")
      assert.strictEqual(report.to, "2025-02-01")
      const [january, february] = report.cohorts
      assert.strictEqual(january.cohortMonth, "2025-01-01")
      assert.strictEqual(january.customers, 1)
      assert.deepStrictEqual(january.months.slice(0, 3), [
        { month: "2025-01-01", monthsSinceSignup: 0, activeCustomers: 0, retention: 0 },
        { month: "2025-02-01", monthsSinceSignup: 1, activeCustomers: 1, retention: 1 },
        { month: "2025-03-01", monthsSinceSignup: 2, activeCustomers: 0, retention: 0 }
      ])
      assert.strictEqual(february.customers, 2)
      assert.deepStrictEqual(february.months.slice(0, 3), [
        { month: "2025-02-01", monthsSinceSignup: 0, activeCustomers: 1, retention: 0.5 },
        { month: "2025-03-01", monthsSinceSignup: 1, activeCustomers: 1, retention: 0.5 },
        { month: "2025-04-01", monthsSinceSignup: 2, activeCustomers: 0, retention: 0 }
      ])
      // Up to the current month.
      assert.strictEqual(february.months.at(-1)?.month, `${new Date().toISOString().slice(0, 7)}-01`)
    }))

  it.effect("every role reads the reports", () =>
    Effect.gen(function*() {
      for (const role of ["analyst", "service", "admin", "agent"] as const) {
        assert.strictEqual((yield* call("GET", "/api/v1/analytics/fleet", { role })).status, 200)
        assert.strictEqual((yield* call("GET", "/api/v1/analytics/cohorts", { role })).status, 200)
      }
    }))

  it.effect("a window that ends before it starts, or spans more than ten years, is a 400 naming to", () =>
    Effect.gen(function*() {
      for (const query of ["from=2025-02-01&to=2025-01-31", "period=month&from=2000-01-01&to=2025-01-01"]) {
        const problem = yield* expectProblem(
          yield* call("GET", `/api/v1/analytics/fleet?${query}`, { role: "analyst" }),
          400,
          "/problems/invalid-request"
        )
        assert.deepStrictEqual(problem.errors?.map((error) => error.path), [["query", "to"]])
      }
      const problem = yield* expectProblem(
        yield* call("GET", "/api/v1/analytics/fleet?period=year&from=2025-02-30", { role: "analyst" }),
        400,
        "/problems/invalid-request"
      )
      assert.sameMembers(problem.errors?.map((error) => error.path.join(".")) ?? [], ["query.period", "query.from"])
    }))

  it.effect("without a publisher (no NATS) a batch's row goes as it is folded", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const { id } = yield* createCustomer()
      const response = yield* call("POST", `/api/v1/customers/${id}/track`, {
        body: { type: "page_view", occurredAt: "2024-06-01T00:00:00Z" },
        role: "service"
      })
      assert.strictEqual(response.status, 200)
      yield* eventually(
        "the customer's events to be folded",
        sql<{ readonly events: number }>`SELECT events::int FROM customer_activity WHERE customer_id = ${id}`
          .pipe(Effect.orDie),
        (rows) => rows.length === 1
      )
      const [{ batches }] = yield* sql<{ readonly batches: number }>`SELECT count(*)::int AS batches FROM event_batches`
        .pipe(Effect.orDie)
      assert.strictEqual(batches, 0)
    }))
})
