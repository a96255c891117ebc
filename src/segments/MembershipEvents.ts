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

/** `customerIds` ascending. */
export const membershipEvents = (
  type: "segment.joined" | "segment.left",
  change: MembershipChange,
  customerIds: ReadonlyArray<CustomerId>
): Array<NewEvent> => {
  const parts = Math.ceil(customerIds.length / maxCustomersPerMembershipEvent)
  return Array.from({ length: parts }, (_, index) => ({
    type,
    segmentId: change.segmentId,
    cause: change.cause,
    calculationId: change.calculationId,
    occurredAt: new Date(change.at).toISOString(),
    customerIds: customerIds.slice(index * maxCustomersPerMembershipEvent, (index + 1) * maxCustomersPerMembershipEvent),
    part: index + 1,
    parts
  }))
}
