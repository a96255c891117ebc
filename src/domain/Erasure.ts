/**
 * Erasure as a durable request (GDPR art. 17) and anonymisation: the schemas and errors both doors and the
 * service share. What each removes and keeps: docs/privacy.md.
 */
import { Schema } from "effect"
import { HttpApiError } from "effect/http-api"
import { CustomerId, customerModel, Email, Timestamp } from "./Customer.ts"
import type { CustomerState } from "./CustomerState.ts"
import { CustomerNotFound, Forbidden, Unavailable, VersionConflict } from "./Errors.ts"

/**
 * The steps after the erasing transaction, in the order they run. `destroy-data-key` makes every copy sealed
 * under the person's key unreadable (crypto-shredding, wired where per-customer keys exist).
 */
export const erasureStepNames = ["destroy-data-key", "purge-streams", "publish-erasure"] as const
export const ErasureStepName = Schema.Literals(erasureStepNames)
export type ErasureStepName = typeof ErasureStepName.Type

export const ErasureStep = Schema.Struct({
  name: ErasureStepName,
  status: Schema.Literals(["pending", "done", "skipped"]),
  completedAt: Schema.NullOr(Timestamp),
  attempts: Schema.Int,
  lastError: Schema.NullOr(Schema.String).annotate({ description: "Why the last attempt failed (no personal data)" }),
  note: Schema.NullOr(Schema.String).annotate({ description: "What the step did, or why it was skipped" })
}).annotate({ identifier: "ErasureStep" })
export type ErasureStep = typeof ErasureStep.Type

export const ErasureRequest = Schema.Struct({
  id: Schema.String.check(Schema.isUUID()),
  customerId: CustomerId,
  status: Schema.Literals(["pending", "done"]),
  overdue: Schema.Boolean.annotate({ description: "Still pending past its deadline" }),
  requestedAt: Timestamp,
  deadline: Timestamp.annotate({ description: "One month after the request (GDPR art. 12(3)): 30 days" }),
  completedAt: Schema.NullOr(Timestamp),
  attempts: Schema.Int,
  nextAttemptAt: Schema.NullOr(Timestamp).annotate({ description: "When a pending request's steps run next" }),
  steps: Schema.Array(ErasureStep)
}).annotate({
  identifier: "ErasureRequest",
  description: "A customer's erasure: the profile, events and memberships are gone when it is created; the " +
    "steps after (data key, JetStream purge, publication) are tracked here until `done`"
})
export type ErasureRequest = typeof ErasureRequest.Type

export const ErasureReason = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(500))

export const LiftSuppression = Schema.Struct({
  email: Email,
  reason: ErasureReason.annotate({ description: "Why the identity may be created again (audited)" })
}).annotate({ identifier: "LiftSuppression" })
export type LiftSuppression = typeof LiftSuppression.Type

export class ErasureNotFound extends HttpApiError.Problem<ErasureNotFound>()("ErasureNotFound", {
  type: "/problems/erasure-not-found",
  status: 404,
  title: "No erasure was requested for this customer"
}, { customerId: Schema.String }) {}

export class SuppressionNotFound extends HttpApiError.Problem<SuppressionNotFound>()("SuppressionNotFound", {
  type: "/problems/suppression-not-found",
  status: 404,
  title: "This identity is not suppressed"
}, { field: Schema.Literal("email") }) {}

export const EraseCustomerDataErrors = [CustomerNotFound, VersionConflict, Forbidden, Unavailable] as const
export const GetErasureErrors = [ErasureNotFound, Forbidden] as const
export const LiftSuppressionErrors = [SuppressionNotFound, Forbidden] as const
export const AnonymizeCustomerErrors = [CustomerNotFound, Forbidden, Unavailable] as const

/**
 * What anonymisation writes for each identifying field (`customerModel.personal`): a new personal field fails
 * to compile here until it is given a rule. The address stays unique and NOT NULL, so it becomes one of its
 * own that routes nowhere; the country stays (reports and segments count by it), the rest of a location goes.
 */
const anonymizedAs: { readonly [K in (typeof customerModel.personal)[number]]: (id: string, current: CustomerState) => CustomerState[K] } = {
  email: (id) => `anonymized-${id}@anonymized.invalid`,
  pendingEmail: () => null,
  name: () => "Anonymous customer",
  location: (_, current) => current.location === null ? null : { country: current.location.country }
}

/**
 * The profile after anonymisation: the identifying fields replaced (above), the age coarsened to its decade
 * (36 becomes 30: cohorts by decade stay right, a birth year cannot be read back), free-form metadata
 * dropped (it may hold anything, identifiers included), the address no longer verified. Everything else, and
 * the customer's events, rollups and analytics, stay.
 */
export const anonymizedState = (id: string, current: CustomerState): CustomerState => ({
  ...current,
  ...Object.fromEntries(
    Object.entries(anonymizedAs).map(([field, rule]) => [field, rule(id, current)])
  ) as Pick<CustomerState, keyof typeof anonymizedAs>,
  emailVerified: false,
  age: current.age === null ? null : current.age - (current.age % 10),
  metadata: {}
})

/** The fields an anonymisation changed, by name (audit entries and the event list names, never values). */
export const fieldsChanged = (before: CustomerState, after: CustomerState): ReadonlyArray<string> =>
  (Object.keys(after) as ReadonlyArray<keyof CustomerState>).filter((field) =>
    JSON.stringify(before[field]) !== JSON.stringify(after[field])
  )
