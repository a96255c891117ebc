/**
 * Calculation of dynamic segments as a durable job: rows of
 * segment_calculations (migrations/0010), queued on request, when a segment
 * is created, when its criteria change, and when the members of a segment its
 * criteria name change; claimed by any service process with FOR UPDATE SKIP
 * LOCKED, so several processes share the queue and never run one job twice.
 *
 * A run first asks the rules engine (when the criteria name rules), outside any
 * transaction, renewing its claim's lease meanwhile; then it is one
 * transaction: it locks its job row (other processes' claims skip
 * it) and the segment's row (concurrent erasures and definition changes wait),
 * evaluates the criteria set-wise (CriteriaSql.ts) over the live customers at
 * one instant, closes the stays of members who no longer match, opens stays for
 * customers who newly match, writes the joins and leaves to the outbox in
 * batches, and records the counts on the segment and the job. A crash anywhere
 * rolls all of it back; the job is claimed again once its lease has passed and
 * recalculates from the table's state.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Config, Context, Data, Duration, Effect, Layer, Option, Queue, Ref, Schedule } from "effect"
import { SqlError, type Statement } from "effect/sql"
import { SegmentNotFound } from "../domain/Errors.ts"
import type {
  SegmentCalculation,
  SegmentCalculationId,
  SegmentCalculationStatus,
  SegmentCalculationTrigger
} from "../domain/SegmentCalculation.ts"
import type { RuleId } from "../domain/Rules.ts"
import { effectiveCriteria } from "../domain/Segment.ts"
import type { Criterion, SegmentId } from "../domain/SegmentCriteria.ts"
import { maxCustomersPerMembershipEvent, segmentsStream } from "../domain/SegmentEvents.ts"
import { ClvModels } from "../analytics/ClvModels.ts"
import { errorClass, loggingFailures, repeatLoggingFailures } from "../platform/BackgroundWork.ts"
import { uuidv7 } from "../platform/Ids.ts"
import { Nats } from "../platform/Nats.ts"
import { Outbox } from "../platform/Outbox.ts"
import { RulesEngine } from "../platform/RulesEngine.ts"
import { rulesNamed } from "./CriteriaReferences.ts"
import { calculationSettings, defaultCalculationWorkMem, matchingCustomers } from "./CriteriaSql.ts"
import { currentEvaluationContext } from "./Evaluation.ts"
import { lifetimeValueFactors } from "./LifetimeValue.ts"
import { membershipEventsToFill } from "./MembershipEvents.ts"
import { fetchRuleMatches, type RuleMatches, storeRuleMatches } from "./RuleMatches.ts"

/** A job that took its process down this many times is given up rather than retried for ever. */
const maxAttempts = 3

/** A request that keeps meeting a pending job finished meanwhile gives up after this many tries (never seen). */
const maxRequestTries = 5

/** The run cannot produce members: the reason is stored with the job. */
class CalculationFailed extends Data.TaggedError("CalculationFailed")<{ readonly reason: string }> {}

/** Another process claimed the job after this one's lease passed: that process's run is the one that counts. */
class ClaimLost extends Data.TaggedError("ClaimLost")<{}> {}

interface CalculationRow {
  readonly id: SegmentCalculationId
  readonly segment_id: SegmentId
  readonly status: SegmentCalculationStatus
  readonly trigger: SegmentCalculationTrigger
  readonly requested_at: Date
  readonly started_at: Date | null
  readonly finished_at: Date | null
  readonly attempts: number
  readonly members: number | null
  readonly joined: number | null
  readonly departed: number | null
  readonly duration_ms: number | null
  readonly error: string | null
  readonly phase: RunningPhase | null
  readonly progress: number | null
}

/** What a running calculation is doing, as its row records it. */
type RunningPhase = "asking-rules-engine" | "calculating"

const calculationColumns = "id, segment_id, status, trigger, requested_at, started_at, finished_at, attempts, " +
  "members, joined, departed, duration_ms, error, phase, progress"

/** The phase and its share done: stored while running, implied by the status otherwise. */
const progressOf = (row: CalculationRow): Pick<SegmentCalculation, "phase" | "progress"> => {
  switch (row.status) {
    case "queued":
      return { phase: "queued", progress: 0 }
    case "running":
      return { phase: row.phase ?? "calculating", progress: row.phase === "asking-rules-engine" ? row.progress ?? 0 : null }
    case "succeeded":
      return { phase: "finished", progress: 1 }
    case "failed":
      return { phase: "finished", progress: null }
  }
}

const iso = (date: Date | null) => (date === null ? null : date.toISOString())

const toCalculation = (row: CalculationRow): SegmentCalculation => ({
  id: row.id,
  segmentId: row.segment_id,
  status: row.status,
  trigger: row.trigger,
  requestedAt: row.requested_at.toISOString(),
  startedAt: iso(row.started_at),
  finishedAt: iso(row.finished_at),
  attempts: row.attempts,
  members: row.members,
  joined: row.joined,
  left: row.departed,
  ...progressOf(row),
  durationMs: row.duration_ms,
  error: row.error
})

interface Claimed {
  readonly id: SegmentCalculationId
  readonly segmentId: SegmentId
  readonly attempts: number
  /** The run's one instant: the criteria are evaluated at it and the stays open and close at it. */
  readonly startedAt: number
}

export class SegmentCalculations extends Context.Service<SegmentCalculations, {
  /**
   * Queues a calculation of the segment unless one is pending, as a statement: for the transaction (or the
   * statement) that creates the segment or changes its criteria, so that the change and its recalculation
   * are committed together.
   */
  queueStatement(segmentId: SegmentId, trigger: SegmentCalculationTrigger, at: Date): Statement.Statement<unknown>
  /** Queues a calculation, or answers the one already queued or running. */
  request(segmentId: SegmentId, trigger: SegmentCalculationTrigger): Effect.Effect<SegmentCalculation, SegmentNotFound>
  find(segmentId: SegmentId, id: SegmentCalculationId): Effect.Effect<Option.Option<SegmentCalculation>>
  /**
   * Queues a calculation of every segment whose criteria name this one (unless one is pending): its members
   * changed outside a calculation (by hand).
   */
  recalculateDependents(segmentId: SegmentId): Effect.Effect<void>
  /**
   * Queues a calculation (unless one is pending) of every dynamic segment whose criteria read the clock and
   * whose last calculation is `every` old or more (or that was never calculated); how many were due.
   */
  queueClockDependent(every: Duration.Duration): Effect.Effect<number>
  /** Tells this process's runner there is work, so it need not wait for its next poll. */
  readonly wake: Effect.Effect<void>
  /** Resolves when `wake` was called. */
  readonly woken: Effect.Effect<void>
  /** Claims and runs jobs, one after another, until none is left to claim; how many it ran. */
  readonly runPending: Effect.Effect<number, SqlError.SqlError>
}>()("cms/segments/SegmentCalculations") {
  static readonly layer = Layer.effect(
    SegmentCalculations,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const outbox = yield* Outbox
      const models = yield* ClvModels
      const rulesEngine = yield* RulesEngine
      const lease = Duration.seconds(
        yield* Config.Number("SEGMENT_CALCULATION_LEASE_SECONDS").pipe(Config.withDefault(60))
      )
      const workMem = yield* Config.String("SEGMENT_CALCULATION_WORK_MEM").pipe(
        Config.withDefault(defaultCalculationWorkMem)
      )
      const wakeUps = yield* Queue.sliding<void>(1)
      const columns = sql.literal(calculationColumns)
      const wake = Queue.offer(wakeUps, undefined).pipe(Effect.asVoid)

      const queueStatement = (segmentId: SegmentId, trigger: SegmentCalculationTrigger, at: Date) =>
        sql`INSERT INTO segment_calculations (id, segment_id, status, trigger, requested_at)
          VALUES (${uuidv7(at.getTime())}, ${segmentId}, 'queued', ${trigger}, ${at})
          ON CONFLICT (segment_id) WHERE status IN ('queued', 'running') DO NOTHING`

      const queueClockDependent = Effect.fn("SegmentCalculations.queueClockDependent")(function*(
        every: Duration.Duration
      ) {
        const now = yield* Clock.currentTimeMillis
        const due = yield* sql<{ readonly id: SegmentId }>`SELECT id FROM customer_segments
          WHERE type = 'dynamic'
            AND (last_calculated_at IS NULL OR last_calculated_at <= ${new Date(now - Duration.toMillis(every))})
            AND jsonb_path_exists(criteria, ${clockDependentCriteria}::jsonpath)`.pipe(Effect.orDie)
        for (const { id } of due) yield* queueStatement(id, "scheduled", new Date(now)).pipe(Effect.orDie)
        if (due.length > 0) yield* wake
        return due.length
      })

      /**
       * The new job, or the pending one it met. A pending job committed by a concurrent request after this
       * statement began is not in its snapshot (nor finished meanwhile): then the statement runs again.
       */
      const request = Effect.fn("SegmentCalculations.request")(function*(
        segmentId: SegmentId,
        trigger: SegmentCalculationTrigger
      ) {
        for (let tries = 0; tries < maxRequestTries; tries++) {
          const at = new Date(yield* Clock.currentTimeMillis)
          const rows = yield* sql<CalculationRow>`WITH inserted AS (
                ${queueStatement(segmentId, trigger, at)} RETURNING ${columns}
              )
            SELECT ${columns} FROM inserted
            UNION ALL
            SELECT ${columns} FROM segment_calculations
            WHERE segment_id = ${segmentId} AND status IN ('queued', 'running')`.pipe(
            Effect.catchIf(
              (error) => error.reason._tag === "ConstraintError",
              () => Effect.fail(new SegmentNotFound({ segmentId }))
            ),
            Effect.catchTag("SqlError", Effect.die)
          )
          if (rows[0] !== undefined) {
            yield* wake
            return toCalculation(rows[0])
          }
        }
        return yield* Effect.die(new Error("a pending calculation kept finishing while being looked up"))
      })

      const find = Effect.fn("SegmentCalculations.find")(function*(segmentId: SegmentId, id: SegmentCalculationId) {
        const rows = yield* sql<CalculationRow>`SELECT ${columns} FROM segment_calculations
          WHERE id = ${id} AND segment_id = ${segmentId}`.pipe(Effect.orDie)
        return Option.map(Option.fromNullishOr(rows[0]), toCalculation)
      })

      /**
       * The oldest queued job, or one whose process died after claiming it (its lease passed and no run holds
       * its row). SKIP LOCKED: processes claiming at once take different jobs, and a run in progress is skipped.
       */
      const claimNext = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const [claimed] = yield* sql<{ readonly id: SegmentCalculationId; readonly segment_id: SegmentId; readonly attempts: number }>`
          UPDATE segment_calculations SET status = 'running', started_at = ${new Date(now)},
              phase = NULL, progress = NULL,
              lease_expires_at = ${new Date(now + Duration.toMillis(lease))}, attempts = attempts + 1
          WHERE id = (
            SELECT id FROM segment_calculations
            WHERE status IN ('queued', 'running') AND (status = 'queued' OR lease_expires_at < ${new Date(now)})
            ORDER BY requested_at, id LIMIT 1
            FOR UPDATE SKIP LOCKED
          )
          RETURNING id, segment_id, attempts`
        return claimed === undefined
          ? Option.none<Claimed>()
          : Option.some<Claimed>({ id: claimed.id, segmentId: claimed.segment_id, attempts: claimed.attempts, startedAt: now })
      })

      /** The diff of the segment's current members against the customers its criteria match now. */
      const applyDiff = (claimed: Claimed, criteria: Criterion, fetched: RuleMatches) =>
        Effect.gen(function*() {
          const context = { ...(yield* currentEvaluationContext.pipe(Effect.provideService(ClvModels, models))), now: claimed.startedAt }
          // The engine's answers, asked before the transaction; rules the criteria came to name since (a change
          // committed meanwhile) are asked now, inside it.
          const named = rulesNamed(criteria)
          const late = yield* fetchRuleMatches(sql, rulesEngine, named.filter((ruleId) => !fetched.has(ruleId)), () => Effect.void)
          const ruleMatches = yield* storeRuleMatches(
            sql,
            new Map(named.map((ruleId) => [ruleId, fetched.get(ruleId) ?? late.get(ruleId) ?? []]))
          )
          // Lifetime value's factors per (x, T) (none read unless the criteria name lifetime value).
          const lifetimeValue = yield* lifetimeValueFactors(sql, [criteria], context)
          const at = new Date(claimed.startedAt)
          yield* calculationSettings(sql, workMem)
          // The matches in a table of the transaction's own, with its statistics: compared with the current
          // stays as a CTE, whose size the planner cannot know, the leaves became a nested loop over both sets
          // (42 s for 33,000 members where the predicate alone took 0.5 s).
          // CREATE TABLE AS, not INSERT: PostgreSQL may run its query in parallel workers (an INSERT's never),
          // 1.3 s instead of 5.3 s for a profile-only shape over 1,000,000 customers.
          yield* sql`CREATE TEMP TABLE segment_matches (customer_id) ON COMMIT DROP AS
            ${matchingCustomers(sql, criteria, { ...context, ruleMatches, lifetimeValueFactors: lifetimeValue })}`
          yield* sql`ALTER TABLE segment_matches ADD PRIMARY KEY (customer_id)`
          yield* sql`ANALYZE segment_matches`
          const [{ members }] = yield* sql<{ readonly members: number }>`SELECT count(*)::int AS members
            FROM segment_matches`
          // The run's joins and leaves stay in the database, in a table of the transaction's own: the events are
          // built from it set-wise (Outbox.appendFilled), so a million ids never travel to the service and back.
          yield* sql`CREATE TEMP TABLE segment_changes (type text NOT NULL, customer_id uuid NOT NULL) ON COMMIT DROP`
          // Joins first: the stays they open match, so the leaves below cannot close them. The current stay's
          // unique index decides who is new: a NOT EXISTS probe, planned on the statistics of a segment with no
          // members yet, became a scan of the rows this very statement inserts, per row (13 s for 33,000 joins).
          const [{ joined }] = yield* sql<{ readonly joined: number }>`WITH opened AS (
              INSERT INTO customer_segment_memberships (segment_id, customer_id, joined_at)
              SELECT ${claimed.segmentId}, s.customer_id, ${at} FROM segment_matches s
              ON CONFLICT (segment_id, customer_id) WHERE left_at IS NULL DO NOTHING
              RETURNING customer_id
            ), kept AS (
              INSERT INTO segment_changes (type, customer_id) SELECT 'segment.joined', customer_id FROM opened
              RETURNING 1
            )
            SELECT count(*)::int AS joined FROM kept`
          const [{ left }] = yield* sql<{ readonly left: number }>`WITH closed AS (
              UPDATE customer_segment_memberships m
              SET left_at = greatest(m.joined_at, ${at})
              WHERE m.segment_id = ${claimed.segmentId} AND m.left_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM segment_matches s WHERE s.customer_id = m.customer_id)
              RETURNING m.customer_id
            ), kept AS (
              INSERT INTO segment_changes (type, customer_id) SELECT 'segment.left', customer_id FROM closed
              RETURNING 1
            )
            SELECT count(*)::int AS left FROM kept`
          // Changed a tenth of the stays or more: analysed after the commit (below), where autovacuum would only
          // get to it a minute or so later. Until then the planner took a new segment's 95,000 members for six,
          // and its members' first page became a sort of them all (1 s instead of 0.1 ms).
          const [{ stale }] = yield* sql<{ readonly stale: boolean }>`SELECT
              ${joined + left}::float8 > 50 + 0.1 * greatest(reltuples, 0) AS stale
            FROM pg_class WHERE oid = 'customer_segment_memberships'::regclass`
          return { joined, left, members, stale }
        })

      /**
       * Each event's ids, keyed `<type>:<part>`: the changed customers of its type, ascending (uuid order, which
       * is the order of their text), cut into parts of `maxCustomersPerMembershipEvent`.
       */
      const changedIds = sql`SELECT type || ':' || part, jsonb_agg(customer_id::text ORDER BY customer_id)
        FROM (SELECT type, customer_id,
            (row_number() OVER (PARTITION BY type ORDER BY customer_id) - 1) / ${maxCustomersPerMembershipEvent} + 1 AS part
          FROM segment_changes) numbered
        GROUP BY type, part`

      /** Segments whose criteria name this one: their members may change with its members. */
      const queueDependents = (segmentId: SegmentId, at: Date) =>
        Effect.gen(function*() {
          const dependents = yield* sql<{ readonly segment_id: SegmentId }>`SELECT segment_id
            FROM customer_segment_references WHERE referenced_segment_id = ${segmentId}`
          for (const dependent of dependents) yield* queueStatement(dependent.segment_id, "dependency-changed", at)
          return dependents.length
        })

      /** How often a run outside its transaction renews its lease and records its progress. */
      const heartbeat = Duration.millis(Math.min(500, Duration.toMillis(lease) / 3))

      /**
       * Asks the rules engine for the criteria's rules, outside the run's transaction (no row lock keeps the
       * claim then): meanwhile the claim's lease is kept ahead and the share of customers answered for recorded.
       */
      const askingRulesEngine = (claimed: Claimed, rules: ReadonlyArray<RuleId>) =>
        Effect.scoped(Effect.gen(function*() {
          const share = yield* Ref.make(0)
          // Never back from `calculating`: a heartbeat still on its way when the engine is done changes nothing.
          const record = (phase: RunningPhase, progress: number | null) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              sql`UPDATE segment_calculations SET lease_expires_at = ${new Date(now + Duration.toMillis(lease))},
                  phase = ${phase}, progress = ${progress}::real
                WHERE id = ${claimed.id} AND status = 'running' AND attempts = ${claimed.attempts}
                  AND phase IS DISTINCT FROM 'calculating'`)
          yield* Effect.forkScoped(Ref.get(share).pipe(
            Effect.flatMap((done) => record("asking-rules-engine", done)),
            loggingFailures("segments: recording a calculation's progress failed"),
            Effect.andThen(Effect.sleep(heartbeat)),
            Effect.forever
          ))
          const matches = yield* fetchRuleMatches(sql, rulesEngine, rules, ({ done, total }) =>
            Ref.set(share, total === 0 ? 1 : done / total))
          yield* record("calculating", null)
          return matches
        }))

      /**
       * The rules engine's answers for the criteria as they are now, asked before the run's transaction opens:
       * an engine taking minutes then holds no lock on the job, the segment or its stays.
       */
      const fetchBeforeRun = (claimed: Claimed) =>
        Effect.gen(function*() {
          const [segment] = yield* sql<{ readonly criteria: Criterion | null }>`SELECT criteria
            FROM customer_segments WHERE id = ${claimed.segmentId}`
          const rules = segment?.criteria == null ? [] : rulesNamed(segment.criteria)
          if (rules.length === 0) return new Map() as RuleMatches
          return yield* askingRulesEngine(claimed, rules)
        })

      const run = (claimed: Claimed) =>
        Effect.flatMap(fetchBeforeRun(claimed), (fetched) => sql.withTransaction(Effect.gen(function*() {
          // The claim still holds (no process took the job over after a lease this one overran), and from here
          // the row lock keeps every other claim off the job until this transaction ends.
          const [mine] = yield* sql`SELECT 1 FROM segment_calculations
            WHERE id = ${claimed.id} AND status = 'running' AND attempts = ${claimed.attempts} FOR UPDATE`
          if (mine === undefined) return yield* new ClaimLost()
          // The segment's row is locked before its stays, as bulk membership and erasure lock them, so they
          // and definition changes wait for the run; NO KEY: inserts that merely reference the segment (a
          // request meeting no pending job, a new reference to it) need not wait for a long run.
          const [segment] = yield* sql<{
            readonly type: string
            readonly criteria: Criterion | null
            readonly required_purposes: ReadonlyArray<string>
          }>`SELECT type, criteria, required_purposes FROM customer_segments
            WHERE id = ${claimed.segmentId} FOR NO KEY UPDATE`
          if (segment === undefined || segment.criteria === null) {
            return yield* new CalculationFailed({ reason: "the segment is manual: its members are kept by hand" })
          }
          // Members have consented to the segment's required purposes, as the real-time evaluator requires too.
          const diff = yield* applyDiff(claimed, effectiveCriteria(segment.criteria, segment.required_purposes), fetched)
          const change = { segmentId: claimed.segmentId, cause: "calculation", calculationId: claimed.id, at: claimed.startedAt } as const
          yield* outbox.appendFilled([
            ...membershipEventsToFill("segment.joined", change, diff.joined),
            ...membershipEventsToFill("segment.left", change, diff.left)
          ], "customerIds", changedIds)
          const at = new Date(claimed.startedAt)
          yield* sql`UPDATE customer_segments SET member_count = ${diff.members}, last_calculated_at = ${at}
            WHERE id = ${claimed.segmentId}`
          const finishedAt = yield* Clock.currentTimeMillis
          const dependents = diff.joined + diff.left > 0
            ? yield* queueDependents(claimed.segmentId, new Date(finishedAt))
            : 0
          yield* sql`UPDATE segment_calculations SET status = 'succeeded', finished_at = ${new Date(finishedAt)},
              lease_expires_at = NULL, phase = NULL, progress = NULL, members = ${diff.members}, joined = ${diff.joined},
              departed = ${diff.left}, duration_ms = ${finishedAt - claimed.startedAt}, error = NULL
            WHERE id = ${claimed.id}`
          return { ...diff, dependents, durationMs: finishedAt - claimed.startedAt }
        }))).pipe(
          // A ROLLBACK that fails (the connection is gone) is a defect of withTransaction; the transaction is
          // rolled back all the same (PostgreSQL ends it with the connection), so it is the run's failure.
          Effect.catchDefect((defect) => SqlError.isSqlError(defect) ? Effect.fail(defect) : Effect.die(defect)),
          Effect.tap((outcome) =>
            Effect.gen(function*() {
              if (outcome.joined + outcome.left > 0) yield* outbox.committed
              if (outcome.dependents > 0) yield* wake
              // After the commit: the analysis counts the new stays and holds its lock only while it runs (a
              // failure leaves the statistics to autovacuum).
              if (outcome.stale) {
                yield* sql`ANALYZE customer_segment_memberships`.pipe(
                  loggingFailures("segments: analysing the memberships after a calculation failed")
                )
              }
              yield* Effect.logInfo("segments: calculated").pipe(Effect.annotateLogs({
                calculationId: claimed.id,
                segmentId: claimed.segmentId,
                members: outcome.members,
                joined: outcome.joined,
                left: outcome.left,
                durationMs: outcome.durationMs
              }))
            })
          ),
          Effect.asVoid
        )

      // Right after a run lost its connection, the pool can hand out another dead one: a few tries.
      const afterLostConnection = <A, R>(write: Effect.Effect<A, SqlError.SqlError, R>) =>
        Effect.retry(write, { times: 3, schedule: Schedule.spaced("200 millis") })

      const markFailed = (claimed: Claimed, reason: string) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          sql`UPDATE segment_calculations SET status = 'failed', error = ${reason}, finished_at = ${new Date(now)},
              lease_expires_at = NULL, phase = NULL, progress = NULL, duration_ms = ${now - claimed.startedAt}
            WHERE id = ${claimed.id} AND status = 'running' AND attempts = ${claimed.attempts}`.pipe(afterLostConnection))

      const requeue = (claimed: Claimed, reason: string) =>
        sql`UPDATE segment_calculations SET status = 'queued', lease_expires_at = NULL, error = ${reason},
            phase = NULL, progress = NULL
          WHERE id = ${claimed.id} AND status = 'running' AND attempts = ${claimed.attempts}`.pipe(afterLostConnection)

      /**
       * The transaction rolled back whole, so the job can simply run again (a lost connection, a deadlock, the
       * rules engine away for a moment); until its attempts run out, so that a run that always fails does not
       * hold the segment's queue. Should the database be gone, these writes fail too, and the lease brings the
       * job back.
       */
      const retryOrGiveUp = (claimed: Claimed, reason: string, error: unknown) =>
        Effect.andThen(
          Effect.logWarning("segments: calculation failed").pipe(
            Effect.annotateLogs({ calculationId: claimed.id, attempt: claimed.attempts, error: errorClass(error) })
          ),
          claimed.attempts < maxAttempts
            ? requeue(claimed, `attempt ${claimed.attempts}: ${reason}`)
            : markFailed(claimed, reason)
        )

      const runClaimed = (claimed: Claimed) =>
        claimed.attempts > maxAttempts
          ? markFailed(claimed, `gave up after ${maxAttempts} attempts that did not finish`)
          : run(claimed).pipe(
            Effect.catchTag("ClaimLost", () =>
              Effect.logWarning("segments: calculation taken over by another process").pipe(
                Effect.annotateLogs({ calculationId: claimed.id })
              )),
            Effect.catchTag("CalculationFailed", (failure) => markFailed(claimed, failure.reason)),
            Effect.catchTag("RuleGone", (gone) =>
              markFailed(claimed, `the rules engine has no rule ${gone.ruleId} any more: change the criteria`)),
            // Recorded by class only: a driver's message can quote a row.
            Effect.catchTag("SqlError", (error) => retryOrGiveUp(claimed, `internal error (${errorClass(error)})`, error)),
            Effect.catchTag("RulesEngineUnreachable", (error) =>
              retryOrGiveUp(claimed, `rules engine unavailable (${error.reason})`, error))
          )

      const runPending = Effect.gen(function*() {
        let ran = 0
        while (true) {
          const claimed = yield* claimNext
          if (Option.isNone(claimed)) return ran
          yield* runClaimed(claimed.value)
          ran += 1
        }
      }).pipe(Effect.withSpan("SegmentCalculations.runPending"))

      const recalculateDependents = Effect.fn("SegmentCalculations.recalculateDependents")(function*(
        segmentId: SegmentId
      ) {
        const queued = yield* queueDependents(segmentId, new Date(yield* Clock.currentTimeMillis)).pipe(Effect.orDie)
        if (queued > 0) yield* wake
      })

      return SegmentCalculations.of({
        queueStatement,
        request,
        find,
        recalculateDependents,
        queueClockDependent,
        wake,
        woken: Queue.take(wakeUps),
        runPending
      })
    })
  )
}

/**
 * Criteria that read the clock: a relative window (`lastDays`) moves with today; churn risk, lifetime value and
 * engagement move with time since the customer's purchases and events. Rules of the rules engine too: they can change in
 * the engine at any time, and nothing tells the service. As a JSON path over the stored criteria, at any depth.
 */
const clockDependentCriteria =
  'lax $.** ? (@.kind == "churnRisk" || @.kind == "lifetimeValue" || @.kind == "engagementScore" || @.kind == "rule" ' +
  '|| exists(@.window.lastDays))'

/**
 * The runner: every SEGMENT_CALCULATION_POLL_SECONDS (default 2), or at once after a request in this process,
 * claims and runs what is queued. Every process runs one; the table decides who runs what.
 */
export const SegmentCalculationRunnerLive = Layer.effectDiscard(Effect.gen(function*() {
  const calculations = yield* SegmentCalculations
  const nats = yield* Nats
  const poll = Duration.seconds(yield* Config.Number("SEGMENT_CALCULATION_POLL_SECONDS").pipe(Config.withDefault(2)))
  const recalculateEvery = yield* Config.Duration("SEGMENT_RECALCULATION_INTERVAL").pipe(
    Config.withDefault(Duration.hours(1))
  )
  const scheduleCheck = yield* Config.Duration("SEGMENT_RECALCULATION_CHECK").pipe(Config.withDefault(Duration.minutes(1)))
  yield* nats.ensureStream(segmentsStream)
  // Every process checks; the pending-job index makes a second queueing of the same segment a no-op.
  yield* Effect.forkScoped(repeatLoggingFailures(
    "segments: scheduled recalculation failed",
    scheduleCheck,
    calculations.queueClockDependent(recalculateEvery)
  ))
  yield* Effect.forkScoped(
    calculations.runPending.pipe(
      loggingFailures("segments: calculation runner failed"),
      Effect.andThen(Effect.raceFirst(Effect.sleep(poll), calculations.woken)),
      Effect.repeat(Schedule.forever)
    )
  )
}))
