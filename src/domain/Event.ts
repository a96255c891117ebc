/**
 * Tracked behaviour: what a client sends (one event, or a batch across
 * customers), what the service keeps, and what each event's tracking came to.
 */
import { Schema, SchemaTransformation } from "effect"
import { CustomerId, isStorableText, Metadata, Timestamp } from "./Customer.ts"
import { InstantText } from "./Instant.ts"
import { CurrencyCode } from "./Reference.ts"
import { PageLimit } from "./Paging.ts"

export const EventId = Schema.String.check(Schema.isUUID()).pipe(Schema.brand("EventId")).annotate({
  description: "The event's id (a UUID). Send your own so that a retried event is stored once; one is made otherwise."
})
export type EventId = typeof EventId.Type

/** The types the analytics understand; any other snake_case name is a custom type. */
export const standardEventTypes = [
  "page_view",
  "screen_view",
  "sign_up",
  "sign_in",
  "sign_out",
  "search",
  "product_view",
  "add_to_cart",
  "remove_from_cart",
  "checkout_started",
  "purchase",
  "refund",
  "subscription_started",
  "subscription_cancelled",
  "email_open",
  "email_click",
  "push_open",
  "support_ticket",
  "feature_used"
] as const

/** snake_case, so that a type is one token of a NATS subject (`events.<type>`). */
export const EventType = Schema.String.check(
  Schema.isPattern(/^[a-z][a-z0-9_]{0,49}$/u, { expected: "a snake_case event type of 1-50 characters, e.g. 'page_view'" })
).annotate({
  identifier: "EventType",
  description: `One of ${standardEventTypes.map((type) => `\`${type}\``).join(", ")}, or a custom type in snake_case`,
  examples: ["purchase"]
})

const ShortText = (maximum: number) => Schema.String.check(isStorableText, Schema.isNonEmpty(), Schema.isMaxCodePoints(maximum))

/**
 * `type` is stored and published in the clear; every other field is the device's personal part (sealed at rest,
 * shown only to roles that see personal data, never published).
 */
export const Device = Schema.Struct({
  type: Schema.optionalKey(Schema.Literals(["desktop", "mobile", "tablet", "tv", "wearable", "server", "other"])),
  os: Schema.optionalKey(ShortText(64)),
  osVersion: Schema.optionalKey(ShortText(32)),
  browser: Schema.optionalKey(ShortText(64)),
  browserVersion: Schema.optionalKey(ShortText(32)),
  model: Schema.optionalKey(ShortText(64)),
  appVersion: Schema.optionalKey(ShortText(32)),
  userAgent: Schema.optionalKey(ShortText(512))
}).annotate({
  identifier: "Device",
  description: "The device the event came from; every field optional. Personal data except `type`: sealed at rest, " +
    "absent for analysts and on the EVENTS stream"
})
export type Device = typeof Device.Type

/** Revenue up to a trillion either way (refunds are negative). */
export const Revenue = Schema.Finite.check(Schema.isBetween({ minimum: -1e12, maximum: 1e12 })).annotate({
  identifier: "Revenue",
  description: "The event's monetary value, negative for a refund; kept to four decimal places"
})

const revenueWithCurrency = Schema.makeFilter((event: { readonly revenue?: number; readonly currency?: string }) =>
  (event.revenue === undefined) === (event.currency === undefined) ||
  { path: [event.revenue === undefined ? "revenue" : "currency"], issue: "revenue and currency go together" }
)

/** The earliest time an event may claim: each month since makes a partition, so the past is bounded too. */
export const earliestOccurredAt = "1970-01-01T00:00:00Z"

const OccurredAt = InstantText.check(
  Schema.makeFilter((text: string) => Date.parse(text) >= Date.parse(earliestOccurredAt) || `not before ${earliestOccurredAt}`)
).annotate({
  description: "When it happened (RFC 3339); defaults to when the service received it. Past years are welcome " +
    `(backfills) from ${earliestOccurredAt} on, within the retention period when one is set; more than five ` +
    "minutes ahead of the service's clock is refused."
})

const trackedFields = {
  id: Schema.optionalKey(EventId),
  type: EventType,
  occurredAt: Schema.optionalKey(OccurredAt),
  sessionId: Schema.optionalKey(ShortText(128)),
  channel: Schema.optionalKey(
    Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9_]{0,31}$/u, { expected: "a snake_case channel, e.g. 'web'" }))
      .annotate({ description: "Where it happened: web, ios, android, email, store, call_center, ... (snake_case)" })
  ),
  device: Schema.optionalKey(Device),
  properties: Schema.optionalKey(Metadata),
  revenue: Schema.optionalKey(Revenue),
  currency: Schema.optionalKey(CurrencyCode)
}

/** An event as a client tracks it for a known customer. */
export const TrackEvent = Schema.Struct(trackedFields).check(revenueWithCurrency).annotate({
  identifier: "TrackEvent",
  examples: [{
    id: EventId.make("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d36"),
    type: "purchase",
    occurredAt: "2026-01-31T09:30:00Z",
    sessionId: "s-81f2",
    channel: "web",
    device: { type: "desktop", os: "macOS", browser: "Firefox" },
    properties: { orderId: "A-1001", items: 2 },
    revenue: 59.9,
    currency: "EUR"
  }]
})
export type TrackEvent = typeof TrackEvent.Type

/** An event of a batch: the same, naming its customer. */
export const BatchEvent = Schema.Struct({ customerId: CustomerId, ...trackedFields }).check(revenueWithCurrency)
  .annotate({ identifier: "BatchEvent" })
export type BatchEvent = typeof BatchEvent.Type

export const maxBatchEvents = 1_000

export const TrackBatch = Schema.Struct({
  events: Schema.Array(BatchEvent).check(Schema.isBetweenLength(1, maxBatchEvents))
}).annotate({ identifier: "TrackBatch", description: `1 to ${maxBatchEvents} events, for any customers` })
export type TrackBatch = typeof TrackBatch.Type

/** Why one event of a batch was not stored: a stable problem type and the field it is about, as for errors. */
export const EventRejection = Schema.Struct({
  type: Schema.Literals([
    "/problems/customer-not-found",
    "/problems/occurred-in-future",
    "/problems/occurred-before-retention",
    "/problems/tracking-plan-violation",
    "/problems/unregistered-event-type"
  ]),
  title: Schema.String,
  field: Schema.String,
  detail: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "EventRejection" })
export type EventRejection = typeof EventRejection.Type

/** One way an event's properties break its type's schema in the tracking plan: where (`properties...`) and what. */
export const PlanViolation = Schema.Struct({
  field: Schema.String,
  message: Schema.String
}).annotate({ identifier: "PlanViolation" })
export type PlanViolation = typeof PlanViolation.Type

/**
 * What tracking one event came to: `stored` (committed before this answer), `duplicate` (an event with this id
 * and time was stored before: nothing changed) or `rejected` (nothing stored; `problem` says why). `violations`
 * lists how its properties break the tracking plan: stored flagged, or the reason it was refused.
 */
export const EventResult = Schema.Struct({
  id: EventId,
  status: Schema.Literals(["stored", "duplicate", "rejected"]),
  problem: Schema.optionalKey(EventRejection),
  violations: Schema.optionalKey(Schema.Array(PlanViolation))
}).annotate({ identifier: "EventResult" })
export type EventResult = typeof EventResult.Type

export const BatchResult = Schema.Struct({
  stored: Schema.Int,
  duplicates: Schema.Int,
  rejected: Schema.Int,
  results: Schema.Array(EventResult).annotate({ description: "One per event, in the order sent" })
}).annotate({ identifier: "BatchResult" })
export type BatchResult = typeof BatchResult.Type

/**
 * An event as the service keeps and serves it: in a customer's timeline, and in the messages published to
 * the JetStream stream `EVENTS` (TrackedEvents).
 */
export const TrackedEvent = Schema.Struct({
  id: EventId,
  customerId: CustomerId,
  type: EventType,
  occurredAt: Timestamp,
  receivedAt: Timestamp.annotate({ description: "When the service committed it" }),
  sessionId: Schema.NullOr(Schema.String),
  channel: Schema.NullOr(Schema.String),
  device: Schema.NullOr(Device),
  properties: Metadata,
  revenue: Schema.NullOr(Schema.Finite),
  currency: Schema.NullOr(CurrencyCode)
}).annotate({ identifier: "TrackedEvent", description: "An event tracked for a customer" })
export type TrackedEvent = typeof TrackedEvent.Type

/**
 * The message published to the JetStream stream `EVENTS` on `events.<type>`: the events of one type from one
 * committed batch (at most a few hundred per message), in the order they occurred. Nats-Msg-Id is the first
 * event's `<id>@<occurredAt>`, so a message published again is deduplicated by the stream.
 */
export const TrackedEvents = Schema.Struct({
  type: EventType,
  events: Schema.Array(TrackedEvent).annotate({
    description: "Events of this type, oldest first, without their personal part: `device` holds only its `type`, " +
      "and the properties the tracking plan marks personal are left out"
  })
}).annotate({ identifier: "TrackedEvents", description: "Tracked events of one type, from one committed batch" })
export type TrackedEvents = typeof TrackedEvents.Type

/** The JetStream stream tracked events are published to, one subject per type. */
export const eventsStreamName = "EVENTS"
export const trackedEventSubject = (type: string) => `events.${type}`

/** Events per timeline page when a request names no `limit`, and at most. */
export const defaultTimelinePageSize = 50
export const maxTimelinePageSize = 500

/** `types=purchase,refund` */
const TypeList = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Array(Schema.String),
    SchemaTransformation.transform<ReadonlyArray<string>, string>({
      decode: (text) => text.split(",").map((type) => type.trim()),
      encode: (types) => types.join(",")
    })
  ),
  Schema.decodeTo(Schema.Array(EventType).check(Schema.isBetweenLength(1, 20)))
)

export const TimelineQuery = Schema.Struct({
  types: Schema.optionalKey(TypeList.annotate({ description: "Only these types (comma-separated, up to 20)" })),
  from: Schema.optionalKey(InstantText.annotate({ description: "Only events that occurred at or after this time" })),
  to: Schema.optionalKey(InstantText.annotate({ description: "Only events that occurred before this time" })),
  limit: Schema.optionalKey(
    PageLimit("Events", maxTimelinePageSize, defaultTimelinePageSize)
  ),
  cursor: Schema.optionalKey(Schema.String.check(Schema.isMaxCodePoints(512)).annotate({
    description: "The previous page's `nextCursor`"
  }))
}).annotate({ identifier: "TimelineQuery" })
export type TimelineQuery = typeof TimelineQuery.Type

export const TimelinePage = Schema.Struct({
  data: Schema.Array(TrackedEvent).annotate({ description: "Newest first (by time occurred, then id)" }),
  nextCursor: Schema.NullOr(Schema.String)
}).annotate({ identifier: "TimelinePage" })
export type TimelinePage = typeof TimelinePage.Type
