/**
 * The transactional outbox: `append` encodes a typed event and writes it in
 * the caller's transaction; the relay (OutboxRelay.ts) publishes it after commit.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, PubSub, Schema } from "effect"
import type { Statement } from "effect/sql"
import type { CustomerId } from "../domain/Customer.ts"
import { CustomerEvent, personalEventFields, subjectOf } from "../domain/CustomerEvents.ts"
import { SegmentMembershipChanged, segmentSubjectOf } from "../domain/SegmentEvents.ts"
import { guardName } from "./Database.ts"
import { uuidv7 } from "./Ids.ts"

/** Every event the outbox carries: a customer's changes, and segment membership changes. */
const OutboxEvent = Schema.Union([CustomerEvent, SegmentMembershipChanged])
type OutboxEvent = typeof OutboxEvent.Type

/** An event as the caller builds it: the outbox gives it its id. */
export type NewEvent = OutboxEvent extends infer Event ? Event extends OutboxEvent ? Omit<Event, "eventId"> : never
  : never

// The event is typed and built from values already decoded at the edge or read from the store, so encoding
// skips re-running their checks (metadata's alone cost ~20 µs per write); it still shapes the JSON.
const encodeEvent = Schema.encodeSync(OutboxEvent, { disableChecks: true })

const subjectOfEvent = (event: OutboxEvent) => "segmentId" in event ? segmentSubjectOf(event) : subjectOf(event)

export class Outbox extends Context.Service<Outbox, {
  /** Must run inside the transaction that makes the change. */
  append(event: NewEvent): Effect.Effect<void>
  /** The same write as a statement, to run with the change as one statement. */
  appendStatement(event: NewEvent): Statement.Statement<unknown>
  /** Events of several changes committed together (a group of creates), as one insert in the order given. */
  appendAllStatement(events: ReadonlyArray<NewEvent>): Statement.Statement<unknown>
  /**
   * Events written only when the guard of a guarded statement (Database.ts) matched, in the order given:
   * one INSERT, so their outbox ids follow the list even within one statement.
   */
  appendGuardedStatement(events: ReadonlyArray<NewEvent>, guard?: string): Statement.Statement<unknown>
  /** Events as one INSERT, in the order given (their outbox ids follow the list); inside the change's transaction. */
  appendAll(events: ReadonlyArray<NewEvent>): Effect.Effect<void>
  /**
   * Events one of whose fields the database fills: `values` selects (key text, value jsonb) rows, and each event
   * takes the value of its key as `field` (the schema encodes the rest; an event whose key has no row is not
   * written). For contents that are rows the transaction changed (the ids of millions of them), so that they
   * need not travel to the service and back. In the order given; inside the change's transaction.
   */
  appendFilled(
    events: ReadonlyArray<{ readonly event: NewEvent; readonly key: string }>,
    field: string,
    values: Statement.Fragment
  ): Effect.Effect<void>
  /**
   * Erasure, inside its transaction: the customer's published events go, those still waiting lose the
   * person's data (they stay: consumers still learn that something changed). Segment membership events,
   * published or not, lose the customer's id.
   */
  eraseCustomer(customerId: CustomerId): Effect.Effect<void>
  /** Anonymisation, inside its transaction: the customer's events still waiting lose the person's data. */
  stripPersonal(customerId: CustomerId): Effect.Effect<void>
  /** Tells the relay there is work, so delivery does not wait for its next poll. */
  readonly committed: Effect.Effect<void>
  readonly wakeUps: PubSub.PubSub<void>
}>()("cms/platform/Outbox") {
  static readonly layer = Layer.effect(
    Outbox,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const wakeUps = yield* PubSub.sliding<void>(1)
      const removePersonal = sql.literal(personalEventFields.map((field) => `- '${field}'`).join(" "))
      /** The event with its new id, as the outbox row's values: id, subject, encoded payload. */
      const encoded = (event: NewEvent) => {
        const eventId = uuidv7()
        const typed = { eventId, ...event } as OutboxEvent
        return sql`${eventId}::uuid, ${subjectOfEvent(typed)}, ${sql.json(encodeEvent(typed))}::jsonb`
      }
      /** The events as VALUES rows with their position; `guard` names a guard to select from, or none. */
      const appendInOrder = (events: ReadonlyArray<NewEvent>, guard: string | null) => {
        const rows = events.map((event, position) => sql`(${encoded(event)}, ${position}::int)`)
        // Rows reach the insert in ORDER BY order, and each takes its id (bigserial) as it is inserted.
        return sql`INSERT INTO outbox (event_id, subject, payload)
          SELECT event.event_id, event.subject, event.payload
          FROM (VALUES ${sql.csv(rows)}) AS event (event_id, subject, payload, position)
            ${guard === null ? sql`` : sql`, ${sql.literal(guard)}`}
          ORDER BY event.position`
      }
      const appendStatement = (event: NewEvent) => appendInOrder([event], null)
      // Four or five parameters a row, well under PostgreSQL's 65,535 per statement.
      const rowsPerInsert = 5_000
      const appendAll = Effect.fn("Outbox.appendAll")(function*(events: ReadonlyArray<NewEvent>) {
        for (let start = 0; start < events.length; start += rowsPerInsert) {
          yield* appendInOrder(events.slice(start, start + rowsPerInsert), null).pipe(Effect.orDie)
        }
      })
      const appendFilled = Effect.fn("Outbox.appendFilled")(function*(
        events: ReadonlyArray<{ readonly event: NewEvent; readonly key: string }>,
        field: string,
        values: Statement.Fragment
      ) {
        for (let start = 0; start < events.length; start += rowsPerInsert) {
          const rows = events.slice(start, start + rowsPerInsert).map(({ event, key }, position) =>
            sql`(${encoded(event)}, ${key}::text, ${position}::int)`
          )
          yield* sql`INSERT INTO outbox (event_id, subject, payload)
            SELECT event.event_id, event.subject, jsonb_set(event.payload, ARRAY[${field}]::text[], filled.value)
            FROM (VALUES ${sql.csv(rows)}) AS event (event_id, subject, payload, key, position)
              JOIN (${values}) AS filled (key, value) ON filled.key = event.key
            ORDER BY event.position`.pipe(Effect.orDie)
        }
      })
      const stripPersonal = Effect.fn("Outbox.stripPersonal")(function*(customerId: CustomerId) {
        yield* sql`UPDATE outbox SET payload = payload ${removePersonal}
          WHERE subject LIKE ${`customers.${customerId}.%`} AND published_at IS NULL`.pipe(Effect.orDie)
      })
      return Outbox.of({
        appendFilled,
        appendStatement,
        appendAllStatement: (events) => appendInOrder(events, null),
        appendGuardedStatement: (events, guard = guardName) => appendInOrder(events, guard),
        appendAll,
        append: Effect.fn("Outbox.append")(function*(event: NewEvent) {
          yield* appendStatement(event).pipe(Effect.orDie)
        }),
        stripPersonal,
        eraseCustomer: Effect.fn("Outbox.eraseCustomer")(function*(customerId: CustomerId) {
          yield* sql`DELETE FROM outbox WHERE subject LIKE ${`customers.${customerId}.%`}
            AND published_at IS NOT NULL`.pipe(Effect.orDie)
          yield* stripPersonal(customerId)
          yield* sql`UPDATE outbox SET payload = jsonb_set(payload, '{customerIds}', (payload -> 'customerIds') - ${customerId}::text)
            WHERE subject LIKE 'segments.%' AND payload -> 'customerIds' @> jsonb_build_array(${customerId}::text)`.pipe(
            Effect.orDie
          )
        }),
        committed: PubSub.publish(wakeUps, undefined).pipe(Effect.asVoid),
        wakeUps
      })
    })
  )
}
