/**
 * Erasure as a durable workflow. The erasing transaction (CustomerEntity Delete) removes the person from every
 * table and, in the same commit, writes the request row here and suppresses the address. The steps that cannot
 * share that transaction (destroying the data key, purging JetStream, publishing the erasure) run afterwards
 * from the row: a worker claims due requests (FOR UPDATE SKIP LOCKED, so several processes may run it),
 * records each step's outcome, retries failures with exponential backoff and resumes whatever a restart
 * interrupted. A request still pending past its 30-day deadline is logged at WARN and reported `overdue`.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Context, Data, Duration, Effect, Layer, Option, Schema } from "effect"
import type { Statement } from "effect/sql"
import type { Actor } from "../domain/Access.ts"
import type { CustomerId } from "../domain/Customer.ts"
import { type ErasureRequest, ErasureStep, type ErasureStepName, erasureStepNames } from "../domain/Erasure.ts"
import { describeFailure, makeWakeSignal, passWhenWoken } from "../platform/BackgroundWork.ts"
import { byteaArray } from "../platform/Database.ts"
import { uuidv7 } from "../platform/Ids.ts"
import { Nats } from "../platform/Nats.ts"
import { Outbox } from "../platform/Outbox.ts"
import { streamName as customersStream } from "../domain/CustomerEvents.ts"
import { BlindIndex } from "./BlindIndex.ts"
import { Keyring } from "./Keyring.ts"

/** GDPR art. 12(3): without undue delay and within one month. */
export const erasureDeadline = Duration.days(30)

/** A claimed request's steps are not claimed again by another process within this lease. */
const claimLease = Duration.seconds(60)

/** Backoff after the n-th failed attempt: 1 s, 2 s, 4 s ... capped at 10 minutes. */
export const retryDelay = (attempts: number) => Duration.millis(Math.min(1_000 * 2 ** Math.max(0, attempts - 1), 600_000))

const Steps = Schema.Array(ErasureStep)
const decodeSteps = Schema.decodeUnknownSync(Steps)

interface RequestRow {
  readonly id: string
  readonly customer_id: string
  readonly requested_at: Date
  readonly deadline: Date
  readonly status: "pending" | "done"
  readonly steps: unknown
  readonly attempts: number
  readonly next_attempt_at: Date
  readonly completed_at: Date | null
  readonly requested_by: string
  readonly request_id: string | null
}

const toRequest = (row: RequestRow, now: number): ErasureRequest => ({
  id: row.id,
  customerId: row.customer_id as CustomerId,
  status: row.status,
  overdue: row.status === "pending" && row.deadline.getTime() < now,
  requestedAt: row.requested_at.toISOString(),
  deadline: row.deadline.toISOString(),
  completedAt: row.completed_at?.toISOString() ?? null,
  attempts: row.attempts,
  nextAttemptAt: row.status === "pending" ? row.next_attempt_at.toISOString() : null,
  steps: decodeSteps(row.steps)
})

/** A step that could not run yet (or failed): retried with backoff, its reason recorded without personal data. */
class StepFailed extends Data.TaggedError("StepFailed")<{ readonly reason: string }> {}

/** What a step did, recorded on it; `skipped` when there was nothing it could do here. */
interface StepOutcome {
  readonly status: "done" | "skipped"
  readonly note: string
}

export class Erasure extends Context.Service<Erasure, {
  /** Inside the erasing transaction: the request row, and the person's address on the suppression list. */
  begin(request: {
    readonly customerId: CustomerId
    readonly email: string
    readonly actor: Actor
    readonly requestId: string | null
  }): Effect.Effect<void>
  /**
   * For a create's one statement, the expression it selects (so it runs once, before the statement's writes):
   * takes the addresses' locks (`lockIdentity`), then fails the statement (a unique violation on
   * `identity_suppressed`) when one is suppressed, or (on `customers_email_index_key`) when a live customer holds
   * one under another blind index key than the current one (a rotation under way). No extra round trip.
   */
  claimExpression(emails: ReadonlyArray<string>): Statement.Fragment
  /**
   * In the caller's transaction, until it ends: the address's lock, which the erasure suppressing it takes too.
   * Queries after it see an erasure of the address that committed before it.
   */
  lockIdentity(email: string): Effect.Effect<void>
  /** Whether the address is suppressed: for an email change (a create checks inside its own statement). */
  isSuppressed(email: string): Effect.Effect<boolean>
  /** The customer's erasure request, if one was made. */
  requestOf(customerId: CustomerId): Effect.Effect<Option.Option<ErasureRequest>>
  /** Removes the address from the suppression list; false when it was not on it. In the caller's transaction. */
  lift(email: string): Effect.Effect<boolean>
  /** One pass over the due requests: each runs its remaining steps. */
  readonly runDue: Effect.Effect<void>
  /** Tells the worker a request is waiting, so it need not wait for its next poll. */
  readonly wake: Effect.Effect<void>
  /** Resolves when `wake` was called. */
  readonly woken: Effect.Effect<void>
}>()("cms/privacy/Erasure") {
  static readonly layer = Layer.effect(
    Erasure,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const blindIndex = yield* BlindIndex
      const nats = yield* Nats
      const outbox = yield* Outbox
      const keyring = yield* Keyring
      const signal = yield* makeWakeSignal

      const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))
      /** The address's suppression digest as a bytea expression. */
      const digestOf = (email: string) => sql`decode(${blindIndex.suppression(email).toString("hex")}, 'hex')`

      const begin = Effect.fn("Erasure.begin")(function*({ customerId, email, actor, requestId }: {
        readonly customerId: CustomerId
        readonly email: string
        readonly actor: Actor
        readonly requestId: string | null
      }) {
        const at = yield* now
        const deadline = new Date(at.getTime() + Duration.toMillis(erasureDeadline))
        const steps: ReadonlyArray<ErasureStep> = erasureStepNames.map((name) => ({
          name,
          status: "pending",
          completedAt: null,
          attempts: 0,
          lastError: null,
          note: null
        }))
        yield* sql`INSERT INTO erasure_requests (id, customer_id, requested_at, deadline, requested_by, request_id,
            status, steps, next_attempt_at)
          VALUES (${uuidv7()}, ${customerId}, ${at}, ${deadline}, ${`${actor.kind}:${actor.subject}`}, ${requestId},
            'pending', ${sql.json(steps)}, ${at})
          ON CONFLICT (customer_id) DO NOTHING`.pipe(Effect.orDie)
        yield* sql`INSERT INTO identity_suppressions (email_digest, suppressed_at)
          VALUES (${digestOf(email)}, ${at})
          ON CONFLICT (email_digest) DO NOTHING`.pipe(Effect.orDie)
      })

      const claimExpression = (emails: ReadonlyArray<string>) =>
        sql`claim_email_identities(${byteaArray(sql, emails.map(blindIndex.suppression))}, ${
          byteaArray(sql, emails.flatMap((email) => blindIndex.emailUnderEach(email).slice(1)))
        })`

      const lockIdentity = Effect.fn("Erasure.lockIdentity")(function*(email: string) {
        yield* sql`SELECT lock_email_identities(ARRAY[${digestOf(email)}])`.pipe(Effect.orDie)
      })

      const isSuppressed = Effect.fn("Erasure.isSuppressed")(function*(email: string) {
        const rows = yield* sql`SELECT 1 FROM identity_suppressions
          WHERE email_digest = ${digestOf(email)}`.pipe(Effect.orDie)
        return rows.length > 0
      })

      const requestOf = Effect.fn("Erasure.requestOf")(function*(customerId: CustomerId) {
        const rows = yield* sql<RequestRow>`SELECT * FROM erasure_requests WHERE customer_id = ${customerId}`.pipe(
          Effect.orDie
        )
        const at = yield* Clock.currentTimeMillis
        return Option.map(Option.fromNullishOr(rows[0]), (row) => toRequest(row, at))
      })

      const lift = Effect.fn("Erasure.lift")(function*(email: string) {
        const rows = yield* sql`DELETE FROM identity_suppressions
          WHERE email_digest = ${digestOf(email)} RETURNING 1`.pipe(
          Effect.orDie
        )
        return rows.length > 0
      })

      /**
       * Removes the customer's messages from CUSTOMERS, whose subjects name them (`customers.<id>.>`). Only once
       * their outbox is drained: an event published after the purge would be back in the stream. EVENTS
       * (`events.<type>`) and SEGMENTS (`segments.<segmentId>.*`) name no customer in their subjects and cannot
       * be purged per person (docs/privacy.md).
       */
      const purgeStreams = (customerId: string) =>
        Effect.gen(function*() {
          if ((yield* nats.status) === "disabled") {
            return { status: "skipped", note: "NATS is not configured: nothing was published" } satisfies StepOutcome
          }
          const [{ waiting }] = yield* sql<{ readonly waiting: number }>`SELECT count(*)::int AS waiting FROM outbox
            WHERE subject LIKE ${`customers.${customerId}.%`} AND published_at IS NULL`.pipe(Effect.orDie)
          if (waiting > 0) return yield* new StepFailed({ reason: `${waiting} event(s) still waiting to be published` })
          const js = yield* nats.jetstream
          if (Option.isNone(js)) return yield* new StepFailed({ reason: "NATS is not connected" })
          const purged = yield* Effect.tryPromise({
            try: async () => {
              const manager = await js.value.jetstreamManager()
              return manager.streams.purge(customersStream, { filter: `customers.${customerId}.>` })
            },
            catch: (cause) => new StepFailed({ reason: describeFailure(cause) })
          })
          return { status: "done", note: `${purged.purged} message(s) purged from ${customersStream}` } satisfies StepOutcome
        })

      /** Runs one step and records its outcome (or failure) on the request. */
      const steps: Record<ErasureStepName, (row: RequestRow) => Effect.Effect<StepOutcome, StepFailed>> = {
        // Crypto-shredding: destroying the customer's data key makes every copy sealed under it (backups,
        // replicas) unreadable. Delete destroys it in the erasure's own transaction already; the step makes
        // sure (a key written back by a racing pass is destroyed too) and records it.
        "destroy-data-key": (row) =>
          Effect.as(keyring.destroy(row.customer_id), {
            status: "done",
            note: "the customer's data key is destroyed"
          } satisfies StepOutcome),
        "purge-streams": (row) => purgeStreams(row.customer_id),
        // Through the outbox, in the transaction that records the step: published once, like every event.
        "publish-erasure": (row) =>
          Effect.gen(function*() {
            yield* outbox.append({
              type: "customer.erased",
              customerId: row.customer_id as CustomerId,
              erasureId: row.id,
              requestedAt: row.requested_at.toISOString(),
              occurredAt: (yield* now).toISOString()
            })
            return { status: "done", note: "customer.erased appended to the outbox" } satisfies StepOutcome
          })
      }

      const runRequest = (row: RequestRow) =>
        Effect.gen(function*() {
          const at = yield* now
          if (row.deadline.getTime() < at.getTime()) {
            yield* Effect.logWarning("erasure: request overdue").pipe(
              Effect.annotateLogs({ erasureId: row.id, deadline: row.deadline.toISOString() })
            )
          }
          const current = [...decodeSteps(row.steps)]
          for (const [index, step] of current.entries()) {
            if (step.status !== "pending") continue
            const attempt = yield* sql.withTransaction(Effect.gen(function*() {
              const outcome = yield* steps[step.name](row)
              const finished = new Date(yield* Clock.currentTimeMillis).toISOString()
              current[index] = { ...step, ...outcome, attempts: step.attempts + 1, completedAt: finished, lastError: null }
              const last = index === current.length - 1
              yield* sql`UPDATE erasure_requests SET steps = ${sql.json(current)}, last_error = NULL,
                  status = ${last ? "done" : "pending"}, completed_at = ${last ? finished : null}
                WHERE id = ${row.id}`
            })).pipe(Effect.catchTag("SqlError", Effect.die), Effect.result)
            if (attempt._tag === "Failure") {
              const failedAt = yield* now
              const attempts = row.attempts + 1
              current[index] = { ...step, attempts: step.attempts + 1, lastError: attempt.failure.reason }
              yield* sql`UPDATE erasure_requests SET steps = ${sql.json(current)}, attempts = ${attempts},
                  last_error = ${attempt.failure.reason},
                  next_attempt_at = ${new Date(failedAt.getTime() + Duration.toMillis(retryDelay(attempts)))}
                WHERE id = ${row.id}`.pipe(Effect.orDie)
              return
            }
          }
          yield* outbox.committed
        })

      /** Claims the due requests (a lease, so a crashed claimer's requests come back) and runs each. */
      const runDue = Effect.gen(function*() {
        const at = yield* now
        const leaseEnd = new Date(at.getTime() + Duration.toMillis(claimLease))
        const claimed = yield* sql<RequestRow>`UPDATE erasure_requests SET next_attempt_at = ${leaseEnd}
          WHERE id IN (SELECT id FROM erasure_requests WHERE status = 'pending' AND next_attempt_at <= ${at}
            ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED)
          RETURNING *`.pipe(Effect.orDie)
        yield* Effect.forEach(claimed, runRequest, { discard: true })
      }).pipe(Effect.withSpan("Erasure.runDue"))

      return Erasure.of({
        begin,
        claimExpression,
        lockIdentity,
        isSuppressed,
        requestOf,
        lift,
        runDue,
        wake: signal.wake,
        woken: signal.woken
      })
    })
  )
}

/** The erasure worker: a pass when woken (a new request) and every second (retries, requests after a restart). */
export const ErasureWorkerLive = Layer.effectDiscard(Effect.gen(function*() {
  const erasure = yield* Erasure
  yield* passWhenWoken("erasure: pass failed", erasure.runDue, erasure.woken, "1 second")
}))
