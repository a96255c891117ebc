/**
 * The outbox events of one change of a segment's members (a calculation, a
 * real-time round): the ids in events of at most
 * `maxCustomersPerMembershipEvent`, each knowing its place among them.
 */
import type { CustomerId } from "../domain/Customer.ts"
import type { SegmentCalculationId } from "../domain/SegmentCalculation.ts"
import type { SegmentId } from "../domain/SegmentCriteria.ts"
import { maxCustomersPerMembershipEvent, type MembershipChangeCause } from "../domain/SegmentEvents.ts"
import type { NewEvent } from "../platform/Outbox.ts"

export interface MembershipChange {
  readonly segmentId: SegmentId
  readonly cause: MembershipChangeCause
  readonly calculationId: SegmentCalculationId | null
  /** The instant the criteria were evaluated at (epoch milliseconds). */
  readonly at: number
}

type MembershipEventType = "segment.joined" | "segment.left"

const partsOf = (customers: number) => Math.ceil(customers / maxCustomersPerMembershipEvent)

const eventOf = (
  type: MembershipEventType,
  change: MembershipChange,
  customerIds: ReadonlyArray<CustomerId>,
  part: number,
  parts: number
): NewEvent => ({
  type,
  segmentId: change.segmentId,
  cause: change.cause,
  calculationId: change.calculationId,
  occurredAt: new Date(change.at).toISOString(),
  customerIds,
  part,
  parts
})

/** `customerIds` ascending. */
export const membershipEvents = (
  type: MembershipEventType,
  change: MembershipChange,
  customerIds: ReadonlyArray<CustomerId>
): Array<NewEvent> => {
  const parts = partsOf(customerIds.length)
  return Array.from({ length: parts }, (_, index) =>
    eventOf(
      type,
      change,
      customerIds.slice(index * maxCustomersPerMembershipEvent, (index + 1) * maxCustomersPerMembershipEvent),
      index + 1,
      parts
    ))
}

/**
 * The events of `customers` changed customers whose ids stay in the database: each with no ids yet, keyed
 * `<type>:<part>`, for Outbox.appendFilled to fill from a query of the same keys.
 */
export const membershipEventsToFill = (
  type: MembershipEventType,
  change: MembershipChange,
  customers: number
): Array<{ readonly event: NewEvent; readonly key: string }> => {
  const parts = partsOf(customers)
  return Array.from({ length: parts }, (_, index) => ({
    event: eventOf(type, change, [], index + 1, parts),
    key: `${type}:${index + 1}`
  }))
}
