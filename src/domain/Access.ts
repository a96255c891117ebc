/**
 * Who may do what. Roles map to permissions once, here; handlers ask for a
 * permission, never for a role.
 */
import { Effect, Schema } from "effect"
import { type Customer, customerModel, type Location } from "./Customer.ts"
import { Forbidden } from "./Errors.ts"

export const Role = Schema.Literals(["admin", "agent", "analyst", "service"]).annotate({ identifier: "Role" })
export type Role = typeof Role.Type

export const Permission = Schema.Literals([
  "customers:read",
  "customers:write",
  "customers:delete",
  "customers:suspend",
  "events:write",
  "tracking-plan:manage",
  "analytics:read",
  "analytics:write",
  "segments:manage",
  "api-keys:manage",
  "audit:read",
  "privacy:export",
  "consent:write",
  "privacy:anonymize",
  "privacy:lift-suppression"
])
export type Permission = typeof Permission.Type

/**
 * Every role reads customers (the type makes `customers:read` each role's first
 * grant), so reads are gated by authentication alone and no read answers 403:
 * the contract promises that, and the service does not check it again.
 */
type Grants = readonly ["customers:read", ...ReadonlyArray<Permission>]

/**
 * `analytics:read` (scores, predictions and recommendations derived from behaviour) is a grant of its own
 * rather than part of reading a customer, so that a deployment can withhold profiling from a role. Every
 * role holds it today: analysts report on it, agents act on insights in conversations, services (rules
 * engine, messaging) personalise with it.
 *
 * Consent is read like the profile (every role: a service about to message someone must check it first) and
 * recorded (`consent:write`) by agents, who record the choice a person states to them, and by services, which
 * record consent collected by other systems (consent platforms, sign-up forms, apps); analysts, who only
 * report, do not. Admins hold every permission.
 */
const grants: Record<Role, Grants> = {
  admin: Permission.literals,
  // Agents answer people's requests about their data: an export is one of them, as an erasure (and reading how
  // it goes, with `privacy:export`) and an anonymisation are. Lifting an erased identity's suppression lets
  // the person back in: admins only.
  agent: [
    "customers:read",
    "customers:write",
    "customers:delete",
    "events:write",
    "analytics:read",
    "privacy:export",
    "privacy:anonymize",
    "consent:write"
  ],
  // Fleet models are the analysts' own: they read them and refit them (a fit changes no customer). Audiences
  // too: the people who define segments (marketing, product) work as analysts, and a segment changes no
  // customer's profile. Agents, who change profiles in conversations, do not define audiences.
  analyst: ["customers:read", "analytics:read", "analytics:write", "segments:manage"],
  // Services read the fitted parameters to score customers themselves (e.g. P(alive) in SQL), and a backfill
  // may ask for a refit when it is done; what an analyst may, a service may too.
  service: ["customers:read", "customers:write", "events:write", "analytics:read", "analytics:write", "segments:manage", "consent:write"]
}

const permissions: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(grants.admin),
  agent: new Set(grants.agent),
  analyst: new Set(grants.analyst),
  service: new Set(grants.service)
}

export const can = (role: Role, permission: Permission): boolean => permissions[role].has(permission)

/** The authenticated caller, as recorded in audit rows and carried to entities. */
export const Actor = Schema.Struct({
  subject: Schema.String,
  role: Role,
  kind: Schema.Literals(["user", "api-key", "system"])
}).annotate({ identifier: "Actor" })
export type Actor = typeof Actor.Type

/** Who asks for a change, and the request it came in (audit rows name both). */
export interface CommandOptions {
  readonly actor: Actor
  readonly requestId: string | null
}

/**
 * Permissions only a person's credential (a JWT) carries, whatever an API key's role: a leaked key
 * must not mint its successors or revoke the key that would replace it.
 */
const notForApiKeys: ReadonlySet<Permission> = new Set(["api-keys:manage", "privacy:lift-suppression"])

/** Whether the actor holds the permission: its role grants it, and its kind of credential may use it. */
export const holds = (actor: Actor, permission: Permission): boolean =>
  can(actor.role, permission) && !(actor.kind === "api-key" && notForApiKeys.has(permission))

export const requirePermission = (actor: Actor, permission: Permission): Effect.Effect<void, Forbidden> =>
  !can(actor.role, permission)
    ? Effect.fail(new Forbidden({ permission }))
    : actor.kind === "api-key" && notForApiKeys.has(permission)
    ? Effect.fail(new Forbidden({ permission, detail: "An API key cannot do this; use a user's token" }))
    : Effect.void

/** A credential an actor hands out (an API key) holds no permission the actor lacks. */
export const requireRoleWithin = (actor: Actor, role: Role): Effect.Effect<void, Forbidden> => {
  const missing = Permission.literals.find((permission) => can(role, permission) && !can(actor.role, permission))
  return missing === undefined
    ? Effect.void
    : Effect.fail(new Forbidden({ permission: missing, detail: `The role ${role} exceeds your own` }))
}

/**
 * Field-level access: what each role sees of the personal fields (customerModel.personal). Decided here, once;
 * every door (REST, RPC, list, export) serves `visibleTo(role, customer)`, and events carry none of them.
 *
 * - `full`: as stored.
 * - `masked`: the email's first character and its domain (`a***@example.com`, still an `Email`): an agent
 *   recognises the address a caller states and sees the provider, a screen or a copied list shows no address.
 * - `country`: the location's country alone. Analysts segment and report by country (fleet reports do), and a
 *   country names no one; region, city, postal code and time zone narrow a person down and are withheld.
 * - `hidden`: absent from the answer.
 */
export type FieldAccess = "full" | "masked" | "country" | "hidden"

type PersonalField = typeof customerModel.personal[number]

/** Which reduced forms a field has (a name has none: it is seen whole or not at all). */
interface PersonalFieldForms {
  readonly email: "full" | "masked" | "hidden"
  readonly pendingEmail: "full" | "masked" | "hidden"
  readonly name: "full" | "hidden"
  readonly location: "full" | "country" | "hidden"
}

const fieldAccess: Record<Role, { readonly [K in PersonalField]: PersonalFieldForms[K] }> = {
  admin: { email: "full", pendingEmail: "full", name: "full", location: "full" },
  // Services (the mailer reads pendingEmail to send the verification token, CRMs sync profiles) need the data.
  service: { email: "full", pendingEmail: "full", name: "full", location: "full" },
  // Agents talk to the person by name and where they live; the addresses are what a list or screen must not spill.
  agent: { email: "masked", pendingEmail: "masked", name: "full", location: "full" },
  analyst: { email: "hidden", pendingEmail: "hidden", name: "hidden", location: "country" }
}

/** How the role sees a personal field; any other field it sees whole. */
export const accessTo = (role: Role, field: string): FieldAccess =>
  field in fieldAccess[role] ? fieldAccess[role][field as PersonalField] : "full"

/**
 * Whether the role may use a field in a query: `seen` (searched, filtered, selected) needs the field not hidden;
 * `whole` (sorted by: the order and the keyset cursor carry its clear value) needs it served whole.
 */
export const mayQuery = (role: Role, field: string, needs: "seen" | "whole"): boolean => {
  const access = accessTo(role, field)
  return needs === "seen" ? access !== "hidden" : access === "full"
}

/** `ada.lovelace@example.com` as `a***@example.com`: the domain kept, still a valid Email. */
export const maskEmail = (email: string): string => {
  const at = email.lastIndexOf("@")
  return `${email.slice(0, 1)}***${email.slice(at)}`
}

/**
 * What a role writes back of what it was served: an address equal to the mask of the stored one means "as
 * stored". A client PUTting back the customer it read must neither change the email to its mask nor be refused
 * for echoing the read-only `pendingEmail` in the form it was served.
 */
export const unmasked = <W extends { readonly email?: string; readonly pendingEmail?: string | null }>(
  role: Role,
  written: W,
  stored: Pick<Customer, "email" | "pendingEmail">
): W => {
  const access = fieldAccess[role]
  const restored = (field: "email" | "pendingEmail") => {
    const value = written[field]
    const kept = stored[field]
    return access[field] === "masked" && typeof value === "string" && kept !== null && value === maskEmail(kept)
      ? { [field]: kept }
      : {}
  }
  return { ...written, ...restored("email"), ...restored("pendingEmail") }
}

/** Whether what the role writes may carry a masked address (and needs the stored one to read it back). */
export const writesMasked = (role: Role, written: { readonly email?: string; readonly pendingEmail?: string | null }) =>
  (fieldAccess[role].email === "masked" && written.email !== undefined) ||
  (fieldAccess[role].pendingEmail === "masked" && typeof written.pendingEmail === "string")

/**
 * The personal fields a read served the role, of those selected (all unless a list names `fields`): whole or
 * masked. A location reduced to its country names no one and is not counted.
 */
export const personalFieldsServed = (role: Role, selected?: ReadonlyArray<string>): ReadonlyArray<PersonalField> =>
  customerModel.personal.filter((field) => {
    const form = fieldAccess[role][field]
    return (form === "full" || form === "masked") && (selected === undefined || selected.includes(field))
  })

/** A personal field's value in the form the role is given (hidden ones never get here). */
const shownAs = (form: Exclude<FieldAccess, "hidden">, value: unknown): unknown =>
  value === null || form === "full"
    ? value
    : form === "masked"
    ? maskEmail(value as string)
    : { country: (value as Location).country }

/**
 * A tracked event's personal part (its device details but the type, and the properties its type marks personal in
 * the tracking plan) is served whole or not at all: admins, agents (they help with the person's orders and
 * devices) and services see it; analysts get the event without it (`device.type` and the other properties stay),
 * as they get no name or address. Every door serving events (timeline on REST and RPC, export) asks here; the
 * EVENTS stream and webhooks carry no personal part for anyone.
 */
const eventPersonalData: Record<Role, "full" | "hidden"> = {
  admin: "full",
  service: "full",
  agent: "full",
  analyst: "hidden"
}

export const seesPersonalEventData = (role: Role): boolean => eventPersonalData[role] === "full"

/** A customer, or the selected fields of one, as a role is served it: its personal fields may be absent. */
export type Served<C> = Omit<C, PersonalField> & { readonly [K in PersonalField & keyof C]?: C[K] }

/**
 * The customer (or the selected fields of one) as the role may see it: hidden personal fields removed, masked
 * and reduced ones in their form. Every answer carrying a customer passes through here.
 */
export const visibleTo = <C extends Partial<Customer>>(role: Role, customer: C): Served<C> => {
  const seen: Record<string, unknown> = { ...customer }
  for (const field of customerModel.personal) {
    const form = fieldAccess[role][field]
    if (!(field in seen)) continue
    if (form === "hidden") delete seen[field]
    else seen[field] = shownAs(form, seen[field])
  }
  return seen as Served<C>
}

const roleNames = (field: PersonalField, forms: ReadonlyArray<FieldAccess>) =>
  Role.literals.filter((role) => forms.includes(fieldAccess[role][field])).join(", ")

/** The OpenAPI description of a personal field: who sees it, and how. */
export const fieldAccessDescription = (field: PersonalField): string => {
  const parts = [`Personal data: served whole to ${roleNames(field, ["full"])}`]
  const masked = roleNames(field, ["masked"])
  if (masked !== "") parts.push(`masked (first character and domain, e.g. \`a***@example.com\`) for ${masked}`)
  const country = roleNames(field, ["country"])
  if (country !== "") parts.push(`reduced to \`country\` for ${country}`)
  const hidden = roleNames(field, ["hidden"])
  if (hidden !== "") parts.push(`absent for ${hidden}`)
  return `${parts.join("; ")}.`
}
