/**
 * OWASP API5:2023 Broken Function Level Authorization. Each operation's
 * permission is read from the contract (the annotation the server checks), and
 * every role without it is refused on every operation, with a bearer token and
 * with an API key, on REST and over RPC: 403 before the input is read, nothing
 * changed. The grants themselves are unit-tested in src/domain/Access.ts's
 * callers; single-operation checks live in test/integration/auth.test.ts.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { Role } from "../../src/domain/Access.ts"
import { apiKey, callWith, expectForbidden, issueKey } from "../support/ApiKeys.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { createDestination } from "../support/Destinations.ts"
import { call, createCustomer } from "../support/Http.ts"
import { exitsOf, failureType, message, postRpc } from "../support/Rpc.ts"
import { createSegment, manualSegment } from "../support/SegmentsApi.ts"
import { authenticatedOperations, changesNothing, concretePath, rolesWithout, rpcs } from "../support/Security.ts"

const guarded = authenticatedOperations.filter((operation) => operation.permission !== undefined)

/** Real objects for every path, so a refusal is about the function and not a missing object. */
const fixtures = Effect.gen(function*() {
  const customer = yield* createCustomer()
  const segment = yield* createSegment(manualSegment())
  const destination = yield* createDestination({ url: "http://127.0.0.1:9/hooks", enabled: false })
  const key = yield* issueKey("agent", "a key to revoke")
  return (path: string) => {
    const id = path.startsWith("/api/v1/customers/segments")
      ? segment.id
      : path.startsWith("/api/v1/destinations")
      ? destination.id
      : path.startsWith("/api/v1/api-keys")
      ? key.id
      : customer.id
    return concretePath(path, { id })
  }
})

/** Anything at all: the permission is checked before the body is decoded. */
const body = { role: "admin", name: "escalation", version: 1 }

layer(testServiceWithDatabase({ env: { DESTINATIONS_ALLOW_PRIVATE_NETWORKS: "true" } }), { excludeTestServices: true })(
  "API5 broken function level authorization",
  (it) => {
    it.effect("the contract names a permission for every operation that changes something", () =>
      Effect.sync(() => {
        const unguardedWrites = authenticatedOperations.filter((operation) =>
          operation.method !== "GET" && operation.permission === undefined && operation.id !== "rpc"
        )
        assert.deepStrictEqual(unguardedWrites.map((operation) => operation.id), [])
        assert.isAtLeast(guarded.length, 25)
      }))

    it.effect("with a bearer token, every role is refused every operation its role does not grant: 403, nothing changed", () =>
      Effect.gen(function*() {
        const pathOf = yield* fixtures
        let refusals = 0
        yield* changesNothing(Effect.forEach(guarded, (operation) =>
          Effect.forEach(rolesWithout(operation.permission!), (role) =>
            Effect.gen(function*() {
              const response = yield* call(operation.method, pathOf(operation.path), {
                role,
                ...(operation.hasBody ? { body } : {})
              })
              assert.strictEqual(response.status, 403, `${operation.id} as ${role}`)
              const problem = yield* expectForbidden(response)
              assert.strictEqual((problem as { readonly permission?: string }).permission, operation.permission)
              refusals++
            })), { concurrency: 4 }))
        const expected = guarded.reduce((sum, operation) => sum + rolesWithout(operation.permission!).length, 0)
        assert.strictEqual(refusals, expected)
        assert.isAtLeast(expected, 30)
      }))

    it.effect("with an API key, the same refusals, and even an admin's key cannot manage keys nor lift a suppression", () =>
      Effect.gen(function*() {
        const pathOf = yield* fixtures
        const keys = new Map<Role, string>()
        for (const role of ["admin", "agent", "analyst", "service"] as const) keys.set(role, (yield* issueKey(role)).key)
        const adminKeyRefusals = guarded.filter((operation) => rolesWithout(operation.permission!, "api-key").includes("admin"))
        assert.deepStrictEqual(adminKeyRefusals.map((operation) => operation.id), [
          "apiKeys.list",
          "apiKeys.issue",
          "apiKeys.revoke",
          "suppressions.lift"
        ])
        yield* changesNothing(Effect.forEach(guarded, (operation) =>
          Effect.forEach(rolesWithout(operation.permission!, "api-key"), (role) =>
            Effect.gen(function*() {
              const response = yield* callWith(
                apiKey(keys.get(role)!),
                operation.method,
                pathOf(operation.path),
                operation.hasBody ? body : undefined
              )
              assert.strictEqual(response.status, 403, `${operation.id} with a key of ${role}`)
              yield* expectForbidden(response)
            })), { concurrency: 4 }))
      }))

    it.effect("over RPC, every call a role does not hold fails Forbidden, whatever its payload, and nothing changes", () =>
      Effect.gen(function*() {
        const guardedRpcs = rpcs.filter((rpc) => rpc.permission !== undefined)
        assert.isAtLeast(guardedRpcs.length, 15)
        for (const role of ["agent", "analyst", "service"] as const) {
          const refused = guardedRpcs.filter((rpc) => rolesWithout(rpc.permission!).includes(role))
          if (refused.length === 0) continue
          yield* changesNothing(Effect.gen(function*() {
            // One call per request: the door caps what a batch may ask for, and that is not what is tested here.
            for (const rpc of refused) {
              const response = yield* postRpc([message({ tag: rpc.tag, payload: { input: body, id: "x" } })], { as: role })
              assert.strictEqual(response.status, 200, `${rpc.tag} as ${role}`)
              const [exit] = yield* exitsOf(response)
              assert.strictEqual(failureType(exit), "/problems/forbidden", `${rpc.tag} as ${role}`)
            }
          }))
        }
      }))
  }
)
