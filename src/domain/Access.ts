/**
 * Who may do what. Roles map to permissions once, here; handlers ask for a
 * permission, never for a role.
 */
import { Effect, Schema } from "effect"
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
