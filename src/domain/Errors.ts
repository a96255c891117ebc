/**
 * Every failure a caller can act on, each an RFC 9457 problem with a stable
 * `type` and its HTTP status declared once. The same classes travel over RPC.
 */
import { Schema } from "effect"
import { HttpApiError } from "effect/http-api"
import { PlanViolation } from "./Event.ts"

const problemType = (slug: string) => `/problems/${slug}` as const

export class CustomerNotFound extends HttpApiError.Problem<CustomerNotFound>()("CustomerNotFound", {
  type: problemType("customer-not-found"),
  status: 404,
  title: "Customer not found"
}, { customerId: Schema.String }) {}

export class EmailAlreadyExists extends HttpApiError.Problem<EmailAlreadyExists>()("EmailAlreadyExists", {
  type: problemType("email-already-exists"),
  status: 409,
  title: "Email address already in use"
}, { field: Schema.Literal("email") }) {}

export class VersionConflict extends HttpApiError.Problem<VersionConflict>()("VersionConflict", {
  type: problemType("version-conflict"),
  status: 412,
  title: "The customer was changed by someone else"
}, {
  // Absent when the request names no readable version (an If-Match that is no version tag).
  expectedVersion: Schema.optionalKey(Schema.Int),
  // Absent when the service cannot know it (the customer was deleted meanwhile): never a guess.
  currentVersion: Schema.optionalKey(Schema.Int)
}) {}

export class InvalidStatusTransition
  extends HttpApiError.Problem<InvalidStatusTransition>()("InvalidStatusTransition", {
    type: problemType("invalid-status-transition"),
    status: 422,
    title: "Status change not allowed"
  }, { field: Schema.Literal("status"), from: Schema.String, to: Schema.String })
{}

export class ReadOnlyFieldChanged extends HttpApiError.Problem<ReadOnlyFieldChanged>()("ReadOnlyFieldChanged", {
  type: problemType("read-only-field"),
  status: 422,
  title: "A read-only field was sent with a value other than the stored one"
}, { field: Schema.String }) {}

export class ConsentRequired extends HttpApiError.Problem<ConsentRequired>()("ConsentRequired", {
  type: problemType("consent-required"),
  status: 422,
  title: "Consent to data processing is required"
}, { field: Schema.String }) {}

export class InvalidVerificationToken
  extends HttpApiError.Problem<InvalidVerificationToken>()("InvalidVerificationToken", {
    type: problemType("invalid-verification-token"),
    status: 422,
    title: "The verification token is invalid or expired"
  }, { field: Schema.Literal("token") })
{}

export class IdempotencyKeyReused extends HttpApiError.Problem<IdempotencyKeyReused>()("IdempotencyKeyReused", {
  type: problemType("idempotency-key-reused"),
  status: 422,
  title: "The Idempotency-Key was already used with a different request"
}, { field: Schema.Literal("Idempotency-Key") }) {}

export class CustomerDeleted extends HttpApiError.Problem<CustomerDeleted>()("CustomerDeleted", {
  type: problemType("customer-deleted"),
  status: 410,
  title: "The customer this request created has since been deleted"
}, { field: Schema.Literal("Idempotency-Key") }) {}

/** The address belongs to an erased person: it stays refused until an admin lifts the suppression. */
export class IdentitySuppressed extends HttpApiError.Problem<IdentitySuppressed>()("IdentitySuppressed", {
  type: problemType("identity-suppressed"),
  status: 409,
  title: "This identity was erased and may not be created again unless an admin lifts its suppression"
}, { field: Schema.Literal("email") }) {}

export class PreconditionRequired extends HttpApiError.Problem<PreconditionRequired>()("PreconditionRequired", {
  type: problemType("precondition-required"),
  status: 428,
  title: "A version is required: send If-Match or a version field"
}, { field: Schema.Literal("version") }) {}

export class InvalidCursor extends HttpApiError.Problem<InvalidCursor>()("InvalidCursor", {
  type: problemType("invalid-cursor"),
  status: 400,
  title: "The pagination cursor is malformed or belongs to another sort"
}, { field: Schema.Literal("cursor") }) {}

export class Unauthenticated extends HttpApiError.Problem<Unauthenticated>()("Unauthenticated", {
  type: problemType("unauthenticated"),
  status: 401,
  title: "Valid credentials are required"
}) {}

export class Forbidden extends HttpApiError.Problem<Forbidden>()("Forbidden", {
  type: problemType("forbidden"),
  status: 403,
  title: "Your role does not allow this action"
}, { permission: Schema.String }) {}

/**
 * A list parameter (`q`, `sort`, `fields`, a filter) reads a field the caller's role does not see: answering it
 * would be an oracle for the hidden value (Access.ts), so it is refused before any query runs.
 */
export class FieldNotVisible extends HttpApiError.Problem<FieldNotVisible>()("FieldNotVisible", {
  type: problemType("field-not-visible"),
  status: 403,
  title: "Your role does not see the field this parameter reads"
}, { field: Schema.String.annotate({ description: "The parameter refused" }) }) {}

export class Unavailable extends HttpApiError.Problem<Unavailable>()("Unavailable", {
  type: problemType("unavailable"),
  status: 503,
  title: "The service is temporarily unable to handle the request"
}) {}

export class OccurredInFuture extends HttpApiError.Problem<OccurredInFuture>()("OccurredInFuture", {
  type: problemType("occurred-in-future"),
  status: 422,
  title: "The event's time is ahead of the service's clock by more than five minutes"
}, { field: Schema.String }) {}

export class OccurredBeforeRetention extends HttpApiError.Problem<OccurredBeforeRetention>()("OccurredBeforeRetention", {
  type: problemType("occurred-before-retention"),
  status: 422,
  title: "The event's time is older than the events the service keeps (EVENTS_RETENTION_MONTHS)"
}, { field: Schema.String }) {}

export class Overloaded extends HttpApiError.Problem<Overloaded>()("Overloaded", {
  type: problemType("overloaded"),
  status: 503,
  title: "Too much is waiting to be stored: retry shortly"
}) {}

export class TrackingPlanViolation extends HttpApiError.Problem<TrackingPlanViolation>()("TrackingPlanViolation", {
  type: problemType("tracking-plan-violation"),
  status: 422,
  title: "The event's properties do not match its type's schema in the tracking plan"
}, { field: Schema.String, violations: Schema.Array(PlanViolation) }) {}

export class UnregisteredEventType extends HttpApiError.Problem<UnregisteredEventType>()("UnregisteredEventType", {
  type: problemType("unregistered-event-type"),
  status: 422,
  title: "The tracking plan accepts only registered event types, and this one is not"
}, { field: Schema.Literal("type") }) {}

export class InvalidPropertiesSchema extends HttpApiError.Problem<InvalidPropertiesSchema>()("InvalidPropertiesSchema", {
  type: problemType("invalid-properties-schema"),
  status: 422,
  title: "The properties schema is not a usable JSON Schema"
}, { field: Schema.String }) {}

export class EventTypeNotRegistered extends HttpApiError.Problem<EventTypeNotRegistered>()("EventTypeNotRegistered", {
  type: problemType("event-type-not-registered"),
  status: 404,
  title: "The tracking plan has no such event type"
}, { field: Schema.Literal("type") }) {}

/** What each customer operation can fail with: one list for the REST endpoints, the RPCs and the service. */
/** Reads have no Forbidden: every role reads (see Access.ts), seeing the fields its role allows. */
export const GetCustomerErrors = [CustomerNotFound] as const
export const ListCustomersErrors = [InvalidCursor, FieldNotVisible] as const
export const CreateCustomerErrors = [
  EmailAlreadyExists,
  IdentitySuppressed,
  ConsentRequired,
  IdempotencyKeyReused,
  CustomerDeleted,
  Forbidden,
  Unavailable
] as const
export const UpdateCustomerErrors = [
  CustomerNotFound,
  VersionConflict,
  EmailAlreadyExists,
  IdentitySuppressed,
  InvalidStatusTransition,
  Forbidden,
  Unavailable
] as const
/** PUT: an update that may echo the read-only fields. */
export const ReplaceCustomerErrors = [...UpdateCustomerErrors, ReadOnlyFieldChanged] as const
export const DeleteCustomerErrors = [CustomerNotFound, VersionConflict, Forbidden, Unavailable] as const
export const VerifyEmailErrors = [
  CustomerNotFound,
  InvalidVerificationToken,
  EmailAlreadyExists,
  IdentitySuppressed,
  Forbidden,
  Unavailable
] as const

export type ErrorOf<Errors extends ReadonlyArray<Schema.Top>> = Errors[number]["Type"]

/** Tracking events: structural problems are the request's (400); per-event ones are in the results. */
export const TrackEventErrors = [
  CustomerNotFound,
  OccurredInFuture,
  OccurredBeforeRetention,
  TrackingPlanViolation,
  UnregisteredEventType,
  Forbidden,
  Overloaded
] as const
/** A timeline is a read: every role may; an unknown or erased customer is not found. */
export const TimelineErrors = [CustomerNotFound, InvalidCursor] as const
export const TrackBatchErrors = [Forbidden, Overloaded] as const

/** The tracking plan: reads need no permission; changes need `tracking-plan:manage`. */
export const GetEventTypeErrors = [EventTypeNotRegistered] as const
export const RegisterEventTypeErrors = [InvalidPropertiesSchema, Forbidden] as const
export const RemoveEventTypeErrors = [EventTypeNotRegistered, Forbidden] as const

/** A customer who withdrew consent to analytics is not profiled: their analytics and insights are not served. */
export class AnalyticsConsentWithdrawn
  extends HttpApiError.Problem<AnalyticsConsentWithdrawn>()("AnalyticsConsentWithdrawn", {
    type: problemType("analytics-consent-withdrawn"),
    status: 409,
    title: "The customer withdrew consent to analytics: they are not profiled"
  }, { customerId: Schema.String })
{}

/**
 * A customer's analytics and insights: an unknown or erased customer is not found; one who withdrew consent to
 * analytics is refused (409).
 */
export const CustomerAnalyticsErrors = [CustomerNotFound, AnalyticsConsentWithdrawn, Forbidden] as const

// ----- consent ---------------------------------------------------------------------------------------------

export class MarketingObjection extends HttpApiError.Problem<MarketingObjection>()("MarketingObjection", {
  type: problemType("marketing-objection"),
  status: 422,
  title: "Marketing was objected to: only a fresh consent (legal basis `consent`) grants it again"
}, { field: Schema.String }) {}

export const GetConsentErrors = [CustomerNotFound] as const
export const ChangeConsentErrors = [CustomerNotFound, VersionConflict, MarketingObjection, Forbidden, Unavailable] as const
export const ConsentHistoryErrors = [CustomerNotFound] as const

export class ClvModelNotFound extends HttpApiError.Problem<ClvModelNotFound>()("ClvModelNotFound", {
  type: problemType("clv-model-not-found"),
  status: 404,
  title: "No CLV model has been fitted yet"
}) {}

export class InvalidPeriod extends HttpApiError.Problem<InvalidPeriod>()("InvalidPeriod", {
  type: problemType("invalid-period"),
  status: 422,
  title: "The period is empty or lies in the future"
}, { field: Schema.Literals(["from", "to"]) }) {}

/** Fleet analytics: the CLV model. */
export const GetClvModelErrors = [ClvModelNotFound, Forbidden] as const
export const FitClvModelErrors = [InvalidPeriod, Forbidden] as const

/** Fleet reports: not every role may read the business's figures (see Access.ts). */
export const FleetReportErrors = [Forbidden] as const

// ----- segments --------------------------------------------------------------------------------------------

export class SegmentNotFound extends HttpApiError.Problem<SegmentNotFound>()("SegmentNotFound", {
  type: problemType("segment-not-found"),
  status: 404,
  title: "Segment not found"
}, { segmentId: Schema.String }) {}

export class SegmentNameTaken extends HttpApiError.Problem<SegmentNameTaken>()("SegmentNameTaken", {
  type: problemType("segment-name-taken"),
  status: 409,
  title: "Another segment has this name"
}, { field: Schema.Literal("name") }) {}

/** The customers' version conflict, for a segment: the same problem type, so a client handles both alike. */
export class SegmentVersionConflict extends HttpApiError.Problem<SegmentVersionConflict>()("SegmentVersionConflict", {
  type: problemType("version-conflict"),
  status: 412,
  title: "The segment was changed by someone else"
}, {
  // Absent when the request names no readable version (an If-Match that is no version tag).
  expectedVersion: Schema.optionalKey(Schema.Int),
  // Absent when the segment was deleted meanwhile.
  currentVersion: Schema.optionalKey(Schema.Int)
}) {}

/**
 * Criteria that are well-formed but cannot be used: a segment node naming a segment that does not exist or that
 * would make a cycle, or criteria sent for a manual segment. Each entry's path starts at the segment's fields
 * (`["criteria", "criteria", 0, "segmentId"]`).
 */
export class InvalidSegmentCriteria extends HttpApiError.Problem<InvalidSegmentCriteria>()("InvalidSegmentCriteria", {
  type: problemType("invalid-segment-criteria"),
  status: 422,
  title: "The criteria cannot be used"
}, { errors: Schema.Array(HttpApiError.ProblemIssue) }) {}

/** Another segment's criteria name this one: deleting it would leave them meaningless. */
export class SegmentInUse extends HttpApiError.Problem<SegmentInUse>()("SegmentInUse", {
  type: problemType("segment-in-use"),
  status: 409,
  title: "Other segments' criteria refer to this segment"
}, { referencedBy: Schema.Array(Schema.String).annotate({ description: "Up to 20 of the referring segments' ids" }) }) {}

export class SegmentNotManual extends HttpApiError.Problem<SegmentNotManual>()("SegmentNotManual", {
  type: problemType("segment-not-manual"),
  status: 422,
  title: "Members are added and removed by hand only in a manual segment"
}, { field: Schema.Literal("segmentId") }) {}

/** A manual segment's members are kept by hand: there is nothing to calculate. */
export class SegmentNotDynamic extends HttpApiError.Problem<SegmentNotDynamic>()("SegmentNotDynamic", {
  type: problemType("segment-not-dynamic"),
  status: 422,
  title: "Only a dynamic segment's members are calculated"
}, { segmentId: Schema.String }) {}

export class SegmentCalculationNotFound
  extends HttpApiError.Problem<SegmentCalculationNotFound>()("SegmentCalculationNotFound", {
    type: problemType("segment-calculation-not-found"),
    status: 404,
    title: "The segment has no such calculation"
  }, { calculationId: Schema.String })
{}

/**
 * Criteria naming a rule could not be checked: the rules engine did not answer (down, too slow, failing, its
 * circuit breaker open, or not configured). Nothing was stored; retrying later may succeed.
 */
export class RulesEngineUnavailable extends HttpApiError.Problem<RulesEngineUnavailable>()("RulesEngineUnavailable", {
  type: problemType("rules-engine-unavailable"),
  status: 503,
  title: "The rules engine cannot be reached to check the criteria's rules: retry shortly"
}) {}

/** Segments: reads need no permission (every role reads customers); changes need `customers:write`. */
export const GetSegmentErrors = [SegmentNotFound] as const
export const ListSegmentsErrors = [InvalidCursor] as const
export const CreateSegmentErrors = [
  SegmentNameTaken,
  InvalidSegmentCriteria,
  Forbidden,
  FieldNotVisible,
  RulesEngineUnavailable
] as const
export const UpdateSegmentErrors = [SegmentNotFound, SegmentVersionConflict, ...CreateSegmentErrors] as const
export const DeleteSegmentErrors = [SegmentNotFound, SegmentVersionConflict, SegmentInUse, Forbidden] as const
export const CustomerSegmentsErrors = [CustomerNotFound] as const
export const ChangeSegmentMembersErrors = [SegmentNotFound, SegmentNotManual, Forbidden] as const
export const CalculateSegmentErrors = [SegmentNotFound, SegmentNotDynamic, Forbidden] as const
export const GetSegmentCalculationErrors = [SegmentNotFound, SegmentCalculationNotFound] as const
export const SegmentMembersErrors = [SegmentNotFound] as const

// ----- destinations ----------------------------------------------------------------------------------------

export class DestinationNotFound extends HttpApiError.Problem<DestinationNotFound>()("DestinationNotFound", {
  type: problemType("destination-not-found"),
  status: 404,
  title: "Destination not found"
}, { destinationId: Schema.String }) {}

/** A URL the service will not call: credentials in it, or (SSRF) an address on a private network. */
export class InvalidDestinationUrl extends HttpApiError.Problem<InvalidDestinationUrl>()("InvalidDestinationUrl", {
  type: problemType("invalid-destination-url"),
  status: 422,
  title: "The service does not send notifications to this URL"
}, { field: Schema.Literal("url") }) {}

export class DestinationSegmentNotFound
  extends HttpApiError.Problem<DestinationSegmentNotFound>()("DestinationSegmentNotFound", {
    type: problemType("destination-segment-not-found"),
    status: 422,
    title: "The destination names a segment that does not exist"
  }, { field: Schema.Literal("segmentId") })
{}

/** The customers' version conflict, for a destination: the same problem type, so a client handles all alike. */
export class DestinationVersionConflict
  extends HttpApiError.Problem<DestinationVersionConflict>()("DestinationVersionConflict", {
    type: problemType("version-conflict"),
    status: 412,
    title: "The destination was changed by someone else"
  }, {
    // Absent when the request names no readable version (an If-Match that is no version tag).
    expectedVersion: Schema.optionalKey(Schema.Int),
    // Absent when the destination was deleted meanwhile.
    currentVersion: Schema.optionalKey(Schema.Int)
  })
{}

/** Destinations: every role reads them (a list cannot fail); changes need `segments:manage`. */
export const GetDestinationErrors = [DestinationNotFound] as const
export const CreateDestinationErrors = [InvalidDestinationUrl, DestinationSegmentNotFound, Forbidden] as const
export const UpdateDestinationErrors = [
  DestinationNotFound,
  DestinationVersionConflict,
  InvalidDestinationUrl,
  DestinationSegmentNotFound,
  Forbidden
] as const
export const DeleteDestinationErrors = [DestinationNotFound, DestinationVersionConflict, Forbidden] as const
export const RotateDestinationSecretErrors = [DestinationNotFound, Forbidden] as const
export const DeadLettersErrors = [DestinationNotFound] as const
export const ReplayDeadLettersErrors = [DestinationNotFound, Forbidden] as const
