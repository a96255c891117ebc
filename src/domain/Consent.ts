/**
 * Consent per purpose (GDPR art. 6, 7 and 21): the schemas REST, RPC, OpenAPI and the events share, and the
 * rules a change of consent obeys. The profile's `consent` ({marketing, dataProcessing}) is the current view of
 * two of these purposes; the history of every entry is kept append-only (migrations/0022_consent.sql).
 */
import { Schema } from "effect"
import { type Consent, CustomerId, isStorableText, Timestamp } from "./Customer.ts"
import { EntryNumber } from "./Audit.ts"
import { PageLimit } from "./Paging.ts"

export const standardPurposes = [
  "marketing",
  "data-processing",
  "analytics",
  "personalisation",
  "third-party-sharing"
] as const

export const StandardPurpose = Schema.Literals(standardPurposes)

/** A purpose of the deployment's own, `custom:<slug>`: lower-case letters, digits and '-'. */
export const CustomPurpose = Schema.String.check(
  Schema.isPattern(/^custom:[a-z0-9][a-z0-9-]{0,62}$/u, {
    expected: "a custom purpose 'custom:<slug>' (1-63 lower-case letters, digits or '-')"
  })
)

export const ConsentPurpose = Schema.Union([StandardPurpose, CustomPurpose]).annotate({
  identifier: "ConsentPurpose",
  description: `One of ${standardPurposes.join(", ")}, or \`custom:<slug>\``
})
export type ConsentPurpose = typeof ConsentPurpose.Type

export const ConsentStatus = Schema.Literals(["granted", "withdrawn"]).annotate({ identifier: "ConsentStatus" })
export type ConsentStatus = typeof ConsentStatus.Type

/** The lawful bases of GDPR art. 6(1)(a)-(f). */
export const LegalBasis = Schema.Literals([
  "consent",
  "contract",
  "legal-obligation",
  "vital-interests",
  "public-task",
  "legitimate-interests"
]).annotate({
  identifier: "LegalBasis",
  description: "The lawful basis (GDPR art. 6(1)): for a withdrawal, the basis withdrawn or objected to"
})
export type LegalBasis = typeof LegalBasis.Type

/** How the choice was collected. `profile-creation`: the consent given with the customer's creation. */
export const ConsentSource = Schema.Literals([
  "web-form",
  "mobile-app",
  "email",
  "phone",
  "in-person",
  "paper",
  "consent-platform",
  "import",
  "profile-creation"
]).annotate({ identifier: "ConsentSource", description: "How the choice was collected" })
export type ConsentSource = typeof ConsentSource.Type

export const PolicyVersion = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/u, {
    expected: "a policy version of 1-64 letters, digits, '.', '_' or '-'"
  })
).annotate({
  identifier: "PolicyVersion",
  description: "The version of the privacy policy or consent text the person saw; `unstated` for consent given " +
    "at creation, which names none"
})

/** One purpose's choice, as a PUT states it. */
export const ConsentChange = Schema.Struct({
  purpose: ConsentPurpose,
  status: ConsentStatus,
  legalBasis: LegalBasis,
  source: ConsentSource,
  policyVersion: PolicyVersion
}).annotate({ identifier: "ConsentChange" })
export type ConsentChange = typeof ConsentChange.Type

export const maxConsentChanges = 20

const ConsentReason = Schema.String.check(isStorableText, Schema.isNonEmpty(), Schema.isMaxCodePoints(500))

export const ChangeConsent = Schema.Struct({
  changes: Schema.Array(ConsentChange).check(
    Schema.isMinLength(1),
    Schema.isMaxLength(maxConsentChanges),
    Schema.makeFilter(
      (changes: ReadonlyArray<ConsentChange>) =>
        new Set(changes.map((change) => change.purpose)).size === changes.length || "each purpose at most once"
    )
  ).annotate({ description: `1 to ${maxConsentChanges} purposes, each at most once; granting and withdrawing alike` }),
  reason: Schema.optionalKey(ConsentReason.annotate({
    description: "Why it was recorded (a ticket, the person's request): kept in the history and the audit trail"
  }))
}).annotate({
  identifier: "ChangeConsent",
  examples: [{
    changes: [
      { purpose: "marketing", status: "withdrawn", legalBasis: "consent", source: "web-form", policyVersion: "2026-01" },
      { purpose: "analytics", status: "granted", legalBasis: "consent", source: "web-form", policyVersion: "2026-01" }
    ],
    reason: "preference centre"
  }]
})
export type ChangeConsent = typeof ChangeConsent.Type

/** A purpose's current state: its latest entry. */
export const PurposeConsent = Schema.Struct({
  ...ConsentChange.fields,
  recordedAt: Timestamp
}).annotate({ identifier: "PurposeConsent" })
export type PurposeConsent = typeof PurposeConsent.Type

export const CustomerConsent = Schema.Struct({
  customerId: CustomerId,
  purposes: Schema.Array(PurposeConsent).annotate({
    description: "The latest entry of every purpose ever recorded, by purpose; a purpose never recorded is absent"
  }),
  version: Schema.Int.annotate({ description: "The customer's version after the last change" })
}).annotate({ identifier: "CustomerConsent" })
export type CustomerConsent = typeof CustomerConsent.Type

export const ConsentRecord = Schema.Struct({
  id: EntryNumber.annotate({ description: "The entry's number in the history" }),
  ...PurposeConsent.fields,
  recordedBy: Schema.String.annotate({ description: "`user:<subject>`, `api-key:<id>` or `system:<job>`" }),
  requestId: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String)
}).annotate({ identifier: "ConsentRecord", description: "One recorded choice; never changed once written" })
export type ConsentRecord = typeof ConsentRecord.Type

export const consentHistoryPageSize = { default: 50, maximum: 500 } as const

export const ConsentHistoryQuery = Schema.Struct({
  limit: Schema.optionalKey(PageLimit("Entries", consentHistoryPageSize.maximum, consentHistoryPageSize.default)),
  cursor: Schema.optionalKey(EntryNumber.annotate({ description: "The previous page's nextCursor" }))
}).annotate({ identifier: "ConsentHistoryQuery" })
export type ConsentHistoryQuery = typeof ConsentHistoryQuery.Type

export const ConsentHistoryPage = Schema.Struct({
  data: Schema.Array(ConsentRecord),
  nextCursor: Schema.NullOr(EntryNumber)
}).annotate({ identifier: "ConsentHistoryPage", description: "A customer's consent entries, newest first" })
export type ConsentHistoryPage = typeof ConsentHistoryPage.Type

// ----- rules -----------------------------------------------------------------------------------------------

/** The state of each purpose before a change: its latest status. */
export type CurrentConsent = ReadonlyMap<string, ConsentStatus>

/**
 * GDPR art. 21(3): once a person objected to direct marketing (withdrew it, whatever the basis), their data is
 * no longer processed for it on any basis but a fresh consent of their own. So a grant of marketing after a
 * withdrawal must name `consent`; legitimate interests (or any other basis) cannot bring it back. A customer
 * who refused marketing at creation has objected too (the creation records a withdrawal). The index of the
 * first change breaking the rule, if any.
 */
export const marketingObjectionBroken = (current: CurrentConsent, changes: ReadonlyArray<ConsentChange>) => {
  if (current.get("marketing") !== "withdrawn") return undefined
  const index = changes.findIndex((change) =>
    change.purpose === "marketing" && change.status === "granted" && change.legalBasis !== "consent"
  )
  return index === -1 ? undefined : index
}

/** The profile's view after the changes: marketing and data-processing granted or not. */
export const profileConsentAfter = (profile: Consent, changes: ReadonlyArray<ConsentChange>): Consent => {
  const statusOf = (purpose: ConsentPurpose, was: boolean) => {
    const change = changes.find((item) => item.purpose === purpose)
    return change === undefined ? was : change.status === "granted"
  }
  return {
    marketing: statusOf("marketing", profile.marketing),
    dataProcessing: statusOf("data-processing", profile.dataProcessing)
  }
}

/** The entries a new customer's consent becomes: the first of their history. */
export const creationChanges = (consent: Consent): ReadonlyArray<ConsentChange> =>
  ([["marketing", consent.marketing], ["data-processing", consent.dataProcessing]] as const).map(([purpose, given]) => ({
    purpose,
    status: given ? "granted" : "withdrawn",
    legalBasis: "consent",
    source: "profile-creation",
    policyVersion: "unstated"
  }))
