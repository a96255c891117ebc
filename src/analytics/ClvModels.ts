/**
 * The CLV model fitted over the whole customer base: fits are rows of clv_models, queued on demand or by the
 * schedule and run by whichever service process holds the fit lock (a session advisory lock on a reserved
 * connection), so two fits never run at once however many processes there are. A process that dies mid-fit
 * drops its connection and so its lock; the row it left "running" is the next lock holder's first work.
 *
 * The calibration summary is built set-wise in SQL from customer_daily_activity (purchase days, see
 * migrations/0005) and fetched grouped: one row per distinct (x, t_x, T), and per distinct (x, repeat spend)
 * for Gamma-Gamma, not one per customer. The optimiser runs on a worker thread (ClvFitWorker.ts).
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Config, Context, Data, Duration, Effect, Layer, Queue, Schedule } from "effect"
import type { SqlError } from "effect/sql"
import { Worker } from "node:worker_threads"
import type { ClvModel, ClvModelId, FitClvModel } from "../domain/ClvModel.ts"
import { ClvModelNotFound, InvalidPeriod } from "../domain/Errors.ts"
import { errorClass, loggingFailures } from "../platform/BackgroundWork.ts"
import { uuidv7 } from "../platform/Ids.ts"
import type { BgNbdParameters, Fit, GammaGammaParameters, SpendRow, SummaryRow } from "./Clv.ts"
import type { ClvFitInput } from "./ClvFitWorker.ts"

/** A fit that could not produce a model: the reason is stored with the fit. */
class FitFailed extends Data.TaggedError("FitFailed")<{ readonly reason: string }> {}

/** A fit that took its process down this many times is given up rather than retried forever. */
const maxAttempts = 3

const dayMillis = 86_400_000
const utcDay = (millis: number) => new Date(Math.floor(millis / dayMillis) * dayMillis).toISOString().slice(0, 10)

interface ModelRow {
  readonly id: string
  readonly status: ClvModel["status"]
  readonly trigger: ClvModel["trigger"]
  readonly periodFrom: Date | null
  readonly periodTo: Date
  readonly customers: string | null
  readonly repeatCustomers: string | null
  readonly r: number | null
  readonly alpha: number | null
  readonly a: number | null
  readonly b: number | null
  readonly bgNbdLogLikelihood: number | null
  readonly p: number | null
  readonly q: number | null
  readonly v: number | null
  readonly gammaGammaLogLikelihood: number | null
  readonly requestedAt: Date
  readonly startedAt: Date | null
  readonly finishedAt: Date | null
  readonly durationMs: number | null
  readonly error: string | null
}

const iso = (date: Date | null) => (date === null ? null : date.toISOString())

const toModel = (row: ModelRow): ClvModel => ({
  id: row.id as ClvModelId,
  status: row.status,
  trigger: row.trigger,
  period: { from: iso(row.periodFrom), to: row.periodTo.toISOString() },
  customers: row.customers === null ? null : Number(row.customers),
  repeatCustomers: row.repeatCustomers === null ? null : Number(row.repeatCustomers),
  bgNbd: row.r === null || row.alpha === null || row.a === null || row.b === null || row.bgNbdLogLikelihood === null
    ? null
    : { r: row.r, alpha: row.alpha, a: row.a, b: row.b, logLikelihood: row.bgNbdLogLikelihood },
  gammaGamma: row.p === null || row.q === null || row.v === null || row.gammaGammaLogLikelihood === null
    ? null
    : { p: row.p, q: row.q, v: row.v, logLikelihood: row.gammaGammaLogLikelihood },
  requestedAt: row.requestedAt.toISOString(),
  startedAt: iso(row.startedAt),
  finishedAt: iso(row.finishedAt),
  durationMs: row.durationMs,
  error: row.error
})

const modelColumns = `id::text AS id, status, trigger, period_from AS "periodFrom", period_to AS "periodTo",
  customers::text AS customers, repeat_customers::text AS "repeatCustomers", r, alpha, a, b,
  bg_nbd_log_likelihood AS "bgNbdLogLikelihood", p, q, v, gamma_gamma_log_likelihood AS "gammaGammaLogLikelihood",
  requested_at AS "requestedAt", started_at AS "startedAt", finished_at AS "finishedAt",
  duration_ms AS "durationMs", error`

interface FitOutput {
  readonly bgNbd: Fit<BgNbdParameters>
  readonly gammaGamma: Fit<GammaGammaParameters> | null
}

/** Runs both fits on a worker thread; interrupting the effect terminates the thread. */
const fitOnWorker = (input: ClvFitInput) =>
  Effect.callback<FitOutput, FitFailed>((resume) => {
    const worker = new Worker(new URL("./ClvFitWorker.ts", import.meta.url), { workerData: input })
    worker.once("message", (output: FitOutput) => resume(Effect.succeed(output)))
    worker.once("error", (error) => resume(Effect.fail(new FitFailed({ reason: `the fit failed: ${error.message}` }))))
    worker.once("exit", (code) =>
      code === 0 ? undefined : resume(Effect.fail(new FitFailed({ reason: `the fit's thread exited with ${code}` }))))
    return Effect.promise(() => worker.terminate())
  })

export class ClvModels extends Context.Service<ClvModels, {
  /** Queues a fit over the period (default: all history up to now); the job takes it up shortly. */
  request(period: FitClvModel): Effect.Effect<ClvModel, InvalidPeriod>
  /** The latest successful fit. */
  readonly latest: Effect.Effect<ClvModel, ClvModelNotFound>
  /**
   * If this process can take the fit lock: queues the scheduled fit when one is due, then runs every queued
   * (or abandoned) fit, oldest first. Does nothing while another process holds the lock.
   */
  readonly runPending: Effect.Effect<void, SqlError.SqlError>
  /** Resolves when a request was made in this process (the job's cue to look at once). */
  readonly requested: Effect.Effect<void>
}>()("cms/analytics/ClvModels") {
  static readonly layer = Layer.effect(
    ClvModels,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const interval = Duration.hours(yield* Config.Number("CLV_FIT_INTERVAL_HOURS").pipe(Config.withDefault(24)))
      const wake = yield* Queue.sliding<void>(1)

      const request = Effect.fn("ClvModels.request")(function*(period: FitClvModel) {
        const now = yield* Clock.currentTimeMillis
        const from = period.from === undefined ? null : Date.parse(period.from)
        const to = period.to === undefined ? now : Date.parse(period.to)
        // A period ending ahead of the clock would age every customer by days that have not happened.
        if (to > now + 5 * 60_000) return yield* new InvalidPeriod({ field: "to", detail: "`to` is in the future" })
        if (from !== null && from >= to) {
          return yield* new InvalidPeriod({ field: "from", detail: "`from` must be before `to`" })
        }
        // A fit is a pass over every customer: requests for a period already waiting join that fit rather than
        // queue one each (a request without `to` is stored with period_to = requested_at, and joins another such).
        // The transaction's advisory lock keeps two concurrent requests from both finding none and both queueing.
        const samePeriod = period.to === undefined ? sql`period_to = requested_at` : sql`period_to = ${new Date(to)}`
        const row = yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`SELECT pg_advisory_xact_lock(hashtext('cms/analytics/clv-fit-request'))`
          const [waiting] = yield* sql<ModelRow>`SELECT ${sql.unsafe(modelColumns)} FROM clv_models
            WHERE status = 'queued' AND trigger = 'requested'
              AND period_from IS NOT DISTINCT FROM ${from === null ? null : new Date(from)}::timestamptz AND ${samePeriod}
            ORDER BY requested_at LIMIT 1`
          if (waiting !== undefined) return waiting
          const [queued] = yield* sql<ModelRow>`INSERT INTO clv_models (id, status, trigger, period_from, period_to,
              requested_at)
            VALUES (${uuidv7(now)}, 'queued', 'requested', ${from === null ? null : new Date(from)}, ${new Date(to)},
              ${new Date(now)})
            RETURNING ${sql.unsafe(modelColumns)}`
          return queued
        })).pipe(Effect.orDie)
        yield* Queue.offer(wake, undefined)
        return toModel(row)
      })

      const latest = Effect.gen(function*() {
        const [row] = yield* sql<ModelRow>`SELECT ${sql.unsafe(modelColumns)} FROM clv_models
          WHERE status = 'succeeded' ORDER BY finished_at DESC, id DESC LIMIT 1`.pipe(Effect.orDie)
        return row === undefined ? yield* new ClvModelNotFound({}) : toModel(row)
      }).pipe(Effect.withSpan("ClvModels.latest"))

      /** Queues the scheduled fit (all history up to now) when none was requested within the interval. */
      const scheduleIfDue = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        // Nothing to fit before the first purchase: a fresh installation does not pile up failed fits.
        yield* sql`INSERT INTO clv_models (id, status, trigger, period_from, period_to, requested_at)
          SELECT ${uuidv7(now)}, 'queued', 'scheduled', NULL, ${new Date(now)}, ${new Date(now)}
          WHERE NOT EXISTS (SELECT 1 FROM clv_models WHERE requested_at > ${new Date(now - Duration.toMillis(interval))})
            AND EXISTS (SELECT 1 FROM customer_daily_activity WHERE type = 'purchase')`
      })

      /**
       * The calibration summary, grouped. Purchase occasions are the purchase days from the first day of the
       * period to its last (the day before `to`, or `to`'s day when it is not midnight); x counts the days after
       * a customer's first, t_x and T are days / 7 to the last purchase and to the period's last day, and the
       * repeat spend is the revenue of every day but the first.
       */
      const summarise = (fromDay: string | null, lastDay: string) =>
        sql<{ readonly kind: "summary" | "spend"; readonly x: number; readonly d1: number; readonly d2: number; readonly count: number }>`
          WITH days AS (
            SELECT customer_id, day, revenue, min(day) OVER (PARTITION BY customer_id) AS first_day
            FROM customer_daily_activity
            WHERE type = 'purchase' AND day <= ${lastDay}::date
              ${fromDay === null ? sql`` : sql`AND day >= ${fromDay}::date`}
          ),
          customers AS (
            SELECT count(*)::int - 1 AS x, min(day) AS first_day, max(day) AS last_day,
              coalesce(sum(revenue) FILTER (WHERE day > first_day), 0)::float8 AS repeat_revenue
            FROM days GROUP BY customer_id
          )
          SELECT 'summary' AS kind, x, (last_day - first_day)::float8 AS d1, (${lastDay}::date - first_day)::float8 AS d2,
            count(*)::int AS count
          FROM customers GROUP BY x, last_day - first_day, first_day
          UNION ALL
          SELECT 'spend', x, repeat_revenue, 0, count(*)::int
          FROM customers WHERE x > 0 AND repeat_revenue > 0 GROUP BY x, repeat_revenue`

      /** Builds the summary, fits, and stores the model; a reason to give up is a FitFailed. */
      const fit = (id: string, periodFrom: Date | null, periodTo: Date, startedAt: number) =>
        Effect.gen(function*() {
          const lastDay = utcDay(periodTo.getTime() - 1)
          const rows = yield* summarise(periodFrom === null ? null : utcDay(periodFrom.getTime()), lastDay)
          const summary: Array<SummaryRow> = []
          const spend: Array<SpendRow> = []
          for (const row of rows) {
            if (row.kind === "summary") summary.push({ x: row.x, tX: row.d1 / 7, T: row.d2 / 7, count: row.count })
            else spend.push({ x: row.x, meanSpend: row.d1 / row.x, count: row.count })
          }
          const customers = summary.reduce((n, row) => n + (row.count ?? 1), 0)
          const repeatCustomers = summary.reduce((n, row) => (row.x > 0 ? n + (row.count ?? 1) : n), 0)
          if (customers === 0) return yield* new FitFailed({ reason: "no purchases in the period" })
          // With no repeat purchase the likelihood has no maximum (r tends to 0): no model to give.
          if (repeatCustomers === 0) return yield* new FitFailed({ reason: "no repeat purchases in the period" })
          const output = yield* fitOnWorker({ summary, spend })
          if (!output.bgNbd.converged) return yield* new FitFailed({ reason: "BG/NBD did not converge" })
          if (output.gammaGamma !== null && !output.gammaGamma.converged) {
            return yield* new FitFailed({ reason: "Gamma-Gamma did not converge" })
          }
          const finishedAt = yield* Clock.currentTimeMillis
          const bg = output.bgNbd.parameters
          const gg = output.gammaGamma
          yield* sql`UPDATE clv_models SET status = 'succeeded', customers = ${customers},
              repeat_customers = ${repeatCustomers}, r = ${bg.r}, alpha = ${bg.alpha}, a = ${bg.a}, b = ${bg.b},
              bg_nbd_log_likelihood = ${output.bgNbd.logLikelihood},
              p = ${gg?.parameters.p ?? null}, q = ${gg?.parameters.q ?? null}, v = ${gg?.parameters.v ?? null},
              gamma_gamma_log_likelihood = ${gg?.logLikelihood ?? null},
              finished_at = ${new Date(finishedAt)}, duration_ms = ${finishedAt - startedAt}, error = NULL
            WHERE id = ${id} AND status = 'running'`
          yield* Effect.logInfo("clv: model fitted").pipe(Effect.annotateLogs({
            id,
            customers,
            repeatCustomers,
            durationMs: finishedAt - startedAt
          }))
        })

      const markFailed = (id: string, reason: string) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          sql`UPDATE clv_models SET status = 'failed', error = ${reason}, finished_at = ${new Date(now)},
              duration_ms = extract(epoch FROM ${new Date(now)}::timestamptz - started_at) * 1000
            WHERE id = ${id} AND status = 'running'`)

      /** Takes the oldest queued fit, or one a dead process left running (only the lock holder runs fits). */
      const claimNext = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const [claimed] = yield* sql<
          { readonly id: string; readonly periodFrom: Date | null; readonly periodTo: Date; readonly attempts: number }
        >`UPDATE clv_models SET status = 'running', started_at = ${new Date(now)}, attempts = attempts + 1
          WHERE id = (SELECT id FROM clv_models WHERE status IN ('queued', 'running')
            ORDER BY requested_at, id LIMIT 1)
          RETURNING id::text AS id, period_from AS "periodFrom", period_to AS "periodTo", attempts`
        return claimed === undefined ? undefined : { ...claimed, startedAt: now }
      })

      const runClaimed = (claimed: { id: string; periodFrom: Date | null; periodTo: Date; attempts: number; startedAt: number }) =>
        claimed.attempts > maxAttempts
          ? markFailed(claimed.id, `gave up after ${maxAttempts} attempts that did not finish`)
          : fit(claimed.id, claimed.periodFrom, claimed.periodTo, claimed.startedAt).pipe(
            Effect.catchTag("FitFailed", (failure) =>
              Effect.andThen(
                Effect.logWarning("clv: fit failed").pipe(Effect.annotateLogs({ id: claimed.id, reason: failure.reason })),
                markFailed(claimed.id, failure.reason)
              )),
            // Our own faults (the database going away mid-fit) are recorded by class only: a driver's message
            // can quote a row. The row is failed, so one bad fit does not block the queue.
            Effect.catchTag("SqlError", (error) =>
              Effect.andThen(
                Effect.logWarning("clv: fit failed").pipe(Effect.annotateLogs({ id: claimed.id, error: errorClass(error) })),
                markFailed(claimed.id, `internal error (${errorClass(error)})`)
              ))
          )

      const runPending = Effect.scoped(Effect.gen(function*() {
        const connection = yield* sql.reserve
        const [{ locked }] = yield* connection.execute(
          "SELECT pg_try_advisory_lock(hashtext('cms/analytics/clv-fit')) AS locked",
          [],
          undefined
        ) as Effect.Effect<ReadonlyArray<{ readonly locked: boolean }>, SqlError.SqlError>
        if (!locked) return
        // Released before the connection goes back to the pool; a dropped connection releases it by itself.
        yield* Effect.addFinalizer(() =>
          connection.execute("SELECT pg_advisory_unlock(hashtext('cms/analytics/clv-fit'))", [], undefined).pipe(
            loggingFailures("clv: releasing the fit lock failed")
          )
        )
        yield* scheduleIfDue
        while (true) {
          const claimed = yield* claimNext
          if (claimed === undefined) return
          yield* runClaimed(claimed)
        }
      })).pipe(Effect.withSpan("ClvModels.runPending"))

      return ClvModels.of({ request, latest, runPending, requested: Queue.take(wake) })
    })
  )
}

/**
 * The fit job: every CLV_FIT_POLL_SECONDS (default 5), or at once after a request in this process, looks for
 * work (runPending). The schedule itself (CLV_FIT_INTERVAL_HOURS) is kept in the table, so it holds across
 * restarts and processes.
 */
export const ClvFitJobLive = Layer.effectDiscard(Effect.gen(function*() {
  const models = yield* ClvModels
  const poll = Duration.seconds(yield* Config.Number("CLV_FIT_POLL_SECONDS").pipe(Config.withDefault(5)))
  const tick = models.runPending.pipe(loggingFailures("clv: fit job failed"))
  yield* Effect.forkScoped(
    tick.pipe(
      Effect.andThen(Effect.raceFirst(Effect.sleep(poll), models.requested)),
      Effect.repeat(Schedule.forever)
    )
  )
}))
