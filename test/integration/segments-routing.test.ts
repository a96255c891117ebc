/**
 * The segment paths live beside /api/v1/customers/:id: each request reaches
 * its own handler, never the customer's with an id of "segments" or "bulk"
 * (which would answer 400 for an invalid customer id, or worse). A method
 * the static path lacks is a 405 naming its methods, not the customer route's.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { Customer } from "../../src/domain/Customer.ts"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import {
  bulkSegmentsPath,
  createSegment,
  manualSegment,
  type SegmentBody,
  segmentPath,
  segmentsPath
} from "../support/SegmentsApi.ts"
import { json } from "../support/TestService.ts"

const unknownId = "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35"

layer(testServiceWithDatabase({ nats: false }), { excludeTestServices: true })("segment routes beside /customers/:id", (it) => {
  it.effect("GET /customers/segments is the segment list, not a customer called \"segments\"", () =>
    Effect.gen(function*() {
      const segment = yield* createSegment(manualSegment())
      const response = yield* call("GET", segmentsPath)
      assert.strictEqual(response.status, 200)
      const page = yield* json<{ readonly data: ReadonlyArray<SegmentBody>; readonly total: number }>(response)
      assert.include(page.data.map((item) => item.id), segment.id)
    }))

  it.effect("POST /customers/segments creates a segment, not a customer", () =>
    Effect.gen(function*() {
      // A customer's body is refused there: it is no segment.
      yield* expectProblem(yield* call("POST", segmentsPath, { body: newCustomer() }), 400, "/problems/invalid-request")
      const created = yield* createSegment(manualSegment())
      assert.strictEqual(created.type, "manual")
    }))

  it.effect("/customers/segments/:id is a segment: an unknown id is a missing segment, not a missing customer", () =>
    Effect.gen(function*() {
      const notFound = (yield* expectProblem(
        yield* call("GET", segmentPath(unknownId)),
        404,
        "/problems/segment-not-found"
      )) as { readonly segmentId?: string }
      assert.strictEqual(notFound.segmentId, unknownId)
      yield* expectProblem(yield* call("PATCH", segmentPath(unknownId), { body: {} }), 404, "/problems/segment-not-found")
      yield* expectProblem(yield* call("DELETE", segmentPath(unknownId)), 404, "/problems/segment-not-found")
    }))

  it.effect("/customers/:id/segments is the customer's segments, and /customers/:id is still the customer", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const segments = yield* call("GET", `${customersPath}/${customer.id}/segments`)
      assert.strictEqual(segments.status, 200)
      assert.deepStrictEqual(yield* json(segments), { data: [] })
      yield* expectProblem(
        yield* call("GET", `${customersPath}/${unknownId}/segments`),
        404,
        "/problems/customer-not-found"
      )
      const read = yield* call("GET", `${customersPath}/${customer.id}`)
      assert.strictEqual(read.status, 200)
      assert.strictEqual((yield* json<Customer>(read)).id, customer.id)
    }))

  it.effect("POST /customers/bulk/segments is the bulk membership change", () =>
    Effect.gen(function*() {
      const segment = yield* createSegment(manualSegment())
      const customer = yield* createCustomer()
      const response = yield* call("POST", bulkSegmentsPath, {
        body: { segmentId: segment.id, action: "add", customerIds: [customer.id] }
      })
      assert.strictEqual(response.status, 200)
      const body = yield* json<{ readonly results: ReadonlyArray<{ readonly outcome: string }> }>(response)
      assert.deepStrictEqual(body.results.map((result) => result.outcome), ["added"])
    }))

  it.effect("a method the static path lacks is a 405 with its own methods, never the customer route's", () =>
    Effect.gen(function*() {
      for (const method of ["PUT", "PATCH", "DELETE"]) {
        const response = yield* call(method, segmentsPath, { body: method === "DELETE" ? undefined : {} })
        yield* expectProblem(response, 405, "/problems/method-not-allowed")
        assert.strictEqual(response.headers.get("allow"), "GET, POST")
      }
      // GET /customers/bulk/segments would otherwise be "the segments of customer bulk".
      const bulkGet = yield* call("GET", bulkSegmentsPath)
      yield* expectProblem(bulkGet, 405, "/problems/method-not-allowed")
      assert.strictEqual(bulkGet.headers.get("allow"), "POST")
      const segmentPut = yield* call("PUT", segmentPath(unknownId), { body: {} })
      yield* expectProblem(segmentPut, 405, "/problems/method-not-allowed")
      assert.strictEqual(segmentPut.headers.get("allow"), "GET, PATCH, DELETE")
    }))

  it.effect("a segment id that is not a UUID is refused as a segment id", () =>
    Effect.gen(function*() {
      const problem = yield* expectProblem(yield* call("GET", segmentPath("segments")), 400, "/problems/invalid-request")
      assert.deepStrictEqual(problem.errors?.map((entry) => entry.path.join(".")), ["params.id"])
    }))
})
