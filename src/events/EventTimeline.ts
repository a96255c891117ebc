/**
 * A customer's timeline: their events newest first, keyset-paged on
 * (occurred_at, id) along customer_events_timeline_idx, so a page costs the
 * same at any depth. A time window also prunes the partitions read. Each
 * event's sealed personal part is opened for the roles that see it
 * (Access.ts) and left shut for the others.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option } from "effect"
import { decodeCursor, encodeCursor } from "../customers/Cursor.ts"
import type { CustomerId, Metadata } from "../domain/Customer.ts"
import {
  defaultTimelinePageSize,
  type Device,
  type EventId,
  type TimelinePage,
  type TimelineQuery,
  type TrackedEvent
} from "../domain/Event.ts"
import { type Actor, type Role, seesPersonalEventData } from "../domain/Access.ts"
import { CustomerNotFound, InvalidCursor } from "../domain/Errors.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { AuditLog } from "../privacy/AuditLog.ts"
import { Keyring } from "../privacy/Keyring.ts"
import { mergePersonal, type PersonalEventData, sealedEventField } from "./EventPersonalData.ts"

/** The cursor's sort name: newest first is the only order. */
const timelineSort = "-occurredAt"

/** UTC text as JSON shows times (events are kept to the millisecond). */
export const millisecondsText = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/** The cursor carries every digit stored: should a time ever hold microseconds, the seek still neither repeats nor skips. */
const sortKey = `to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS sort_key`

interface EventRow {
  readonly id: EventId
  readonly customer_id: CustomerId
  readonly type: string
  readonly occurred_at: string
  readonly received_at: string
  readonly session_id: string | null
  readonly channel: string | null
  readonly device: Device | null
  readonly properties: Metadata
  readonly revenue: string | null
  readonly currency: string | null
  readonly personal_sealed: Uint8Array | null
}

/** The columns of a TrackedEvent (of `customer_events e`). */
export const trackedEventColumns = `e.id, e.customer_id, e.type, ${millisecondsText("e.occurred_at")} AS occurred_at, ` +
  `${millisecondsText("e.received_at")} AS received_at, e.session_id, e.channel, e.device, e.properties, ` +
  "e.revenue::text AS revenue, e.currency, e.personal_sealed"

export const toTrackedEvent = (row: EventRow): TrackedEvent => ({
  id: row.id,
  customerId: row.customer_id,
  type: row.type,
  occurredAt: row.occurred_at,
  receivedAt: row.received_at,
  sessionId: row.session_id,
  channel: row.channel,
  device: row.device,
  properties: row.properties,
  revenue: row.revenue === null ? null : Number(row.revenue),
  currency: row.currency as TrackedEvent["currency"]
})

export type { EventRow }

/** A page as served, and which personal parts it served (for the audit). */
interface ServedPage {
  readonly page: TimelinePage
  readonly personal: ReadonlyArray<keyof PersonalEventData>
}

export class EventTimeline extends Context.Service<EventTimeline, {
  /** A page as `role` may see it (not audited: the export, which reads many, is audited as one export). */
  page(role: Role, customerId: CustomerId, query: TimelineQuery): Effect.Effect<TimelinePage, CustomerNotFound | InvalidCursor>
  /** A page for the actor, its reading of personal event data audited (REST and RPC). */
  read(actor: Actor, customerId: CustomerId, query: TimelineQuery): Effect.Effect<TimelinePage, CustomerNotFound | InvalidCursor>
}>()("cms/events/EventTimeline") {
  static readonly layer = Layer.effect(
    EventTimeline,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const keyring = yield* Keyring
      const audit = yield* AuditLog
      const columns = sql.literal(`${trackedEventColumns}, ${sortKey}`)

      const served = Effect.fn("EventTimeline.page")(function*(role: Role, customerId: CustomerId, query: TimelineQuery) {
        const limit = query.limit ?? defaultTimelinePageSize
        const where = [sql`e.customer_id = ${customerId}`]
        if (query.types !== undefined) where.push(sql`e.type = ANY(${query.types}::text[])`)
        if (query.from !== undefined) where.push(sql`e.occurred_at >= ${query.from}::timestamptz`)
        if (query.to !== undefined) where.push(sql`e.occurred_at < ${query.to}::timestamptz`)
        if (query.cursor !== undefined) {
          const position = yield* Option.match(decodeCursor(query.cursor, timelineSort, true), {
            onNone: () => Effect.fail(new InvalidCursor({ field: "cursor" })),
            onSome: Effect.succeed
          })
          where.push(sql`(e.occurred_at, e.id) < (${position.value}::timestamptz, ${position.id}::uuid)`)
        }
        const [customers, rows] = yield* Effect.all([
          sql<{ readonly status: string; readonly data_key: Uint8Array | null }>`SELECT status,
            (SELECT k.wrapped FROM customer_keys.data_keys k WHERE k.customer_id = customers.id) AS data_key
            FROM customers WHERE id = ${customerId}`,
          sql<EventRow & { readonly sort_key: string }>`SELECT ${columns} FROM customer_events e WHERE ${sql.and(where)}
            ORDER BY e.occurred_at DESC, e.id DESC LIMIT ${limit + 1}`
        ], { concurrency: 2 }).pipe(Effect.orDie)
        // An erased customer's events are not served, as for every read of them.
        if (customers.length === 0 || customers[0].status === "DELETED") {
          return yield* new CustomerNotFound({ customerId })
        }
        const last = rows.at(limit - 1)
        const events = rows.slice(0, limit).map(toTrackedEvent)
        const personal = new Set<keyof PersonalEventData>()
        if (seesPersonalEventData(role) && rows.some((row) => row.personal_sealed !== null)) {
          const open = yield* keyring.readerFor(customerId, customers[0].data_key)
          for (const [n, event] of events.entries()) {
            const sealed = rows[n].personal_sealed
            // Unreadable: sealed under a key since replaced (anonymisation), which is what the rekey is for.
            const opened = sealed === null ? undefined : open(sealedEventField(event.id), sealed) as PersonalEventData | undefined
            if (opened === undefined) continue
            for (const part of Object.keys(opened)) personal.add(part as keyof PersonalEventData)
            events[n] = { ...event, ...mergePersonal(event.device, event.properties, opened) }
          }
        }
        return {
          page: {
            data: events,
            nextCursor: rows.length > limit && last !== undefined ? encodeCursor(timelineSort, last.sort_key, last.id) : null
          },
          personal: [...personal].sort()
        } satisfies ServedPage
      })

      const read = Effect.fn("EventTimeline.read")(function*(actor: Actor, customerId: CustomerId, query: TimelineQuery) {
        const { page, personal } = yield* served(actor.role, customerId, query)
        if (personal.length > 0) {
          const requestId = yield* CurrentRequestId
          yield* audit.recordReads([{
            actor,
            action: "customer.events.read",
            customerId,
            requestId,
            fields: personal.map((part) => `events.${part}`)
          }])
        }
        return page
      })

      return EventTimeline.of({
        page: (role, customerId, query) => Effect.map(served(role, customerId, query), ({ page }) => page),
        read
      })
    })
  )
}
