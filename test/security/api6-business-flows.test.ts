/**
 * OWASP API6:2023 Unrestricted Access to Sensitive Business Flows. The flows
 * an automated caller could abuse here: guessing an email-verification token
 * (taking over an address), and flooding the expensive background work a
 * single request starts (a segment's calculation, a CLV refit). Guessing is hopeless by
 * design (a 192-bit single-use token, no lockout that would let anyone block a
 * customer's verification), and repeated requests join the job queued or
 * running, so a segment's jobs never run side by side.
 * The same holds for refits of the CLV model (a pass over every customer).
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { customersPath, uniqueEmail } from "../support/Customers.ts"
import { outboxRows, testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem, getCustomer } from "../support/Http.ts"
import { createSegment, dynamicSegment, segmentPath } from "../support/SegmentsApi.ts"
import { changesNothing } from "../support/Security.ts"
import { json } from "../support/TestService.ts"

layer(testServiceWithDatabase(), { excludeTestServices: true })("API6 sensitive business flows", (it) => {
  it.effect("a verification token cannot be guessed: 192 random bits, and 200 guesses change nothing", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const path = `${customersPath}/${customer.id}`
      assert.strictEqual((yield* call("PATCH", path, { body: { email: uniqueEmail("takeover") } })).status, 200)
      const [request] = yield* outboxRows(`customers.${customer.id}.email-verification-requested`)
      const token = request.payload.token!
      // base64url of 24 random bytes: 32 characters, 192 bits.
      assert.match(token, /^[A-Za-z0-9_-]{32}$/)
      const guesses = Array.from({ length: 200 }, (_, i) => `${token.slice(0, 31)}${i.toString(36)}`.padEnd(32, "A"))
        .filter((guess) => guess !== token)
      const before = yield* getCustomer(customer.id)
      yield* changesNothing(Effect.forEach(guesses, (guess) =>
        Effect.gen(function*() {
          const response = yield* call("POST", `${path}/email/verify`, { body: { token: guess } })
          yield* expectProblem(response, 422, "/problems/invalid-verification-token")
        }), { concurrency: 8 }))
      assert.deepStrictEqual(yield* getCustomer(customer.id), before)
      // No lockout: the owner's token still works after the guesses.
      assert.strictEqual((yield* call("POST", `${path}/email/verify`, { body: { token } })).status, 200)
      yield* expectProblem(
        yield* call("POST", `${path}/email/verify`, { body: { token } }),
        422,
        "/problems/invalid-verification-token"
      )
    }))

  it.effect("fifty concurrent calculation requests for one segment never run two of its jobs at once", () =>
    Effect.gen(function*() {
      const segment = yield* createSegment(dynamicSegment())
      const answers = yield* Effect.forEach(
        Array.from({ length: 50 }),
        () => call("POST", `${segmentPath(segment.id)}/calculate`),
        { concurrency: 50 }
      )
      assert.isTrue(answers.every((response) => response.status === 202))
      const answered = new Set(yield* Effect.forEach(answers, (response) =>
        Effect.map(json<{ readonly id: string }>(response), (calculation) => calculation.id)))
      const jobs = yield* eventually(
        "every calculation to finish",
        Effect.flatMap(PgClient.PgClient, (sql) =>
          sql<{ readonly id: string; readonly status: string; readonly started: Date | null; readonly finished: Date | null }>`
            SELECT id::text AS id, status, started_at AS started, finished_at AS finished FROM segment_calculations
            WHERE segment_id = ${segment.id} ORDER BY started_at NULLS LAST, id`.pipe(Effect.orDie)),
        (rows) => rows.every((row) => row.status === "succeeded"),
        30_000
      )
      // A request joins the job already queued or running: each answer names a job, and the jobs ran one after another.
      const ids = new Set(jobs.map((job) => job.id))
      assert.isTrue([...answered].every((id) => ids.has(id)))
      for (let i = 1; i < jobs.length; i++) {
        assert.isAtLeast(jobs[i].started!.getTime(), jobs[i - 1].finished!.getTime(), `job ${i} overlapped job ${i - 1}`)
      }
      assert.isBelow(jobs.length, 51)
    }))

  it.effect("thirty concurrent refit requests for one period, while fits wait, queue a single fit", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* Effect.scoped(Effect.gen(function*() {
        // Holding the fit lock as another process would: the requested fits wait, so the requests find them queued.
        const connection = yield* sql.reserve
        yield* connection.execute("SELECT pg_advisory_lock(hashtext('cms/analytics/clv-fit'))", [], undefined)
        const fit = (body: Record<string, string>) =>
          Effect.flatMap(
            call("POST", "/api/v1/analytics/models/clv/fit", { role: "analyst", body }),
            (response) => Effect.map(json<{ readonly id: string }>(response), (model) => ({ status: response.status, id: model.id }))
          )
        for (const body of [{ to: "2026-01-01T00:00:00Z" }, {}]) {
          const answers = yield* Effect.forEach(Array.from({ length: 30 }), () => fit(body), { concurrency: 30 })
          assert.isTrue(answers.every((answer) => answer.status === 202))
          assert.strictEqual(new Set(answers.map((answer) => answer.id)).size, 1, JSON.stringify(body))
        }
        // Another period is another fit.
        const other = yield* fit({ from: "2025-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z" })
        const [queued] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM clv_models
          WHERE trigger = 'requested' AND status = 'queued'`
        assert.strictEqual(queued.n, 3)
        assert.strictEqual(other.status, 202)
        yield* connection.execute("SELECT pg_advisory_unlock(hashtext('cms/analytics/clv-fit'))", [], undefined)
      })).pipe(Effect.orDie)
    }))
})
