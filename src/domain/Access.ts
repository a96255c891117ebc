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
  "api-keys:manage"
])
export type Permission = typeof Permission.Type

const permissions: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(Permission.literals),
  agent: new Set(["customers:read", "customers:write", "customers:delete"]),
  analyst: new Set(["customers:read"]),
  service: new Set(["customers:read", "customers:write"])
}

export const can = (role: Role, permission: Permission): boolean => permissions[role].has(permission)

/** The authenticated caller, as recorded in audit rows and carried to entities. */
export const Actor = Schema.Struct({
  subject: Schema.String,
  role: Role,
  kind: Schema.Literals(["user", "api-key", "system"])
}).annotate({ identifier: "Actor" })
export type Actor = typeof Actor.Type

export const requirePermission = (actor: Actor, permission: Permission): Effect.Effect<void, Forbidden> =>
  can(actor.role, permission) ? Effect.void : Effect.fail(new Forbidden({ permission }))
