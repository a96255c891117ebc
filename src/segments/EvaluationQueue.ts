/**
 * The queue of customers whose segment membership must be re-evaluated
 * (migrations/0013): filled in the transaction (or the statement) that
 * changes a customer, drained by the real-time worker (RealtimeMembership.ts).
 *
 * Append-only: a change inserts its rows and never updates or locks another's,
 * so it never waits for a round, and its rows become visible together with the
 * facts it changed: a round that takes a row reads those facts. (A row per
 * customer, deduplicated ON CONFLICT, would make a fold wait for every round
 * holding one of its customers, or, with DO NOTHING, let a round take the row
 * and read the facts before the change that met it committed.) A round
 * evaluates a customer once however many of their rows it takes.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Queue } from "effect"
import type { Statement } from "effect/sql"
import type { CustomerId } from "../domain/Customer.ts"

/**
 * The advisory lock key of a real-time round (RealtimeMembership.ts; arbitrary, the segment references' is
 * 0x5e6_0001): a round holds it exclusively, an erasure shared.
 */
export const roundLockKey = 0x5e6_0002

/** What changed: the profile (create, update) or the event facts (a fold of tracked events). */
export type EvaluationSource = "profile" | "events"

export class SegmentEvaluationQueue extends Context.Service<SegmentEvaluationQueue, {
  /**
   * Queues the customers `customers` selects (one uuid column), whose profile changed, as a statement for the
   * change's transaction or statement. Nothing is queued while there is no dynamic segment.
   */
  queueProfileStatement(customers: Statement.Fragment, at: Date): Statement.Statement<unknown>
  /**
   * Queues the customers of folded events (`folded` selects customer_id and type): only those with events of a
   * type some dynamic segment reads (every type, when a segment reads events of any type: revenue, engagement,
   * a count or recency without a type). Events of no type a segment reads cannot move a customer.
   */
  queueFoldedStatement(folded: Statement.Fragment, at: Date): Statement.Statement<unknown>
  /**
   * Erasure, inside its transaction, before it removes the customer's stays: waits for a round under way to commit
   * (so the stays it opened are seen and removed), keeps rounds off until the erasure commits, and drops what is
   * queued. A scan of the
   * queue (no index on the customer: every change would pay for it, and the queue is short when drained).
   */
  forgetCustomer(customerId: CustomerId): Effect.Effect<void>
  /** Tells this process's worker a change was committed, so it need not wait for its next poll. */
  readonly wake: Effect.Effect<void>
  /** Resolves when `wake` was called. */
  readonly woken: Effect.Effect<void>
}>()("cms/segments/SegmentEvaluationQueue") {
  static readonly layer = Layer.effect(
    SegmentEvaluationQueue,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const wakeUps = yield* Queue.sliding<void>(1)

      const queueProfileStatement = (customers: Statement.Fragment, at: Date) =>
        sql`INSERT INTO segment_evaluation_pending (customer_id, source, due_at)
          SELECT DISTINCT queued.customer_id, 'profile', ${at}::timestamptz FROM (${customers}) AS queued (customer_id)
          WHERE EXISTS (SELECT 1 FROM customer_segments WHERE type = 'dynamic')`

      const queueFoldedStatement = (folded: Statement.Fragment, at: Date) =>
        sql`WITH dynamic AS (SELECT criteria FROM customer_segments WHERE type = 'dynamic'),
          read_types AS (
            SELECT jsonb_path_query(criteria, ${typedEvents}::jsonpath) #>> '{}' AS type FROM dynamic
            UNION SELECT 'purchase' FROM dynamic WHERE jsonb_path_exists(criteria, ${purchaseDays}::jsonpath)
          ),
          every_type AS (
            SELECT EXISTS (SELECT 1 FROM dynamic WHERE jsonb_path_exists(criteria, ${anyEvents}::jsonpath)) AS reads
          )
          INSERT INTO segment_evaluation_pending (customer_id, source, due_at)
          SELECT DISTINCT folded.customer_id, 'events', ${at}::timestamptz FROM (${folded}) AS folded (customer_id, type)
          WHERE (SELECT reads FROM every_type) OR folded.type IN (SELECT type FROM read_types)`

      const forgetCustomer = Effect.fn("SegmentEvaluationQueue.forgetCustomer")(function*(customerId: CustomerId) {
        // Waits for a round under way (it may have read the customer's facts before the erasure, from a queue row
        // or from committed events, which hold nothing the erasure would wait for) and keeps new rounds off until
        // the erasure commits, so the stays such a round opened are committed before the erasure removes stays.
        yield* sql`SELECT pg_advisory_xact_lock_shared(${roundLockKey})`.pipe(Effect.orDie)
        const forget = sql`DELETE FROM segment_evaluation_pending WHERE customer_id = ${customerId}`.pipe(Effect.orDie)
        yield* forget
        // Again, with a new snapshot: the rows a round it waited for put back (kept back for a segment under
        // calculation) were not in the first statement's.
        yield* forget
      })

      return SegmentEvaluationQueue.of({
        queueProfileStatement,
        queueFoldedStatement,
        forgetCustomer,
        wake: Queue.offer(wakeUps, undefined).pipe(Effect.asVoid),
        woken: Queue.take(wakeUps)
      })
    })
  )
}

// What the criteria's behavioural kinds read of the events, as JSON paths over the stored criteria, at any depth
// (CriteriaEval.ts): counts and recency of one type; churn risk and lifetime value, purchase days (and purchase
// revenue); revenue, engagement and untyped
// counts and recency, events of every type.
const typedEvents = 'lax $.** ? (@.kind == "eventCount" || @.kind == "lastSeen").type'
const purchaseDays = 'lax $.** ? (@.kind == "churnRisk" || @.kind == "lifetimeValue")'
const anyEvents = 'lax $.** ? (@.kind == "revenue" || @.kind == "engagementScore" || ' +
  '((@.kind == "eventCount" || @.kind == "lastSeen") && !(exists(@.type))))'
