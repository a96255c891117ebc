/**
 * The segment operations as typed RPC: the same domain schemas and errors as
 * the REST endpoints (SegmentsApi.ts). Served by the one RPC door with the
 * customer operations (CustomersRpc merges this group).
 */
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"
import { CustomerId } from "../domain/Customer.ts"
import {
  CalculateSegmentErrors,
  ChangeSegmentMembersErrors,
  CreateSegmentErrors,
  CustomerSegmentsErrors,
  DeleteSegmentErrors,
  GetSegmentCalculationErrors,
  GetSegmentErrors,
  ListSegmentsErrors,
  SegmentMembersErrors,
  UpdateSegmentErrors
} from "../domain/Errors.ts"
import {
  SegmentCalculation,
  SegmentCalculationId,
  SegmentMembersPage,
  SegmentMembersQuery
} from "../domain/SegmentCalculation.ts"
import {
  ChangeSegmentMembers,
  CreateSegment,
  CustomerSegments,
  ListSegmentsQuery,
  MembershipChanges,
  Segment,
  SegmentId,
  SegmentChanges,
  SegmentPage
} from "../domain/Segment.ts"
import { RequiredPermission, RpcAuthentication } from "./Security.ts"
import { ExpectedVersion } from "./Versioning.ts"

/** The customer ids a call adds or removes, counted against the door's per-request limit. */
export const membershipChangesRequested = (tag: string, payload: unknown): number =>
  tag === "ChangeSegmentMembers" ? (payload as ChangeSegmentMembers).customerIds.length : 0

export class SegmentsRpc extends RpcGroup.make(
  Rpc.make("ListSegments", {
    payload: ListSegmentsQuery,
    success: SegmentPage,
    error: Schema.Union(ListSegmentsErrors)
  }),
  Rpc.make("GetSegment", {
    payload: { id: SegmentId },
    success: Segment,
    error: Schema.Union(GetSegmentErrors)
  }),
  Rpc.make("CreateSegment", {
    payload: { input: CreateSegment },
    success: Segment,
    error: Schema.Union(CreateSegmentErrors)
  }).annotate(RequiredPermission, "segments:manage"),
  Rpc.make("UpdateSegment", {
    // The version the change is based on is `expectedVersion` here, as for customers; none in the update.
    payload: { id: SegmentId, update: SegmentChanges, expectedVersion: ExpectedVersion },
    success: Segment,
    error: Schema.Union(UpdateSegmentErrors)
  }).annotate(RequiredPermission, "segments:manage"),
  Rpc.make("DeleteSegment", {
    payload: { id: SegmentId, expectedVersion: ExpectedVersion },
    error: Schema.Union(DeleteSegmentErrors)
  }).annotate(RequiredPermission, "segments:manage"),
  Rpc.make("ListCustomerSegments", {
    payload: { id: CustomerId },
    success: CustomerSegments,
    error: Schema.Union(CustomerSegmentsErrors)
  }),
  Rpc.make("ChangeSegmentMembers", {
    payload: ChangeSegmentMembers,
    success: MembershipChanges,
    error: Schema.Union(ChangeSegmentMembersErrors)
  }).annotate(RequiredPermission, "segments:manage"),
  Rpc.make("CalculateSegment", {
    payload: { id: SegmentId },
    success: SegmentCalculation,
    error: Schema.Union(CalculateSegmentErrors)
  }).annotate(RequiredPermission, "segments:manage"),
  Rpc.make("GetSegmentCalculation", {
    payload: { id: SegmentId, calculationId: SegmentCalculationId },
    success: SegmentCalculation,
    error: Schema.Union(GetSegmentCalculationErrors)
  }),
  Rpc.make("ListSegmentMembers", {
    payload: { id: SegmentId, ...SegmentMembersQuery.fields },
    success: SegmentMembersPage,
    error: Schema.Union(SegmentMembersErrors)
  })
).middleware(RpcAuthentication) {}
