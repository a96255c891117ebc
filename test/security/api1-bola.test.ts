/**
 * OWASP API1:2023 Broken Object Level Authorization. Objects are reached only
 * by their own ids, through their own parents, while they exist: an id no
 * object has is a 404 of its kind on every operation naming one, an erased
 * customer is out of reach on REST and RPC, a calculation answers only under
 * its own segment, and a forged id is a 400 that never reaches a lookup. Each
 * refusal changes nothing. Roles do not own objects here (every role reads
 * every customer, see src/domain/Access.ts); what a role may do is API5's.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import { exitsOf, failureType, message, postRpc } from "../support/Rpc.ts"
import { createSegment, dynamicSegment, segmentPath } from "../support/SegmentsApi.ts"
import {
  authenticatedOperations,
  changesNothing,
  concretePath,
  databaseFingerprint,
  type Operation,
  settledFingerprint
} from "../support/Security.ts"
import { json } from "../support/TestService.ts"

/** A well-formed body for each operation that names an object and takes one: only the object can be missing. */
const validBodies: Record<string, unknown> = {
  "customers.replace": { email: "someone@example.com", name: "Someone", consent: { marketing: false, dataProcessing: true }, version: 1 },
  "customers.patch": { name: "Someone" },
  "customers.verifyEmail": { token: "a-token-of-sufficient-length" },
  "segments.update": { name: "Renamed" },
  "destinations.update": { name: "Renamed" },
  "destinations.replay": {},
  "events.track": { type: "page_view" },
  "privacy.anonymize": { reason: "a test" },
  "consent.changeConsent": {
    changes: [{ purpose: "analytics", status: "withdrawn", legalBasis: "consent", source: "web-form", policyVersion: "1" }]
  }
}

const namesAnObject = (operation: Operation) => /\{(id|calculationId)\}/.test(operation.path)

/** The not-found problem of the path's kind of object. */
const notFoundType = (path: string) =>
  path.includes("/calculations/")
    ? "/problems/segment-not-found"
    : path.startsWith("/api/v1/customers/segments")
    ? "/problems/segment-not-found"
    : path.startsWith("/api/v1/destinations")
    ? "/problems/destination-not-found"
    : path.startsWith("/api/v1/api-keys")
    ? "/problems/api-key-not-found"
    : path.startsWith("/api/v1/data-exports")
    ? "/problems/data-export-not-found"
    : path.endsWith("/erasure")
    ? "/problems/erasure-not-found"
    : "/problems/customer-not-found"

const request = (operation: Operation, path: string) =>
  call(operation.method, path, operation.hasBody ? { body: validBodies[operation.id] } : {})

layer(testServiceWithDatabase(), { excludeTestServices: true })("API1 broken object level authorization", (it) => {
  it.effect("control: the fingerprint every test here relies on sees a single permitted write", () =>
    Effect.gen(function*() {
      const before = yield* settledFingerprint
      yield* createCustomer()
      assert.notDeepEqual(yield* databaseFingerprint, before)
    }))

  it.effect("an id no object has is a 404 of the object's kind on every operation naming one, and nothing changes", () =>
    Effect.gen(function*() {
      const naming = authenticatedOperations.filter(namesAnObject)
      assert.isAtLeast(naming.length, 20)
      for (const operation of naming.filter((operation) => operation.hasBody)) {
        assert.isDefined(validBodies[operation.id], `no body for ${operation.id}`)
      }
      yield* changesNothing(Effect.forEach(naming, (operation) =>
        Effect.gen(function*() {
          const response = yield* request(operation, concretePath(operation.path))
          assert.strictEqual(response.status, 404, operation.id)
          yield* expectProblem(response, 404, notFoundType(operation.path))
        })))
    }))

  it.effect("an erased customer is out of reach on every customer operation and every RPC naming it", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${customer.id}`)).status, 204)
      // The audit trail and the erasure request outlive the person: they are the record of their erasure, and
      // hold no personal data.
      const customerOperations = authenticatedOperations.filter((operation) =>
        operation.path.startsWith(`${customersPath}/{id}`) && operation.method !== "DELETE" &&
        operation.id !== "audit.customerEntries" && operation.id !== "privacy.getErasure"
      )
      assert.isAtLeast(customerOperations.length, 8)
      yield* changesNothing(Effect.gen(function*() {
        for (const operation of customerOperations) {
          const response = yield* request(operation, concretePath(operation.path, { id: customer.id }))
          assert.strictEqual(response.status, 404, operation.id)
          yield* expectProblem(response, 404, "/problems/customer-not-found")
        }
        const calls = [
          message({ id: 1, tag: "GetCustomer", payload: { id: customer.id } }),
          message({ id: 2, tag: "UpdateCustomer", payload: { id: customer.id, patch: { name: "Back" }, expectedVersion: 2 } }),
          message({ id: 3, tag: "TrackEvent", payload: { id: customer.id, event: { type: "page_view" } } }),
          message({ id: 4, tag: "ListCustomerEvents", payload: { id: customer.id } }),
          message({ id: 5, tag: "GetCustomerInsights", payload: { id: customer.id } })
        ]
        const exits = yield* exitsOf(yield* postRpc(calls))
        assert.deepStrictEqual(exits.map(failureType), Array(calls.length).fill("/problems/customer-not-found"))
      }))
    }))

  it.effect("a calculation answers only under its own segment", () =>
    Effect.gen(function*() {
      const own = yield* createSegment(dynamicSegment())
      const other = yield* createSegment(dynamicSegment())
      const started = yield* call("POST", `${segmentPath(own.id)}/calculate`)
      assert.strictEqual(started.status, 202)
      const calculation = yield* json<{ readonly id: string }>(started)
      assert.strictEqual((yield* call("GET", `${segmentPath(own.id)}/calculations/${calculation.id}`)).status, 200)
      yield* changesNothing(Effect.gen(function*() {
        const response = yield* call("GET", `${segmentPath(other.id)}/calculations/${calculation.id}`)
        yield* expectProblem(response, 404, "/problems/segment-calculation-not-found")
      }))
    }))

  it.effect("a forged id (not a UUID, a traversal, SQL, a NUL) is a 400 naming the path parameter on every operation", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      const forged = ["1", "..%2Fapi-keys", `${customer.id}'%20OR%20'1'%3D'1`, "%00", `${customer.id}%00`, "*"]
      const naming = authenticatedOperations.filter((operation) => /\{id\}/.test(operation.path))
      yield* changesNothing(Effect.forEach(naming, (operation) =>
        Effect.forEach(forged, (id) =>
          Effect.gen(function*() {
            const response = yield* request(operation, concretePath(operation.path, { id }))
            assert.strictEqual(response.status, 400, `${operation.id} with ${id}`)
            const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
            assert.include(invalidPaths(problem), "params.id", `${operation.id} with ${id}`)
          }))))
    }))
})
