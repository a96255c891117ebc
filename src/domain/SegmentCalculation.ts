/**
 * A dynamic segment's calculation as a job resource (queued, running, done)
 * and the paged list of a segment's current members: the schemas REST, RPC,
 * OpenAPI and the service share.
 */
import { Schema } from "effect"
import { CustomerId, Timestamp } from "./Customer.ts"
import { SegmentId } from "./SegmentCriteria.ts"
import { PageLimit } from "./Paging.ts"

export const SegmentCalculationId = Schema.String.check(Schema.isUUID()).pipe(Schema.brand("SegmentCalculationId"))
export type SegmentCalculationId = typeof SegmentCalculationId.Type

export const SegmentCalculationStatus = Schema.Literals(["queued", "running", "succeeded", "failed"]).annotate({
  identifier: "SegmentCalculationStatus",
  description: "`queued` and `running` are pending: at most one pending calculation per segment"
})
export type SegmentCalculationStatus = typeof SegmentCalculationStatus.Type

export const SegmentCalculationTrigger = Schema.Literals([
  "requested",
  "created",
  "criteria-changed",
  "dependency-changed",
  "scheduled"
]).annotate({
  identifier: "SegmentCalculationTrigger",
  description: "`requested`: POST .../calculate; `created`: the segment was created; `criteria-changed`: its " +
    "criteria changed; `dependency-changed`: the members of a segment its criteria name changed; `scheduled`: " +
    "its criteria read the clock (relative windows, churn risk, engagement) and its last calculation is older " +
    "than SEGMENT_RECALCULATION_INTERVAL"
})
export type SegmentCalculationTrigger = typeof SegmentCalculationTrigger.Type

const Count = Schema.NullOr(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))

export const SegmentCalculationPhase = Schema.Literals(["queued", "asking-rules-engine", "calculating", "finished"])
  .annotate({
    identifier: "SegmentCalculationPhase",
    description: "`queued`: waiting for a process; `asking-rules-engine`: sending every live customer's rule " +
      "facts to the rules engine (criteria naming rules only); `calculating`: evaluating the criteria and writing " +
      "the joins and leaves, in one transaction; `finished`: succeeded or failed"
  })
export type SegmentCalculationPhase = typeof SegmentCalculationPhase.Type

export const SegmentCalculation = Schema.Struct({
  id: SegmentCalculationId,
  segmentId: SegmentId,
  status: SegmentCalculationStatus,
  trigger: SegmentCalculationTrigger,
  requestedAt: Timestamp,
  startedAt: Schema.NullOr(Timestamp).annotate({
    description: "When the latest attempt started: also the instant the criteria are evaluated at"
  }),
  finishedAt: Schema.NullOr(Timestamp),
  attempts: Schema.Int.annotate({ description: "How many times a service process took the job up" }),
  members: Count.annotate({ description: "Members after the calculation; null until it succeeds" }),
  joined: Count.annotate({ description: "Customers who joined; null until it succeeds" }),
  left: Count.annotate({ description: "Customers who left; null until it succeeds" }),
  phase: SegmentCalculationPhase,
  progress: Schema.NullOr(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))).annotate({
    description: "The share of the phase done, from 0 to 1: 0 while queued; while asking the rules engine, the " +
      "share of live customers it has answered for; null while calculating (one set-based transaction, whose " +
      "progress PostgreSQL does not report: `startedAt` tells how long it has been going); 1 once succeeded; null " +
      "once failed"
  }),
  durationMs: Schema.NullOr(Schema.Int).annotate({ description: "From the attempt's start to its end" }),
  error: Schema.NullOr(Schema.String).annotate({ description: "Why a failed calculation failed" })
}).annotate({
  identifier: "SegmentCalculation",
  examples: [{
    id: SegmentCalculationId.make("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d40"),
    segmentId: SegmentId.make("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d36"),
    status: "succeeded",
    trigger: "requested",
    requestedAt: "2026-01-31T09:30:00.000Z",
    startedAt: "2026-01-31T09:30:00.120Z",
    finishedAt: "2026-01-31T09:30:01.470Z",
    attempts: 1,
    members: 1520,
    joined: 40,
    left: 12,
    phase: "finished",
    progress: 1,
    durationMs: 1350,
    error: null
  }]
})
export type SegmentCalculation = typeof SegmentCalculation.Type

// ----- current members -------------------------------------------------------------------------------------

export const defaultMembersPageSize = 100
export const maxMembersPageSize = 1000

export const SegmentMembersQuery = Schema.Struct({
  limit: Schema.optionalKey(
    PageLimit("Members", maxMembersPageSize, defaultMembersPageSize)
  ),
  cursor: Schema.optionalKey(CustomerId.annotate({
    description: "The previous page's `nextCursor`: members with a greater customer id follow"
  }))
}).annotate({ identifier: "SegmentMembersQuery" })
export type SegmentMembersQuery = typeof SegmentMembersQuery.Type

export const SegmentMember = Schema.Struct({
  customerId: CustomerId,
  joinedAt: Timestamp.annotate({ description: "When the current stay began" })
}).annotate({ identifier: "SegmentMember" })
export type SegmentMember = typeof SegmentMember.Type

export const SegmentMembersPage = Schema.Struct({
  data: Schema.Array(SegmentMember).annotate({ description: "Current members, by customer id" }),
  nextCursor: Schema.NullOr(CustomerId).annotate({ description: "Pass as `cursor` for the next page; null: last page" })
}).annotate({ identifier: "SegmentMembersPage" })
export type SegmentMembersPage = typeof SegmentMembersPage.Type
