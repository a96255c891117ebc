/**
 * The CLV fit over the whole customer base, end to end: the CDNOW purchase days in customer_daily_activity,
 * a fit requested over the published calibration period, and the published parameters read back; the fit
 * lock (one fit at a time across processes) and a fit left running by a crash taken up again.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { CustomerAnalytics } from "../../src/domain/Analytics.ts"
import type { ClvModel } from "../../src/domain/ClvModel.ts"
import type { BatchResult } from "../../src/domain/Event.ts"
import { purchaseDays, transactions } from "../support/Cdnow.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, expectProblem } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

const modelPath = "/api/v1/analytics/models/clv"
const calibration = { from: "1997-01-01T00:00:00Z", to: "1997-10-01T00:00:00Z" }

/** CDNOW customer n as a customer of the service. */
const customerId = (n: number) => `0190a5e4-0000-7000-8000-${n.toString(16).padStart(12, "0")}`

/** The 2,357 CDNOW customers and their purchase days (every day of 1997-1998), plus page views the fit ignores. */
const loadCdnow = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* sql`INSERT INTO customers (id, email, name, consent)
    SELECT ('0190a5e4-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, 'cdnow.' || n || '@example.com',
      'CDNOW ' || n, '{"marketing": false, "dataProcessing": true}'
    FROM generate_series(1, 2357) AS n`
  const days = purchaseDays().map(({ customer, day, dollars, transactions }) => ({
    customer_id: customerId(customer),
    day,
    events: transactions,
    revenue: dollars
  }))
  yield* sql`INSERT INTO customer_daily_activity (customer_id, day, type, events, revenue)
    SELECT customer_id, day, 'purchase', events, revenue
    FROM jsonb_to_recordset(${JSON.stringify(days)}::jsonb) AS t(customer_id uuid, day date, events int, revenue numeric)`
  // Other activity on other days must not count as purchase occasions.
  yield* sql`INSERT INTO customer_daily_activity (customer_id, day, type, events)
    SELECT id, DATE '1997-06-15', 'page_view', 3 FROM customers`
}).pipe(Effect.orDie)

const fit = (body?: unknown, role: "admin" | "analyst" | "agent" = "analyst") =>
  call("POST", `${modelPath}/fit`, { role, ...(body === undefined ? {} : { body }) })

/** Waits until the model in force is the fit `id`. */
const fitted = (id: string) =>
  eventually(
    `fit ${id}`,
    Effect.flatMap(call("GET", modelPath), (response) =>
      response.status === 200 ? json<ClvModel>(response) : Effect.succeed(undefined)),
    (model) => model?.id === id,
    60_000
  ).pipe(Effect.map((model) => model!))

const within = (actual: number | undefined, expected: number, what: string) =>
  assert.isAtMost(Math.abs((actual ?? Number.NaN) - expected) / expected, 0.01, `${what}: ${actual} vs ${expected}`)

/** Fader, Hardie & Lee's CDNOW fits over the calibration period, each parameter within 1 %. */
const expectPublishedFit = (model: ClvModel) => {
  assert.strictEqual(model.customers, 2357)
  assert.strictEqual(model.repeatCustomers, 946)
  within(model.bgNbd?.r, 0.243, "r")
  within(model.bgNbd?.alpha, 4.414, "alpha")
  within(model.bgNbd?.a, 0.793, "a")
  within(model.bgNbd?.b, 2.426, "b")
  within(model.gammaGamma?.p, 6.25, "p")
  within(model.gammaGamma?.q, 3.74, "q")
  within(model.gammaGamma?.v, 15.44, "v")
}

layer(testServiceWithDatabase({ env: { CLV_FIT_POLL_SECONDS: "1" } }), { excludeTestServices: true })(
  "the CLV model",
  (it) => {
    it.effect("before any fit there is no model (404)", () =>
      Effect.gen(function*() {
        yield* expectProblem(yield* call("GET", modelPath), 404, "/problems/clv-model-not-found")
      }))

    it.effect("a fit over the CDNOW calibration period gives the published parameters (each within 1 %)", () =>
      Effect.gen(function*() {
        yield* loadCdnow
        const response = yield* fit(calibration)
        assert.strictEqual(response.status, 202)
        const queued = yield* json<ClvModel>(response)
        assert.strictEqual(queued.status, "queued")
        assert.deepStrictEqual(queued.period, { from: "1997-01-01T00:00:00.000Z", to: "1997-10-01T00:00:00.000Z" })

        const model = yield* fitted(queued.id)
        assert.strictEqual(model.status, "succeeded")
        expectPublishedFit(model)
        assert.closeTo(model.bgNbd?.logLikelihood ?? 0, -9582.4, 0.1)
        assert.isNumber(model.durationMs)
        assert.isString(model.startedAt)
        assert.isString(model.finishedAt)
        console.log(`CDNOW fit: ${JSON.stringify({ bgNbd: model.bgNbd, gammaGamma: model.gammaGamma })} in ${model.durationMs} ms`)
      }))

    it.effect("without a body the fit covers all history up to now", () =>
      Effect.gen(function*() {
        const response = yield* fit()
        assert.strictEqual(response.status, 202)
        const queued = yield* json<ClvModel>(response)
        assert.isNull(queued.period.from)
        const model = yield* fitted(queued.id)
        assert.strictEqual(model.customers, 2357)
      }))

    it.effect("while another process holds the fit lock, a requested fit waits; it runs once the lock is free", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        yield* Effect.scoped(Effect.gen(function*() {
          const connection = yield* sql.reserve
          yield* connection.execute("SELECT pg_advisory_lock(hashtext('cms/analytics/clv-fit'))", [], undefined)
          const queued = yield* json<ClvModel>(yield* fit(calibration))
          yield* Effect.sleep("3 seconds")
          const [row] = yield* sql<{ readonly status: string }>`SELECT status FROM clv_models WHERE id = ${queued.id}`
          assert.strictEqual(row.status, "queued")
          yield* connection.execute("SELECT pg_advisory_unlock(hashtext('cms/analytics/clv-fit'))", [], undefined)
          const model = yield* fitted(queued.id)
          assert.strictEqual(model.status, "succeeded")
        })).pipe(Effect.orDie)
      }))

    it.effect("a fit left running by a process that died is taken up again and finished", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const id = crypto.randomUUID()
        yield* sql`INSERT INTO clv_models (id, status, trigger, period_from, period_to, requested_at, started_at, attempts)
          VALUES (${id}, 'running', 'requested', ${calibration.from}, ${calibration.to}, now(), now(), 1)`.pipe(
          Effect.orDie
        )
        const model = yield* fitted(id)
        assert.strictEqual(model.repeatCustomers, 946)
        const [row] = yield* sql<{ readonly attempts: number }>`SELECT attempts FROM clv_models WHERE id = ${id}`.pipe(
          Effect.orDie
        )
        assert.strictEqual(row.attempts, 2)
      }))

    it.effect("an empty period is refused (422) and nothing is queued", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const count = sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM clv_models`.pipe(Effect.orDie)
        const [before] = yield* count
        const problem = yield* expectProblem(
          yield* fit({ from: calibration.to, to: calibration.from }),
          422,
          "/problems/invalid-period"
        )
        assert.strictEqual(problem.field, "from")
        yield* expectProblem(yield* fit({ to: "2999-01-01T00:00:00Z" }), 422, "/problems/invalid-period")
        assert.deepStrictEqual(yield* count, [before])
      }))

    it.effect("an agent reads the model but may not fit it (403)", () =>
      Effect.gen(function*() {
        assert.strictEqual((yield* call("GET", modelPath, { role: "agent" })).status, 200)
        yield* expectProblem(yield* fit(calibration, "agent"), 403, "/problems/forbidden")
      }))
  }
)

layer(testServiceWithDatabase({ env: { CLV_FIT_POLL_SECONDS: "1" } }), { excludeTestServices: true })(
  "the CLV model from events tracked through the batch endpoint",
  (it) => {
    it.effect("CDNOW's 6,919 purchases, tracked and folded, fit to the published parameters (each within 1 %)", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        yield* sql`INSERT INTO customers (id, email, name, consent)
          SELECT ('0190a5e4-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, 'cdnow.' || n || '@example.com',
            'CDNOW ' || n, '{"marketing": false, "dataProcessing": true}'
          FROM generate_series(1, 2357) AS n`.pipe(Effect.orDie)
        // Each transaction a purchase event at noon UTC of its day, its dollars the revenue.
        const events = transactions().map(({ customer, day, dollars }) => ({
          customerId: customerId(customer),
          type: "purchase",
          occurredAt: `${day}T12:00:00Z`,
          revenue: dollars,
          currency: "USD"
        }))
        for (let start = 0; start < events.length; start += 1_000) {
          const response = yield* call("POST", "/api/v1/events/batch", {
            body: { events: events.slice(start, start + 1_000) },
            role: "service"
          })
          const result = yield* json<BatchResult>(response)
          assert.strictEqual(result.stored, Math.min(1_000, events.length - start))
        }
        yield* eventually(
          "every batch to be folded",
          sql<{ readonly waiting: number }>`SELECT count(*)::int AS waiting FROM event_batches WHERE folded_at IS NULL`
            .pipe(Effect.orDie),
          ([row]) => row.waiting === 0,
          60_000
        )

        expectPublishedFit(yield* fitted((yield* json<ClvModel>(yield* fit(calibration))).id))

        // And each customer is scored with it: a repeat buyer of 1997 has long lapsed by now.
        const analytics = yield* eventually(
          "the customer's analytics to be scored with the fit",
          Effect.flatMap(call("GET", `/api/v1/customers/${customerId(2)}/analytics`), json<CustomerAnalytics>),
          (found) => found.clv.status === "scored",
          90_000
        )
        assert.strictEqual(analytics.clv.status, "scored")
        if (analytics.clv.status === "scored") {
          assert.isBelow(analytics.clv.probabilityAlive, 0.5)
          assert.closeTo(analytics.clv.churnRisk, 1 - analytics.clv.probabilityAlive, 1e-12)
        }
      }), 180_000)
  }
)
