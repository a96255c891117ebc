/**
 * The events a segment's membership changes publish to the JetStream stream
 * SEGMENTS: `segments.<segmentId>.joined` and `.left`, each naming up to
 * `maxCustomersPerMembershipEvent` customers, written to the outbox in the
 * transaction that changes the memberships. Consumers decode with these
 * schemas (src/client exports them); the AsyncAPI document is generated from them.
 */
import { Schema } from "effect"
import { CustomerId, Timestamp } from "./Customer.ts"
import { SegmentCalculationId } from "./SegmentCalculation.ts"
import { SegmentId } from "./SegmentCriteria.ts"

export const segmentsStreamName = "SEGMENTS"

/** The stream and its subjects, as the publisher creates it and consumers expect it. */
export const segmentsStream = { name: segmentsStreamName, subjects: ["segments.>"] } as const

/** Customer ids per event: a calculation moving more customers publishes several events. */
export const maxCustomersPerMembershipEvent = 1000

const membershipChange = {
  eventId: Schema.String.check(Schema.isUUID()).annotate({
    description: "The event's own id (a UUIDv7), also its Nats-Msg-Id: a republished event is deduplicated"
  }),
  segmentId: SegmentId,
  calculationId: SegmentCalculationId.annotate({ description: "The calculation that moved the customers" }),
  occurredAt: Timestamp.annotate({ description: "The instant the calculation evaluated the criteria at" }),
  customerIds: Schema.Array(CustomerId).check(Schema.isMaxLength(maxCustomersPerMembershipEvent)).annotate({
    description: `Up to ${maxCustomersPerMembershipEvent} customers, ascending; an id is removed from events ` +
      "still held by the service when its customer is erased (so a list may be empty)"
  }),
  part: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
    description: "This event's place among the calculation's events of its kind, from 1"
  }),
  parts: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
    description: "How many events of its kind the calculation published"
  })
}

export const SegmentMembersJoinedEvent = Schema.Struct({
  type: Schema.Literal("segment.joined"),
  ...membershipChange
}).annotate({ identifier: "SegmentMembersJoinedEvent", description: "Customers became members of a segment" })

export const SegmentMembersLeftEvent = Schema.Struct({
  type: Schema.Literal("segment.left"),
  ...membershipChange
}).annotate({ identifier: "SegmentMembersLeftEvent", description: "Customers stopped being members of a segment" })

export const SegmentMembershipChanged = Schema.Union([SegmentMembersJoinedEvent, SegmentMembersLeftEvent]).annotate({
  identifier: "SegmentMembershipChanged"
})
export type SegmentMembershipChanged = typeof SegmentMembershipChanged.Type

/** Each event's schema with its subject's last segment (`segment.joined` on `segments.<id>.joined`). */
export const segmentEvents = SegmentMembershipChanged.members.map((schema) => {
  const type = schema.fields.type.literal
  return { schema, type, name: type.slice("segment.".length) }
})

export const segmentSubjectOf = (event: SegmentMembershipChanged) =>
  `segments.${event.segmentId}.${event.type.slice("segment.".length)}`
