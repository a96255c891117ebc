/**
 * The events a segment's membership changes publish to the JetStream stream
 * SEGMENTS: `segments.<segmentId>.joined` and `.left`, each naming up to
 * `maxCustomersPerMembershipEvent` customers, written to the outbox in the
 * transaction that changes the memberships (a calculation, or a real-time round). Consumers decode with these
 * schemas (src/client exports them); the AsyncAPI document is generated from them.
 */
import { Schema } from "effect"
import { CustomerId, Timestamp } from "./Customer.ts"
import { SegmentCalculationId } from "./SegmentCalculation.ts"
import { SegmentId } from "./SegmentCriteria.ts"

export const segmentsStreamName = "SEGMENTS"

/** The stream and its subjects, as the publisher creates it and consumers expect it. */
export const segmentsStream = { name: segmentsStreamName, subjects: ["segments.>"] } as const

/** Customer ids per event: a change moving more customers publishes several events. */
export const maxCustomersPerMembershipEvent = 1000

/**
 * What moved the customers: a calculation of the whole segment, or the real-time re-evaluation of customers who
 * changed (their profile or their tracked events), src/segments/RealtimeMembership.ts.
 */
export const MembershipChangeCause = Schema.Literals(["calculation", "real-time"]).annotate({
  identifier: "MembershipChangeCause",
  description: "`calculation`: a calculation of the segment (`calculationId` names it); `real-time`: the " +
    "re-evaluation of customers whose profile or tracked events changed"
})
export type MembershipChangeCause = typeof MembershipChangeCause.Type

const membershipChange = {
  eventId: Schema.String.check(Schema.isUUID()).annotate({
    description: "The event's own id (a UUIDv7), also its Nats-Msg-Id: a republished event is deduplicated"
  }),
  segmentId: SegmentId,
  cause: MembershipChangeCause,
  calculationId: Schema.NullOr(SegmentCalculationId).annotate({
    description: "The calculation that moved the customers (cause `calculation`); null for `real-time`"
  }),
  occurredAt: Timestamp.annotate({ description: "The instant the criteria were evaluated at" }),
  customerIds: Schema.Array(CustomerId).check(Schema.isMaxLength(maxCustomersPerMembershipEvent)).annotate({
    description: `Up to ${maxCustomersPerMembershipEvent} customers, ascending; an id is removed from events ` +
      "still held by the service when its customer is erased (so a list may be empty)"
  }),
  part: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
    description: "This event's place among the events of its kind the change published, from 1"
  }),
  parts: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
    description: "How many events of its kind the change (a calculation, a real-time round) published"
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
