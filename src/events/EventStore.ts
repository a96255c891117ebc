/**
 * Tracked events in PostgreSQL: a batch of events goes in as one statement
 * (checked against its customers, deduplicated by id and time, and recorded
 * as a committed batch for the rollups and JetStream), into monthly partitions
 * made as the events' times need them.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, PubSub } from "effect"
import type { CustomerId } from "../domain/Customer.ts"
import type { Device, EventId, PlanViolation } from "../domain/Event.ts"
import type { Metadata } from "../domain/Customer.ts"
import { Keyring } from "../privacy/Keyring.ts"
import { sealedEventField, splitPersonal } from "./EventPersonalData.ts"

/** An event ready to store: its id and time settled (the client's or the service's). */
export interface EventToStore {
  readonly id: EventId
  readonly customerId: CustomerId
  readonly type: string
  readonly occurredAt: string
  readonly sessionId: string | null
  readonly channel: string | null
  readonly device: Device | null
  readonly properties: Metadata | null
  readonly revenue: number | null
  readonly currency: string | null
  /** How its properties break the tracking plan, when its type's mode is to flag and not refuse. */
  readonly planViolations: ReadonlyArray<PlanViolation> | null
  /** The top-level properties its type marks personal (the tracking plan): sealed with the device details. */
  readonly personalProperties: ReadonlyArray<string>
}

/** What became of each event of a batch, in the batch's order. */
export type StoreOutcome = "stored" | "duplicate" | "customer-not-found"

/** The first instant of the month `instant` falls in, and of the next, in UTC. */
const monthOf = (instant: number) => {
  const date = new Date(instant)
  const start = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)
  const end = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)
  return { start, end }
}

/** `customer_events_p202612`: the partition holding December 2026. */
export const partitionName = (monthStart: number) => {
  const date = new Date(monthStart)
  return `customer_events_p${String(date.getUTCFullYear()).padStart(4, "0")}${
    String(date.getUTCMonth() + 1).padStart(2, "0")
  }`
}

/** The month a partition holds, from its name; undefined for a name not of ours. */
const monthStartOf = (name: string): number | undefined => {
  const match = /^customer_events_p(\d{4})(\d{2})$/.exec(name)
  return match === null ? undefined : Date.UTC(Number(match[1]), Number(match[2]) - 1, 1)
}

interface OutcomeRow {
  readonly n: number
  readonly status: string | null
  readonly stored: boolean
  /** As stored (numeric(20, 4)), for the events the statement stored. */
  readonly revenue: number | null
  readonly batch: string | null
}

/** A committed batch as it goes to JetStream without being read back: the events it stored, as stored. */
export interface CommittedBatch {
  /** Numbers this process's committed batches in the order their commits returned, so that a reader sees a gap. */
  readonly seq: number
  /** Its event_batches row. */
  readonly id: string
  readonly receivedAt: string
  /** Their clear part only (device type, properties not marked personal), as the table's clear columns hold. */
  readonly events: ReadonlyArray<EventToStore>
}

/** Committed batches held for a slow reader; beyond this the oldest go (the reader sees the gap). */
const committedBatchesKept = 32

export class EventStore extends Context.Service<EventStore, {
  /** Stores what is new, in one statement (committed when it returns); the outcomes follow the input's order. */
  store(events: ReadonlyArray<EventToStore>, committedAt: Date): Effect.Effect<ReadonlyArray<StoreOutcome>>
  /** Makes the monthly partitions covering these instants (epoch milliseconds), where missing. */
  ensurePartitions(instants: Iterable<number>): Effect.Effect<void>
  /** Drops the monthly partitions that end at or before `horizon` (epoch milliseconds); their names. */
  dropPartitionsBefore(horizon: number): Effect.Effect<ReadonlyArray<string>>
  /** A signal after each committed batch that stored something, so the rollup folder need not wait for its poll. */
  readonly batchCommitted: PubSub.PubSub<void>
  /** Each committed batch that stored something, for the JetStream publisher (nothing is kept without a subscriber). */
  readonly committedBatches: PubSub.PubSub<CommittedBatch>
  /** The seq of the last batch put on committedBatches (0: none yet). */
  readonly lastCommittedSeq: Effect.Effect<number>
}>()("cms/events/EventStore") {
  static readonly layer = Layer.effect(
    EventStore,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const keyring = yield* Keyring
      const batchCommitted = yield* PubSub.sliding<void>(1)
      const committedBatches = yield* PubSub.sliding<CommittedBatch>(committedBatchesKept)
      let lastSeq = 0
      // Partitions known to exist. Another process may have made more: creating one is idempotent.
      const known = new Set(
        (yield* sql<{ readonly name: string }>`SELECT c.relname AS name FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'customer_events'::regclass`.pipe(Effect.orDie))
          .map((row) => row.name)
      )

      /**
       * DDL on the partitions under one advisory lock, as one statement (its own transaction): no BEGIN and
       * COMMIT round trips, and nothing for an embedded PGlite, which runs every connection in one session, to
       * interleave with. `ddl` is built from our own month names and instants, never from input.
       */
      const partitionDdl = (ddl: string) =>
        sql.unsafe(
          `DO $$ BEGIN PERFORM pg_advisory_xact_lock(hashtext('customer_events partitions')); EXECUTE '${ddl}'; END $$`
        ).pipe(Effect.orDie, Effect.asVoid)

      const createPartition = (start: number, end: number) => {
        const name = partitionName(start)
        // Two processes (or two batches) may want the same month at once: the lock makes the check-then-create whole.
        return partitionDdl(
          `CREATE TABLE IF NOT EXISTS ${name} PARTITION OF customer_events ` +
            `FOR VALUES FROM (''${new Date(start).toISOString()}'') TO (''${new Date(end).toISOString()}'')`
        ).pipe(Effect.tap(() => Effect.sync(() => known.add(name))))
      }

      const ensurePartitions = Effect.fn("EventStore.ensurePartitions")(function*(instants: Iterable<number>) {
        const missing = new Map<string, { readonly start: number; readonly end: number }>()
        for (const instant of instants) {
          const month = monthOf(instant)
          const name = partitionName(month.start)
          if (!known.has(name)) missing.set(name, month)
        }
        for (const { start, end } of missing.values()) yield* createPartition(start, end)
      })

      const store = Effect.fn("EventStore.store")(function*(events: ReadonlyArray<EventToStore>, committedAt: Date) {
        yield* ensurePartitions(events.map((event) => Date.parse(event.occurredAt)))
        // The batch's keys in one look-up (most cached): sealing costs no statement per event.
        const split = events.map((event) => splitPersonal(event.device, event.properties, event.personalProperties))
        const sealerOf = yield* keyring.sealersFor(
          events.flatMap((event, n) => split[n].personal === null ? [] : [event.customerId])
        )
        const clear = events.map((event, n) => {
          const { device, properties } = split[n]
          return device === event.device && properties === event.properties ? event : { ...event, device, properties }
        })
        const input = JSON.stringify(clear.map((event, n) => {
          const personal = split[n].personal
          return {
            n,
            id: event.id,
            customer_id: event.customerId,
            type: event.type,
            occurred_at: event.occurredAt,
            session_id: event.sessionId,
            channel: event.channel,
            device: event.device,
            properties: event.properties ?? {},
            personal_sealed: personal === null
              ? null
              : sealerOf(event.customerId)(sealedEventField(event.id), personal).toString("base64"),
            revenue: event.revenue,
            currency: event.currency,
            plan_violations: event.planViolations
          }
        }))
        // One statement: atomic, and one round trip for the whole batch. Events of unknown or erased
        // customers are left out and reported; `ON CONFLICT` leaves an event already stored as it was.
        const rows = yield* sql<OutcomeRow>`WITH input AS (
            SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS t(
              n int, id uuid, customer_id uuid, type text, occurred_at timestamptz, session_id text,
              channel text, device jsonb, properties jsonb, personal_sealed text, revenue numeric, currency text,
              plan_violations jsonb)
          ),
          checked AS (
            SELECT input.*, customers.status FROM input LEFT JOIN customers ON customers.id = input.customer_id
          ),
          stored AS (
            INSERT INTO customer_events (id, occurred_at, customer_id, type, received_at, session_id, channel, device,
              properties, personal_sealed, revenue, currency, plan_violations)
            SELECT id, occurred_at, customer_id, type, ${committedAt.toISOString()}::timestamptz, session_id, channel, device, properties,
              decode(personal_sealed, 'base64'), revenue, currency, plan_violations
            FROM checked WHERE status IS NOT NULL AND status <> 'DELETED'
            ON CONFLICT DO NOTHING
            RETURNING id, occurred_at, revenue
          ),
          batch AS (
            INSERT INTO event_batches (committed_at, event_ids, occurred)
            SELECT ${committedAt.toISOString()}::timestamptz, array_agg(id), array_agg(occurred_at) FROM stored HAVING count(*) > 0
            RETURNING id
          )
          SELECT checked.n, checked.status, stored.id IS NOT NULL AS stored, stored.revenue::float8 AS revenue,
            (SELECT id::text FROM batch) AS batch
          FROM checked LEFT JOIN stored ON stored.id = checked.id AND stored.occurred_at = checked.occurred_at`.pipe(
          Effect.orDie
        )
        const outcomes = new Array<StoreOutcome>(events.length)
        const stored: Array<EventToStore> = []
        let batch: string | null = null
        for (const row of rows) {
          // An erased customer is not found, as for every read.
          outcomes[row.n] = row.status === null || row.status === "DELETED"
            ? "customer-not-found"
            : row.stored
            ? "stored"
            : "duplicate"
          if (row.stored) {
            const event = clear[row.n]
            stored.push(event.revenue === row.revenue ? event : { ...event, revenue: row.revenue })
          }
          batch ??= row.batch
        }
        if (batch !== null) {
          yield* PubSub.publish(batchCommitted, undefined)
          yield* PubSub.publish(committedBatches, {
            seq: ++lastSeq,
            id: batch,
            receivedAt: committedAt.toISOString(),
            events: stored
          })
        }
        return outcomes
      })

      const dropPartitionsBefore = Effect.fn("EventStore.dropPartitionsBefore")(function*(horizon: number) {
        const partitions = yield* sql<{ readonly name: string }>`SELECT c.relname AS name FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'customer_events'::regclass`.pipe(Effect.orDie)
        const expired = partitions.flatMap(({ name }) => {
          const start = monthStartOf(name)
          return start !== undefined && monthOf(start).end <= horizon ? [name] : []
        }).sort()
        for (const name of expired) {
          // Brief: the drop locks the parent while it runs, a catalogue change and unlinking files.
          yield* partitionDdl(`DROP TABLE IF EXISTS ${name}`).pipe(Effect.tap(() => Effect.sync(() => known.delete(name))))
        }
        return expired
      })

      return EventStore.of({
        store,
        ensurePartitions,
        dropPartitionsBefore,
        batchCommitted,
        committedBatches,
        lastCommittedSeq: Effect.sync(() => lastSeq)
      })
    })
  )
}
