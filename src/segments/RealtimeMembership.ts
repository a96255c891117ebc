/**
 * Real-time segment membership: customers queued by the change that moved
 * their facts (EvaluationQueue.ts) are re-evaluated alone, with the in-memory
 * evaluator, against the dynamic segments the change can affect, and their
 * joins and leaves are written and published, without a calculation.
 *
 * A round is one transaction: it claims up to SEGMENT_REALTIME_BATCH queued
 * rows (FOR UPDATE SKIP LOCKED: any number of processes share the queue),
 * locks the segments it may change (FOR NO KEY UPDATE SKIP LOCKED), loads the
 * customers' facts in one statement, evaluates each segment in dependency order
 * (a `segment` node reads the memberships this round just decided), and opens
 * and closes stays, moves member_count and appends one joined and one left event
 * per segment, all at the round's instant. A crash rolls it back and the
 * customers are still queued.
 *
 * Rounds run one at a time across processes (a transaction advisory lock: one
 * round's segment locks would make another's keep back all its customers); a
 * process that meets a round under way leaves the queue to it until its next poll.
 *
 * A segment under calculation holds its row for the whole run, evaluated at the
 * run's start, possibly before the customers' changes: a round skips it rather
 * than wait, and keeps the customers it could move queued for
 * SEGMENT_REALTIME_RETRY, so the round after the run corrects what the run read
 * stale, and the real-time path never waits for a calculation.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Config, Duration, Effect, Layer, PubSub } from "effect"
import { ClvModels } from "../analytics/ClvModels.ts"
import type { CustomerId } from "../domain/Customer.ts"
import { effectiveCriteria } from "../domain/Segment.ts"
import type { Criterion, SegmentId } from "../domain/SegmentCriteria.ts"
import { EventStore } from "../events/EventStore.ts"
import { reportingCurrency } from "../events/ReportingCurrency.ts"
import { loggingFailures } from "../platform/BackgroundWork.ts"
import { Outbox } from "../platform/Outbox.ts"
import { evaluate } from "./CriteriaEval.ts"
import { CustomerFactsRepo } from "./CustomerFacts.ts"
import {
  currentEvaluationContext,
  type DailyRowsRead,
  dailyRowsReadByAll,
  type RuleOutcomes,
  todayOf
} from "./Evaluation.ts"
import { type EvaluationSource, roundLockKey, SegmentEvaluationQueue } from "./EvaluationQueue.ts"
import { membershipEvents } from "./MembershipEvents.ts"
import { eventTypesRead, reportingRevenueOf, type UnfoldedEvent, withUnfolded } from "./UnfoldedEvents.ts"
import { leavesOf } from "./CriteriaReferences.ts"

/** What a segment's criteria read: which changes can move a customer in or out of it. */
export interface CriteriaReads {
  /** Profile fields (CustomerFacts.profileFactFields). */
  readonly profile: boolean
  /** Event rollups. */
  readonly events: boolean
  /** Segments whose membership it reads. */
  readonly segments: ReadonlyArray<SegmentId>
  /**
   * Whether the in-memory evaluator can decide it alone: a criterion that asks an outside service (a rule of the
   * rules engine) cannot, and its segments are left to calculations (and their schedule).
   */
  readonly inMemory: boolean
}

export const criteriaReads = (criteria: Criterion): CriteriaReads => {
  let profile = false
  let events = false
  let inMemory = true
  const segments: Array<SegmentId> = []
  for (const leaf of leavesOf(criteria)) {
    switch (leaf.kind) {
      case "age":
      case "gender":
      case "status":
      case "country":
      case "region":
      case "city":
      case "tags":
      case "metadata":
      case "preference":
      case "preferenceFlag":
      case "consent":
        profile = true
        break
      case "eventCount":
      case "lastSeen":
      case "revenue":
      case "churnRisk":
      case "lifetimeValue":
      case "engagementScore":
        events = true
        break
      case "segment":
        segments.push(leaf.segmentId)
        break
      case "rule":
        inMemory = false
        break
      default:
        // A new kind must say what it reads (and whether memory can decide it) before it compiles.
        leaf satisfies never
    }
  }
  return { profile, events, segments, inMemory }
}

/** Never asked: segments whose criteria name rules are not evaluated here (`inMemory` is false for them). */
const noRuleOutcomes: RuleOutcomes = { matches: () => false }

interface Definition {
  readonly id: SegmentId
  readonly criteria: Criterion
  readonly reads: CriteriaReads
}

interface DefinitionRow {
  readonly id: SegmentId
  readonly criteria: Criterion
  readonly required_purposes: ReadonlyArray<string>
}

/**
 * The segments a change of `source` can move a customer in or out of: those whose criteria read it, and those
 * naming one of them (at any distance). Segments memory cannot decide are left out (calculations keep them).
 */
export const affectedBy = (source: EvaluationSource, definitions: ReadonlyArray<Definition>): ReadonlySet<SegmentId> => {
  const evaluable = definitions.filter((definition) => definition.reads.inMemory)
  const affected = new Set(evaluable.filter((definition) => definition.reads[source]).map((definition) => definition.id))
  let grown = true
  while (grown) {
    grown = false
    for (const definition of evaluable) {
      if (!affected.has(definition.id) && definition.reads.segments.some((id) => affected.has(id))) {
        affected.add(definition.id)
        grown = true
      }
    }
  }
  return affected
}

/** Named segments before the segments naming them (criteria never form a cycle: Segments.ts refuses one). */
export const dependencyOrder = (definitions: ReadonlyArray<Definition>): ReadonlyArray<Definition> => {
  const byId = new Map(definitions.map((definition) => [definition.id, definition]))
  const ordered: Array<Definition> = []
  const placed = new Set<SegmentId>()
  const place = (definition: Definition, path: ReadonlySet<SegmentId>): void => {
    if (placed.has(definition.id) || path.has(definition.id)) return
    const deeper = new Set(path).add(definition.id)
    for (const id of definition.reads.segments) {
      const named = byId.get(id)
      if (named !== undefined) place(named, deeper)
    }
    placed.add(definition.id)
    ordered.push(definition)
  }
  for (const definition of definitions) place(definition, new Set())
  return ordered
}

/** A committed batch of this process, as real-time membership holds it until the fold has it. */
interface HeldBatch {
  /** Its events by customer. */
  readonly events: ReadonlyMap<CustomerId, ReadonlyArray<UnfoldedEvent>>
  /** Whether a round has evaluated its customers yet. */
  looked: boolean
}

/**
 * Batches held at most: past this (a fold stopped for long) the oldest go, and their events are read from the
 * database like another process's (CustomerFactsRepo.loadBeforeFold): slower, as exact.
 */
const maxHeldBatches = 2_000

interface Claimed {
  readonly customer_id: CustomerId
  readonly source: EvaluationSource
}

interface Stay {
  readonly segment_id: SegmentId
  readonly customer_id: CustomerId
}

/** What one round did. */
interface Round {
  readonly claimed: number
  /** Held batches whose customers it took up. */
  readonly fresh: number
  readonly joined: number
  readonly left: number
  readonly keptBack: number
}

const stayKey = (segmentId: SegmentId, customerId: CustomerId) => `${segmentId}/${customerId}`

/** Ascending ids in the events (text order is uuid order: fixed-width lowercase hex). */
const ascending = (ids: ReadonlyArray<CustomerId>) => [...ids].sort()

const grouped = (stays: ReadonlyArray<Stay>) => {
  const bySegment = new Map<SegmentId, Array<CustomerId>>()
  for (const stay of stays) {
    const ids = bySegment.get(stay.segment_id)
    if (ids === undefined) bySegment.set(stay.segment_id, [stay.customer_id])
    else ids.push(stay.customer_id)
  }
  return bySegment
}

/**
 * The worker: a round at once after a local change committed (EvaluationQueue.wake), else every
 * SEGMENT_REALTIME_POLL for other processes' changes; rounds follow one another while they come back full.
 * Every process runs one; the round lock and the queue's row locks decide who evaluates whom.
 */
export const RealtimeMembershipLive = Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const queue = yield* SegmentEvaluationQueue
  const facts = yield* CustomerFactsRepo
  const outbox = yield* Outbox
  const models = yield* ClvModels
  const batch = yield* Config.Int("SEGMENT_REALTIME_BATCH").pipe(Config.withDefault(1_000))
  const poll = yield* Config.Duration("SEGMENT_REALTIME_POLL").pipe(Config.withDefault(Duration.millis(250)))
  const retry = yield* Config.Duration("SEGMENT_REALTIME_RETRY").pipe(Config.withDefault(Duration.seconds(1)))
  const store = yield* EventStore
  const currency = yield* reportingCurrency

  // This process's committed batches, from the moment they commit until a round sees them folded: a round
  // evaluates their customers at once, on the rollups and the events the fold has not reached (UnfoldedEvents.ts).
  const heldBatches = new Map<string, HeldBatch>()
  /** The held batches holding each customer's events, so that a round need not scan every held event. */
  const heldBatchesOf = new Map<CustomerId, Set<string>>()
  const hold = (batchId: string, batch: HeldBatch) => {
    heldBatches.set(batchId, batch)
    for (const customerId of batch.events.keys()) {
      const ids = heldBatchesOf.get(customerId)
      if (ids === undefined) heldBatchesOf.set(customerId, new Set([batchId]))
      else ids.add(batchId)
    }
  }
  const release = (batchId: string) => {
    const batch = heldBatches.get(batchId)
    if (batch === undefined) return
    heldBatches.delete(batchId)
    for (const customerId of batch.events.keys()) {
      const ids = heldBatchesOf.get(customerId)
      ids?.delete(batchId)
      if (ids?.size === 0) heldBatchesOf.delete(customerId)
    }
  }
  // Off by default: tracked events reach segments through the fold alone (its queue rows), a fold later. On, the
  // worker fell far behind under ingest (BENCHMARKS.md, "Real-time membership before the fold"), cause not found yet.
  const evaluateUnfolded = yield* Config.Boolean("SEGMENT_REALTIME_UNFOLDED").pipe(Config.withDefault(false))
  if (evaluateUnfolded) {
    const committedBatches = yield* PubSub.subscribe(store.committedBatches)
    yield* Effect.forkScoped(Effect.forever(
      PubSub.take(committedBatches).pipe(
        Effect.flatMap((batch) =>
          Effect.sync(() => {
            const events = new Map<CustomerId, Array<UnfoldedEvent>>()
            for (const event of batch.events) {
              const unfolded: UnfoldedEvent = {
                type: event.type,
                occurredAt: Date.parse(event.occurredAt),
                reportingRevenue: reportingRevenueOf(event.revenue, event.currency, currency)
              }
              const known = events.get(event.customerId)
              if (known === undefined) events.set(event.customerId, [unfolded])
              else known.push(unfolded)
            }
            hold(batch.id, { looked: false, events })
            if (heldBatches.size > maxHeldBatches) release(heldBatches.keys().next().value!)
          })
        ),
        Effect.andThen(queue.wake)
      )
    ))
  }

  /** Forgets the held batches the fold has folded (their rows are gone or marked). */
  const forgetFolded = Effect.gen(function*() {
    const ids = [...heldBatches.keys()]
    if (ids.length === 0) return
    const unfolded = new Set((yield* sql<{ readonly id: string }>`SELECT id::text AS id FROM event_batches
      WHERE id = ANY(${ids}::bigint[]) AND folded_at IS NULL`).map((row) => row.id))
    for (const id of ids) if (!unfolded.has(id)) release(id)
  })

  /**
   * The customers' facts for a round: their rollups, and (SEGMENT_REALTIME_UNFOLDED) the committed events the fold
   * has not reached, added as the fold will add them.
   */
  const factsOf = (customerIds: ReadonlyArray<CustomerId>, days: DailyRowsRead) =>
    !evaluateUnfolded ? facts.loadMany(customerIds, days) : Effect.gen(function*() {
      // The customers' events in the held batches, by batch: those the fold has not reached join their facts.
      const own = customerIds.flatMap((customerId) =>
        [...(heldBatchesOf.get(customerId) ?? [])].map((batchId) => ({ customerId, batchId }))
      )
      // Taken now: a batch the intake lets go while the statement runs (past maxHeldBatches) keeps its events here.
      const ownEvents = new Map(own.map(({ batchId, customerId }) => [
        `${customerId}/${batchId}`,
        heldBatches.get(batchId)?.events.get(customerId) ?? []
      ]))
      const heldEventsOf = (customerId: CustomerId, batchId: string) => ownEvents.get(`${customerId}/${batchId}`) ?? []
      const purchasesOf = new Set(
        own.filter(({ batchId, customerId }) => heldEventsOf(customerId, batchId).some((event) => event.type === "purchase"))
          .map(({ customerId }) => customerId)
      )
      const beforeFold = yield* facts.loadBeforeFold(customerIds, days, {
        own,
        ownBatchIds: [...heldBatches.keys()],
        purchasesOf: [...purchasesOf],
        reportingCurrency: currency
      })
      // Those who withdrew consent to analytics are not profiled: the fold will drop their events (RollupFolder.ts).
      const notProfiled = new Set((yield* sql<{ readonly id: CustomerId }>`SELECT customer_id::text AS id
        FROM customer_consents WHERE customer_id = ANY(${customerIds}::uuid[])
          AND purpose = 'analytics' AND status = 'withdrawn'`).map((row) => row.id))
      return new Map([...beforeFold].map(([customerId, found]) => [
        customerId,
        notProfiled.has(customerId) ? found.facts : withUnfolded(
          found.facts,
          [...found.unfoldedOwn.flatMap((batchId) => heldEventsOf(customerId, batchId)), ...found.foreign],
          found.purchases,
          days
        )
      ]))
    })

  const round = Effect.fn("RealtimeMembership.round")(function*() {
    // One round at a time across processes: two at once would each lock the segments the other needs and keep
    // back all of the other's customers. A process that meets a round under way leaves the queue to it.
    const [{ mine }] = yield* sql<{ readonly mine: boolean }>`SELECT pg_try_advisory_xact_lock(${roundLockKey}) AS mine`
    if (!mine) return { claimed: 0, fresh: 0, joined: 0, left: 0, keptBack: 0 }
    const now = yield* Clock.currentTimeMillis
    const at = new Date(now)
    // Profile changes first: they come one by one from callers waiting to see them; a fold queues customers
    // by the thousand, and behind those a profile change waited seconds under ingest (load/segment-realtime.ts).
    const taken = yield* sql<Claimed>`DELETE FROM segment_evaluation_pending
      WHERE id IN (
        SELECT id FROM segment_evaluation_pending WHERE due_at <= ${at}
        ORDER BY source <> 'profile', due_at, id LIMIT ${batch} FOR UPDATE SKIP LOCKED
      )
      RETURNING customer_id::text AS customer_id, source`
    yield* forgetFolded
    const fresh = [...heldBatches.values()].filter((batch) => !batch.looked)
    for (const batch of fresh) batch.looked = true
    const nothing: Round = { claimed: taken.length, fresh: fresh.length, joined: 0, left: 0, keptBack: 0 }
    if (taken.length === 0 && fresh.length === 0) return nothing

    // A segment's criteria require consent to its purposes here as in the calculation (effectiveCriteria).
    const definitionOf = (row: DefinitionRow): Definition => {
      const criteria = effectiveCriteria(row.criteria, row.required_purposes)
      return { id: row.id, criteria, reads: criteriaReads(criteria) }
    }
    const dynamic = (yield* sql<DefinitionRow>`SELECT id::text AS id, criteria, required_purposes
      FROM customer_segments WHERE type = 'dynamic'`).map(definitionOf)
    // The customers of newly committed events of a type some segment reads, as a fold would queue them.
    const typesRead = dynamic.filter((definition) => definition.reads.inMemory).map((definition) =>
      eventTypesRead(definition.criteria)
    )
    const isRead = (type: string) => typesRead.some((types) => types === "every" || types.has(type))
    const committedNow: Array<Claimed> = fresh.flatMap((batch) =>
      [...batch.events].flatMap(([customerId, events]) =>
        events.some((event) => isRead(event.type)) ? [{ customer_id: customerId, source: "events" as const }] : []
      )
    )
    // A customer changed several times (a busy customer, several folds) is evaluated once.
    const claimed = [
      ...new Map([...taken, ...committedNow].map((row) => [`${row.customer_id}/${row.source}`, row])).values()
    ]
    if (claimed.length === 0) return nothing
    const affected = {
      profile: affectedBy("profile", dynamic),
      events: affectedBy("events", dynamic)
    } satisfies Record<EvaluationSource, ReadonlySet<SegmentId>>
    const sources = new Set(claimed.map((row) => row.source))
    const candidates = [...new Set([...sources].flatMap((source) => [...affected[source]]))]
    if (candidates.length === 0) return nothing

    // The definitions again under the lock, as they are now (a change of criteria since the read above queues
    // a calculation, which settles every customer).
    const lockedRows = yield* sql<DefinitionRow>`SELECT id::text AS id, criteria, required_purposes
      FROM customer_segments WHERE id = ANY(${candidates}::uuid[]) AND type = 'dynamic'
      ORDER BY id FOR NO KEY UPDATE SKIP LOCKED`
    const held = new Set(lockedRows.map((row) => row.id))
    // Not returned: held by a calculation or a change of the definition; or deleted meanwhile, which the retry
    // then forgets.
    const skipped = candidates.filter((id) => !held.has(id))
    const locked = lockedRows.map(definitionOf).filter((definition) => definition.reads.inMemory)
    const keptBack = claimed.filter((row) => skipped.some((id) => affected[row.source].has(id)))
    if (keptBack.length > 0) {
      yield* sql`INSERT INTO segment_evaluation_pending (customer_id, source, due_at)
        SELECT customer_id, source, ${new Date(now + Duration.toMillis(retry))}::timestamptz
        FROM unnest(${keptBack.map((row) => row.customer_id)}::uuid[], ${keptBack.map((row) => row.source)}::text[])
          AS kept (customer_id, source)`
    }
    if (locked.length === 0) return { ...nothing, keptBack: keptBack.length }

    const sourcesOf = new Map<CustomerId, Set<EvaluationSource>>()
    for (const row of claimed) sourcesOf.set(row.customer_id, (sourcesOf.get(row.customer_id) ?? new Set()).add(row.source))
    const customerIds = [...sourcesOf.keys()]
    const context = {
      ...(yield* currentEvaluationContext.pipe(Effect.provideService(ClvModels, models))),
      now
    }
    const order = dependencyOrder(locked)
    const days = dailyRowsReadByAll(order.map((item) => item.criteria), todayOf(context))
    const loaded = yield* factsOf(customerIds, days)
    const current = new Set(
      (yield* sql<Stay>`SELECT segment_id::text AS segment_id, customer_id::text AS customer_id
        FROM customer_segment_memberships WHERE customer_id = ANY(${customerIds}::uuid[]) AND left_at IS NULL`)
        .map((stay) => stayKey(stay.segment_id, stay.customer_id))
    )

    const joins: Array<Stay> = []
    const leaves: Array<Stay> = []
    for (const [customerId, changed] of sourcesOf) {
      const customer = loaded.get(customerId)
      if (customer === undefined) continue
      const decided = new Map<SegmentId, boolean>()
      const isMember = (segmentId: SegmentId) => decided.get(segmentId) ?? current.has(stayKey(segmentId, customerId))
      for (const definition of order) {
        if (![...changed].some((source) => affected[source].has(definition.id))) continue
        // Members are live customers, as a calculation counts them.
        const matches = customer.status !== "DELETED" && evaluate(definition.criteria, customer, context, { isMember }, noRuleOutcomes)
        const member = current.has(stayKey(definition.id, customerId))
        decided.set(definition.id, matches)
        if (matches && !member) joins.push({ segment_id: definition.id, customer_id: customerId })
        if (!matches && member) leaves.push({ segment_id: definition.id, customer_id: customerId })
      }
    }
    if (joins.length + leaves.length === 0) return { ...nothing, keptBack: keptBack.length }

    // The segments' rows are this round's, so their current stays are as read above: the ON CONFLICT and the
    // left_at guard only make sure a stay is never opened or closed twice.
    const joined = joins.length === 0 ? [] : yield* sql<Stay>`INSERT INTO customer_segment_memberships
        (segment_id, customer_id, joined_at)
      SELECT segment_id, customer_id, ${at}::timestamptz
      FROM unnest(${joins.map((stay) => stay.segment_id)}::uuid[], ${joins.map((stay) => stay.customer_id)}::uuid[])
        AS joining (segment_id, customer_id)
      ORDER BY 1, 2
      ON CONFLICT (segment_id, customer_id) WHERE left_at IS NULL DO NOTHING
      RETURNING segment_id::text AS segment_id, customer_id::text AS customer_id`
    const left = leaves.length === 0 ? [] : yield* sql<Stay>`UPDATE customer_segment_memberships m
      SET left_at = greatest(m.joined_at, ${at}::timestamptz)
      FROM unnest(${leaves.map((stay) => stay.segment_id)}::uuid[], ${leaves.map((stay) => stay.customer_id)}::uuid[])
        AS leaving (segment_id, customer_id)
      WHERE m.segment_id = leaving.segment_id AND m.customer_id = leaving.customer_id AND m.left_at IS NULL
      RETURNING m.segment_id::text AS segment_id, m.customer_id::text AS customer_id`

    const joinedBySegment = grouped(joined)
    const leftBySegment = grouped(left)
    const moved = [...new Set([...joinedBySegment.keys(), ...leftBySegment.keys()])].sort()
    const delta = (id: SegmentId) => (joinedBySegment.get(id)?.length ?? 0) - (leftBySegment.get(id)?.length ?? 0)
    yield* sql`UPDATE customer_segments s SET member_count = s.member_count + moved.delta
      FROM unnest(${moved}::uuid[], ${moved.map(delta)}::int[]) AS moved (id, delta)
      WHERE s.id = moved.id AND moved.delta <> 0`
    yield* outbox.appendAll(moved.flatMap((segmentId) => {
      const change = { segmentId, cause: "real-time", calculationId: null, at: now } as const
      return [
        ...membershipEvents("segment.joined", change, ascending(joinedBySegment.get(segmentId) ?? [])),
        ...membershipEvents("segment.left", change, ascending(leftBySegment.get(segmentId) ?? []))
      ]
    }))
    return {
      ...nothing,
      joined: joined.length,
      left: left.length,
      keptBack: keptBack.length
    }
  })

  const rounds = Effect.gen(function*() {
    while (true) {
      const done = yield* sql.withTransaction(round())
      if (done.joined + done.left > 0) {
        yield* outbox.committed
        yield* Effect.logDebug("segments: real-time round").pipe(Effect.annotateLogs({ ...done }))
      }
      // More is waiting: a full batch of rows, or batches committed while this round ran (unless another
      // process's round held the lock: then the poll comes back).
      if (done.claimed < batch && !(done.fresh > 0 && hasFresh())) return
    }
  })

  const hasFresh = () => [...heldBatches.values()].some((batch) => !batch.looked)

  // Idle polls open no transaction and lock nothing. Held batches not looked at yet are due at once.
  const due = Effect.suspend(() =>
    hasFresh() ? Effect.succeed(true) : Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.map(
        sql<{ readonly some: boolean }>`SELECT EXISTS (
          SELECT 1 FROM segment_evaluation_pending WHERE due_at <= ${new Date(now)}) AS some`,
        ([row]) => row.some
      ))
  )

  yield* Effect.forkScoped(
    due.pipe(
      Effect.flatMap((some) => some ? rounds : Effect.void),
      // A failed round rolled back whole: its customers are still queued for the next.
      loggingFailures("segments: real-time round failed, will retry", Effect.sleep("1 second")),
      Effect.andThen(queue.woken.pipe(Effect.timeoutOption(poll))),
      Effect.forever
    )
  )
}))
