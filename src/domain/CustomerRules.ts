/** The customer's business rules as pure functions (time read from Effect's Clock): no I/O, fully unit-tested. */
import { Clock, Effect } from "effect"
import type { Actor } from "./Access.ts"
import { can } from "./Access.ts"
import type { Consent, Customer, CustomerStatus, PatchCustomer, ReadOnlyEcho } from "./Customer.ts"
import { sameEmail } from "./Customer.ts"
import type { CustomerState } from "./CustomerState.ts"

export type TransitionVerdict = "allowed" | "needs-suspend-permission" | "never"

/**
 * ACTIVE <-> INACTIVE is free; SUSPENDED is entered and left only by someone
 * allowed to suspend (an admin); DELETED is reached only through deletion and
 * never left.
 */
export const statusTransition = (from: CustomerStatus, to: CustomerStatus, actor: Actor): TransitionVerdict => {
  if (from === to) return "allowed"
  if (from === "DELETED" || to === "DELETED") return "never"
  if (from === "SUSPENDED" || to === "SUSPENDED") {
    return can(actor.role, "customers:suspend") ? "allowed" : "needs-suspend-permission"
  }
  return "allowed"
}

/** Holding a profile needs consent to data processing; marketing consent must be stated but may be refused. */
export const consentSufficient = (consent: Consent): boolean => consent.dataProcessing

/** An ETag names one version of one customer; weak comparison is enough for If-Match on JSON. */
export const etagFor = (version: number) => `"v${version}"`

export const versionFromEtag = (etag: string): number | undefined => {
  const match = /^(?:W\/)?"v(\d{1,9})"$/.exec(etag.trim())
  return match === null ? undefined : Number(match[1])
}

export interface PatchOutcome {
  readonly state: CustomerState
  /** The new address waiting for verification, when the patch asked to change it. */
  readonly emailChange: string | undefined
  readonly changedFields: ReadonlyArray<string>
}

/**
 * Applies a patch to the current state. An email change does not replace the
 * address: it is held as pending until verified. Asking for the current
 * address again withdraws a pending change.
 */
export const applyPatch = (current: CustomerState, patch: PatchCustomer): PatchOutcome => {
  const { email, version: _version, ...fields } = patch
  const emailChange = email !== undefined && !sameEmail(email, current.email) &&
      (current.pendingEmail === null || !sameEmail(email, current.pendingEmail))
    ? email
    : undefined
  const withdrawsPendingEmail = email !== undefined && sameEmail(email, current.email) && current.pendingEmail !== null
  const next: Record<string, unknown> = { ...current }
  const changedFields: Array<string> = []
  for (const [key, value] of Object.entries(fields)) {
    if (JSON.stringify(next[key]) !== JSON.stringify(value)) {
      next[key] = value
      changedFields.push(key)
    }
  }
  if (emailChange !== undefined || withdrawsPendingEmail) {
    next.pendingEmail = emailChange ?? null
    changedFields.push("pendingEmail")
  }
  return { state: next as unknown as CustomerState, emailChange, changedFields }
}

/** How long a pending email change waits for its verification. */
export const verificationTtlMillis = 24 * 3_600_000

/** A verification token is good until its expiry instant, not after. */
export const verificationExpired = (expiresAt: Date, nowMillis: number): boolean => expiresAt.getTime() < nowMillis

/** When a token issued now expires, by Effect's Clock (so TestClock can move it). */
export const verificationExpiry: Effect.Effect<Date> = Effect.map(
  Clock.currentTimeMillis,
  (now) => new Date(now + verificationTtlMillis)
)

/** Whether a token with this expiry is past it now, by Effect's Clock. */
export const isVerificationExpired = (expiresAt: Date): Effect.Effect<boolean> =>
  Effect.map(Clock.currentTimeMillis, (now) => verificationExpired(expiresAt, now))

const sameInstant = (a: string, b: string) => Date.parse(a) === Date.parse(b)

const echoMatches: { readonly [K in keyof ReadOnlyEcho]-?: (sent: NonNullable<ReadOnlyEcho[K]>, stored: Customer) => boolean } = {
  id: (sent, stored) => sent === stored.id,
  emailVerified: (sent, stored) => sent === stored.emailVerified,
  pendingEmail: (sent, stored) =>
    sent === null ? stored.pendingEmail === null : stored.pendingEmail !== null && sameEmail(sent, stored.pendingEmail),
  consent: (sent, stored) =>
    sent.marketing === stored.consent.marketing && sent.dataProcessing === stored.consent.dataProcessing,
  createdAt: (sent, stored) => sameInstant(sent, stored.createdAt),
  updatedAt: (sent, stored) => sameInstant(sent, stored.updatedAt),
  lastActivity: (sent, stored) => sameInstant(sent, stored.lastActivity)
}

/** The first read-only field a replacement sends with another value than the stored one, if any. */
export const changedReadOnlyField = (stored: Customer, echo: ReadOnlyEcho): keyof ReadOnlyEcho | undefined =>
  (Object.keys(echoMatches) as Array<keyof ReadOnlyEcho>).find((field) => {
    const sent = echo[field]
    return sent !== undefined && !(echoMatches[field] as (sent: unknown, stored: Customer) => boolean)(sent, stored)
  })
