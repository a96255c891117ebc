/**
 * OWASP API3:2023 Broken Object Property Level Authorization. Mass assignment:
 * every field the service owns (in an answer, not in the request's schema)
 * sent on a create or an update is refused, on REST and RPC, and nothing
 * changes. Exposure: no read answers a credential. Property rights: a status
 * only an admin sets stays an admin's on every door. Echoed read-only fields of
 * a PUT (422 read-only-field) are tested in test/integration/customers-update.test.ts.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { apiKeysPath, issueKey } from "../support/ApiKeys.ts"
import { customersPath, newCustomer, unique } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { createDestination, destinationPath, destinationsPath } from "../support/Destinations.ts"
import { call, createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import { exitsOf, failureType, message, postRpc } from "../support/Rpc.ts"
import { createSegment, manualSegment, segmentPath } from "../support/SegmentsApi.ts"
import { changesNothing, document } from "../support/Security.ts"
import { json } from "../support/TestService.ts"

type JsonSchema = { readonly $ref?: string; readonly properties?: Record<string, unknown>; readonly anyOf?: ReadonlyArray<JsonSchema> }

const schemas = (document.components as { readonly schemas: Record<string, JsonSchema> }).schemas

/** The property names a schema (through references and unions) allows. */
const propertiesOf = (schema: JsonSchema | undefined): ReadonlySet<string> => {
  if (schema === undefined) return new Set()
  if (schema.$ref !== undefined) return propertiesOf(schemas[schema.$ref.replace("#/components/schemas/", "")])
  if (schema.anyOf !== undefined) return new Set(schema.anyOf.flatMap((member) => [...propertiesOf(member)]))
  return new Set(Object.keys(schema.properties ?? {}))
}

/** The fields an operation answers that its request may not set: the service's own. */
const serverOwnedFields = (operationId: string) => {
  const operation = Object.values(document.paths as Record<string, Record<string, {
    readonly operationId: string
    readonly requestBody?: { readonly content: Record<string, { readonly schema: JsonSchema }> }
    readonly responses: Record<string, { readonly content?: Record<string, { readonly schema: JsonSchema }> }>
  }>>).flatMap((item) => Object.values(item)).find((entry) => entry.operationId === operationId)!
  const accepted = propertiesOf(operation.requestBody?.content["application/json"].schema)
  const [, success] = Object.entries(operation.responses).find(([status]) => status.startsWith("2"))!
  return [...propertiesOf(success.content?.["application/json"].schema)].filter((field) => !accepted.has(field))
}

/** A plausible value for a server-owned field: the attacker's wish, well-formed so only ownership can refuse it. */
const wish = (field: string): unknown =>
  field === "id"
    ? "0190a6f0-0000-7000-8000-000000000001"
    : field.endsWith("At") || field === "lastActivity"
    ? "2020-01-01T00:00:00.000Z"
    : field === "emailVerified"
    ? true
    : field === "memberCount" || field === "version"
    ? 1_000_000
    : field === "issuedBy" || field === "createdBy"
    ? { kind: "user", subject: "someone-else", role: "admin" }
    : field === "secret" || field === "key"
    ? `whsec_${"A".repeat(40)}`
    : "attacker-chosen"

layer(testServiceWithDatabase({ env: { DESTINATIONS_ALLOW_PRIVATE_NETWORKS: "true" } }), { excludeTestServices: true })(
  "API3 broken object property level authorization",
  (it) => {
    it.effect("every server-owned field sent to a create or an update is a 400 naming it, and nothing changes", () =>
      Effect.gen(function*() {
        const customer = yield* createCustomer()
        const segment = yield* createSegment(manualSegment())
        const destination = yield* createDestination({ url: "http://127.0.0.1:9/hooks", enabled: false })
        const writes: ReadonlyArray<readonly [string, string, string, Record<string, unknown>]> = [
          ["customers.create", "POST", customersPath, { ...newCustomer() }],
          ["customers.patch", "PATCH", `${customersPath}/${customer.id}`, { name: "Patched" }],
          ["customers.replace", "PUT", `${customersPath}/${customer.id}`, { email: customer.email, name: "Replaced", version: 1 }],
          ["segments.create", "POST", "/api/v1/customers/segments", manualSegment()],
          ["segments.update", "PATCH", segmentPath(segment.id), { name: `Renamed ${unique()}` }],
          ["destinations.create", "POST", destinationsPath, { name: `Hook ${unique()}`, url: "http://127.0.0.1:9/x" }],
          ["destinations.update", "PATCH", destinationPath(destination.id), { name: `Renamed ${unique()}` }],
          ["apiKeys.issue", "POST", apiKeysPath, { name: "mass assignment", role: "agent" }],
          ["trackingPlan.register", "PUT", "/api/v1/tracking-plan/event-types/security_probe", { mode: "flag" }]
        ]
        let probes = 0
        yield* changesNothing(Effect.forEach(writes, ([operationId, method, path, body]) =>
          Effect.forEach(serverOwnedFields(operationId), (field) =>
            Effect.gen(function*() {
              const response = yield* call(method, path, { body: { ...body, [field]: wish(field) } })
              const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
              assert.include(invalidPaths(problem), `payload.${field}`, `${operationId} with ${field}`)
              probes++
            }))))
        // Among them the ones that matter most: who issued a key, a key's own secret, a destination's secret.
        assert.includeMembers(serverOwnedFields("apiKeys.issue"), ["id", "issuedBy", "key", "revokedAt"])
        assert.includeMembers(serverOwnedFields("destinations.create"), ["id", "secret", "status"])
        assert.includeMembers(serverOwnedFields("customers.create"), ["id", "emailVerified", "version", "createdAt"])
        assert.isAtLeast(probes, 30)
      }))

    it.effect("over RPC, server-owned fields in a create or a patch are refused whole before anything runs", () =>
      Effect.gen(function*() {
        const customer = yield* createCustomer()
        yield* changesNothing(Effect.gen(function*() {
          for (const field of ["id", "emailVerified", "version", "createdAt"]) {
            const create = yield* postRpc([
              message({ tag: "CreateCustomer", payload: { input: { ...newCustomer(), [field]: wish(field) } } })
            ])
            const problem = yield* expectProblem(create, 400, "/problems/invalid-request")
            assert.include(invalidPaths(problem).join(" "), field, `CreateCustomer with ${field}`)
          }
          for (const field of ["id", "emailVerified", "createdAt"]) {
            const update = yield* postRpc([message({
              tag: "UpdateCustomer",
              payload: { id: customer.id, patch: { [field]: wish(field) }, expectedVersion: 1 }
            })])
            const problem = yield* expectProblem(update, 400, "/problems/invalid-request")
            assert.include(invalidPaths(problem).join(" "), field, `UpdateCustomer with ${field}`)
          }
        }))
      }))

    it.effect("a status only an admin may set is refused to an agent on RPC as on REST, and DELETED to anyone but deletion", () =>
      Effect.gen(function*() {
        const customer = yield* createCustomer()
        yield* changesNothing(Effect.gen(function*() {
          const suspend = yield* postRpc([message({
            tag: "UpdateCustomer",
            payload: { id: customer.id, patch: { status: "SUSPENDED" }, expectedVersion: 1 }
          })], { as: "agent" })
          const [exit] = yield* exitsOf(suspend)
          assert.strictEqual(failureType(exit), "/problems/forbidden")
          // The service role writes but may not delete: a replacement cannot delete either.
          const replace = yield* call("PUT", `${customersPath}/${customer.id}`, {
            role: "service",
            body: { email: customer.email, name: customer.name, consent: customer.consent, status: "DELETED", version: 1 }
          })
          const problem = yield* expectProblem(replace, 400, "/problems/invalid-request")
          assert.include(invalidPaths(problem), "payload.status")
        }))
      }))

    it.effect("no read answers a credential: keys list without secrets or hashes, destinations without their signing secret", () =>
      Effect.gen(function*() {
        const issued = yield* issueKey("agent", "exposure probe")
        const destination = yield* createDestination({ url: "http://127.0.0.1:9/hooks", enabled: false })
        assert.isString(destination.secret)
        const reads = [
          apiKeysPath,
          destinationsPath,
          destinationPath(destination.id),
          `${destinationPath(destination.id)}/dead-letters`
        ]
        for (const path of reads) {
          const response = yield* call("GET", path)
          assert.strictEqual(response.status, 200, path)
          const text = JSON.stringify(yield* json(response))
          assert.notInclude(text, issued.key, path)
          assert.notInclude(text, issued.key.split("_")[2], path)
          assert.notInclude(text, destination.secret, path)
          assert.notMatch(text, /"(secret|key|keyHash|key_hash|hash)"\s*:/, path)
        }
      }))
  }
)
