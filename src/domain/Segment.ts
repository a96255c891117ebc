/**
 * Segment definitions and hand-kept membership: the schemas REST, RPC,
 * OpenAPI and the service share. A dynamic segment's members are those its
 * criteria (SegmentCriteria.ts) select; a manual segment's are added and
 * removed by hand (the bulk membership operation) and it has no criteria.
 */
import { Schema } from "effect"
import { ConsentPurpose } from "./Consent.ts"
import { CustomerId, isStorableText, Timestamp } from "./Customer.ts"
import { type Criterion, SegmentCriteria, SegmentId } from "./SegmentCriteria.ts"
import { PageLimit } from "./Paging.ts"

export { SegmentId }

export const SegmentName = Schema.String.check(
  isStorableText,
  Schema.isTrimmed({ expected: "a name without leading or trailing spaces" }),
  Schema.isNonEmpty(),
  Schema.isMaxCodePoints(255)
).annotate({ identifier: "SegmentName", description: "Unique among segments regardless of letter case" })

export const SegmentDescription = Schema.String.check(isStorableText, Schema.isMaxCodePoints(2000)).annotate({
  identifier: "SegmentDescription"
})

export const SegmentType = Schema.Literals(["dynamic", "manual"]).annotate({
  identifier: "SegmentType",
  description: "`dynamic`: the criteria select the members; `manual`: members are added and removed by hand"
})
export type SegmentType = typeof SegmentType.Type

const ServiceTimestamp = Timestamp.annotate({ identifier: "SegmentServiceTimestamp", readOnly: true })

export const maxRequiredPurposes = 10

/** The consent purposes a dynamic segment's members must have granted, besides its criteria. */
export const RequiredPurposes = Schema.Array(ConsentPurpose).check(
  Schema.isMaxLength(maxRequiredPurposes),
  Schema.makeFilter(
    (purposes: ReadonlyArray<string>) => new Set(purposes).size === purposes.length || "each purpose at most once"
  )
).annotate({
  identifier: "RequiredPurposes",
  description: "Consent purposes every member has granted (dynamic segments only): a customer who has not, or " +
    `withdraws one, is not a member (they leave in real time). At most ${maxRequiredPurposes}, each once. ` +
    "`marketing` among them is what `marketing: true` says"
})

const marketingFlag = "A marketing segment (dynamic only): customers without marketing consent are never its " +
  "members. The same as `marketing` among `requiredPurposes`"

const exampleCriteria: Criterion = {
  kind: "all",
  criteria: [
    { kind: "country", in: ["GB", "IE"] },
    { kind: "eventCount", type: "purchase", window: { lastDays: 30 }, atLeast: 3 }
  ]
}

export const Segment = Schema.Struct({
  id: SegmentId.annotate({ readOnly: true }),
  name: SegmentName,
  description: Schema.NullOr(SegmentDescription),
  type: SegmentType,
  criteria: Schema.NullOr(SegmentCriteria).annotate({
    description: "The criteria of a dynamic segment; null for a manual one"
  }),
  marketing: Schema.Boolean.annotate({ description: marketingFlag }),
  requiredPurposes: RequiredPurposes,
  memberCount: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).annotate({
    readOnly: true,
    description: "Current members; membership changes do not change the definition's version"
  }),
  lastCalculatedAt: Schema.NullOr(ServiceTimestamp).annotate({
    description: "When the members of a dynamic segment were last calculated; null until then"
  }),
  createdBy: Schema.String.annotate({ readOnly: true, description: "Who created it: `<kind>:<subject>`" }),
  version: Schema.Int.annotate({
    readOnly: true,
    description: "Counts the changes of the definition; the ETag is `\"v<version>\"`"
  }),
  createdAt: ServiceTimestamp,
  updatedAt: ServiceTimestamp
}).annotate({
  identifier: "Segment",
  examples: [{
    id: SegmentId.make("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d36"),
    name: "Frequent buyers in GB and IE",
    description: "Three purchases or more in the last 30 days",
    type: "dynamic",
    criteria: exampleCriteria,
    marketing: false,
    requiredPurposes: [],
    memberCount: 0,
    lastCalculatedAt: null,
    createdBy: "user:ada",
    version: 1,
    createdAt: "2026-01-31T09:30:00.000Z",
    updatedAt: "2026-01-31T09:30:00.000Z"
  }]
})
export type Segment = typeof Segment.Type

/**
 * A dynamic segment states its criteria: one tree, which always holds at least one criterion (a combinator has
 * at least one child), the spec's "at least one criterion". A manual segment has none.
 */
export const CreateDynamicSegment = Schema.Struct({
  name: SegmentName,
  description: Schema.optionalKey(SegmentDescription),
  type: Schema.Literal("dynamic"),
  criteria: SegmentCriteria,
  marketing: Schema.optionalKey(Schema.Boolean.annotate({
    description: "Members are marketed to: only customers with marketing consent are members (false when not " +
      "given). Adds `marketing` to `requiredPurposes`; false with `marketing` among them is refused (422)"
  })),
  requiredPurposes: Schema.optionalKey(RequiredPurposes.annotate({ description: "None when not given" }))
}).annotate({ identifier: "CreateDynamicSegment" })

export const CreateManualSegment = Schema.Struct({
  name: SegmentName,
  description: Schema.optionalKey(SegmentDescription),
  type: Schema.Literal("manual")
}).annotate({ identifier: "CreateManualSegment" })

export const CreateSegment = Schema.Union([CreateDynamicSegment, CreateManualSegment]).annotate({
  identifier: "CreateSegment",
  examples: [
    { name: "Frequent buyers in GB and IE", type: "dynamic", criteria: exampleCriteria },
    { name: "Beta testers", description: "Invited by hand", type: "manual" }
  ]
})
export type CreateSegment = typeof CreateSegment.Type

/** What a change of the definition may set; `description: null` clears it. The type never changes. */
export const SegmentChanges = Schema.Struct({
  name: Schema.optionalKey(SegmentName),
  description: Schema.optionalKey(Schema.NullOr(SegmentDescription)),
  criteria: Schema.optionalKey(SegmentCriteria.annotate({ description: "Dynamic segments only" })),
  marketing: Schema.optionalKey(Schema.Boolean.annotate({
    description: "Dynamic segments only: true adds `marketing` to the required purposes, false removes it"
  })),
  requiredPurposes: Schema.optionalKey(RequiredPurposes.annotate({
    description: "Dynamic segments only: replaces the required purposes (`marketing` then applies on top)"
  }))
}).annotate({ identifier: "SegmentChanges" })
export type SegmentChanges = typeof SegmentChanges.Type

/** PATCH: only the fields present change, based on `version` when given (as If-Match, as for customers). */
export const UpdateSegment = Schema.Struct({
  ...SegmentChanges.fields,
  version: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
    description: "The version the change is based on, as If-Match names it; a stale one answers 412"
  }))
}).annotate({
  identifier: "UpdateSegment",
  examples: [{ name: "Frequent buyers", description: null }]
})
export type UpdateSegment = typeof UpdateSegment.Type

/**
 * The criteria a dynamic segment's members are evaluated with, in the calculation's SQL and in memory alike:
 * its own criteria and consent to each required purpose (for marketing, GDPR art. 21(3): no marketing of
 * someone who objected). As criteria, a change of consent re-evaluates the customer in real time like any
 * profile change.
 */
export const effectiveCriteria = (criteria: Criterion, requiredPurposes: ReadonlyArray<string>): Criterion =>
  requiredPurposes.length === 0 ? criteria : {
    kind: "all",
    criteria: [...requiredPurposes.map((purpose): Criterion => ({ kind: "consent", purpose, given: true })), criteria]
  }

/**
 * The purposes a definition requires after a create or change: `requiredPurposes` when given (else those of
 * before), with `marketing` added or removed as the flag says; sorted. A flag false beside `marketing` among
 * the purposes sent contradicts itself: undefined.
 */
export const purposesRequired = (
  before: ReadonlyArray<ConsentPurpose>,
  input: { readonly marketing?: boolean; readonly requiredPurposes?: ReadonlyArray<ConsentPurpose> }
): ReadonlyArray<ConsentPurpose> | undefined => {
  if (input.marketing === false && input.requiredPurposes?.includes("marketing") === true) return undefined
  const stated = input.requiredPurposes ?? before
  const flagged = input.marketing === undefined
    ? stated
    : input.marketing
    ? [...stated, "marketing"]
    : stated.filter((purpose) => purpose !== "marketing")
  return [...new Set(flagged)].sort()
}

/** The fields of an update that change the definition, without the version it is based on. */
export const changedFields = (update: SegmentChanges | UpdateSegment): ReadonlyArray<string> =>
  Object.keys(update).filter((key) => key !== "version")

// ----- listing ---------------------------------------------------------------------------------------------

export const SegmentSortField = Schema.Literals(["name", "createdAt"])
export type SegmentSortField = typeof SegmentSortField.Type

export const SegmentSort = Schema.Literals(["name", "-name", "createdAt", "-createdAt"]).annotate({
  identifier: "SegmentSort",
  description: "`name` ascending (the default), `-name` descending; `createdAt` oldest first, `-createdAt` newest first"
})
export type SegmentSort = typeof SegmentSort.Type

export const defaultSegmentPageSize = 50
export const maxSegmentPageSize = 200

export const ListSegmentsQuery = Schema.Struct({
  type: Schema.optionalKey(SegmentType),
  sort: Schema.optionalKey(SegmentSort),
  limit: Schema.optionalKey(
    PageLimit("Segments", maxSegmentPageSize, defaultSegmentPageSize)
  ),
  cursor: Schema.optionalKey(Schema.String.check(Schema.isMaxCodePoints(512)).annotate({
    description: "The previous page's `nextCursor`, with the same sort"
  }))
}).annotate({ identifier: "ListSegmentsQuery" })
export type ListSegmentsQuery = typeof ListSegmentsQuery.Type

export const SegmentPage = Schema.Struct({
  data: Schema.Array(Segment),
  nextCursor: Schema.NullOr(Schema.String),
  total: Schema.Int.annotate({ description: "Segments matching the filter, exactly" })
}).annotate({ identifier: "SegmentPage" })
export type SegmentPage = typeof SegmentPage.Type

// ----- a customer's segments -------------------------------------------------------------------------------

export const CustomerSegment = Schema.Struct({
  id: SegmentId,
  name: SegmentName,
  type: SegmentType,
  joinedAt: Timestamp.annotate({ description: "When the current stay in the segment began" })
}).annotate({ identifier: "CustomerSegment" })
export type CustomerSegment = typeof CustomerSegment.Type

export const CustomerSegments = Schema.Struct({
  data: Schema.Array(CustomerSegment)
}).annotate({
  identifier: "CustomerSegments",
  description: "The segments the customer is a member of now, by name"
})
export type CustomerSegments = typeof CustomerSegments.Type

// ----- bulk membership of a manual segment -----------------------------------------------------------------

/** Customer ids in one bulk membership change. */
export const maxBulkMembershipIds = 10_000

// Schema.isUnique compares every pair (Equal): 10,000 ids would cost 50 million comparisons.
const isDistinct = Schema.makeFilter(
  (ids: ReadonlyArray<string>) => new Set(ids).size === ids.length || "customer ids without duplicates",
  { toJsonSchema: () => ({ uniqueItems: true }) }
)

export const ChangeSegmentMembers = Schema.Struct({
  segmentId: SegmentId,
  action: Schema.Literals(["add", "remove"]),
  customerIds: Schema.Array(CustomerId).check(
    Schema.isMinLength(1),
    Schema.isMaxLength(maxBulkMembershipIds),
    isDistinct
  ).annotate({ description: `1 to ${maxBulkMembershipIds.toLocaleString("en")} distinct customer ids` })
}).annotate({
  identifier: "ChangeSegmentMembers",
  examples: [{
    segmentId: SegmentId.make("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d36"),
    action: "add",
    customerIds: [CustomerId.make("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35")]
  }]
})
export type ChangeSegmentMembers = typeof ChangeSegmentMembers.Type

export const MembershipOutcome = Schema.Literals([
  "added",
  "removed",
  "already-member",
  "not-member",
  "customer-not-found"
]).annotate({
  identifier: "MembershipOutcome",
  description: "`customer-not-found`: no such customer, or erased; nothing changed for that id"
})
export type MembershipOutcome = typeof MembershipOutcome.Type

export const MembershipResult = Schema.Struct({
  customerId: CustomerId,
  outcome: MembershipOutcome
}).annotate({ identifier: "MembershipResult" })

export const MembershipChanges = Schema.Struct({
  segmentId: SegmentId,
  results: Schema.Array(MembershipResult).annotate({ description: "One per customer id, in the request's order" }),
  memberCount: Schema.Int.annotate({ description: "The segment's members after the change" })
}).annotate({ identifier: "MembershipChanges" })
export type MembershipChanges = typeof MembershipChanges.Type
