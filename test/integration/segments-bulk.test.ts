/**
 * Hand-kept membership of manual segments (POST /api/v1/customers/bulk/segments)
 * and a customer's current segments (GET /api/v1/customers/:id/segments), on
 * the real database: per-id outcomes in the request's order, unknown and
 * erased customers left alone, history kept across leaving and rejoining,
 * the member count exact under concurrent changes, and the 10,000-id limit.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { MembershipOutcome } from "../../src/domain/Segment.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import {
  bulkSegmentsPath,
  createSegment,
  dynamicSegment,
  manualSegment,
  type SegmentBody,
  segmentPath
} from "../support/SegmentsApi.ts"
import { json } from "../support/TestService.ts"

interface Changes {
  readonly segmentId: string
  readonly results: ReadonlyArray<{ readonly customerId: string; readonly outcome: MembershipOutcome }>
  readonly memberCount: number
}

interface CustomerSegmentsBody {
  readonly data: ReadonlyArray<{ readonly id: string; readonly name: string; readonly type: string; readonly joinedAt: string }>
}

const change = (segmentId: string, action: "add" | "remove", customerIds: ReadonlyArray<string>) =>
  call("POST", bulkSegmentsPath, { body: { segmentId, action, customerIds } })

const changed = (segmentId: string, action: "add" | "remove", customerIds: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const response = yield* change(segmentId, action, customerIds)
    const text = yield* Effect.promise(() => response.clone().text())
    assert.strictEqual(response.status, 200, text)
    return yield* json<Changes>(response)
  })

const outcomes = (changes: Changes) => changes.results.map((result) => result.outcome)

/** Current members and all stays (history included) of a segment, from the table. */
const membershipRows = (segmentId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly customer_id: string; readonly current: boolean }>`SELECT customer_id, left_at IS NULL AS current
      FROM customer_segment_memberships WHERE segment_id = ${segmentId} ORDER BY id`.pipe(Effect.orDie))

const customerSegments = (customerId: string) => call("GET", `${customersPath}/${customerId}/segments`)

const randomIds = (count: number) => Array.from({ length: count }, () => crypto.randomUUID())

layer(testServiceWithDatabase({ nats: false }), { excludeTestServices: true })("bulk segment membership", (it) => {
  it.effect("adds and removes with one outcome per id, in order, keeping the history of each stay", () =>
    Effect.gen(function*() {
      const segment = yield* createSegment(manualSegment())
      const [ada, grace, alan] = [yield* createCustomer(), yield* createCustomer(), yield* createCustomer()]
      const erased = yield* createCustomer()
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${erased.id}`)).status, 204)
      const unknown = crypto.randomUUID()

      const first = yield* changed(segment.id, "add", [ada.id, unknown, grace.id, erased.id])
      assert.strictEqual(first.segmentId, segment.id)
      assert.deepStrictEqual(first.results.map((result) => result.customerId), [ada.id, unknown, grace.id, erased.id])
      assert.deepStrictEqual(outcomes(first), ["added", "customer-not-found", "added", "customer-not-found"])
      assert.strictEqual(first.memberCount, 2)

      const second = yield* changed(segment.id, "add", [alan.id, ada.id])
      assert.deepStrictEqual(outcomes(second), ["added", "already-member"])
      assert.strictEqual(second.memberCount, 3)

      const removal = yield* changed(segment.id, "remove", [ada.id, unknown, erased.id])
      assert.deepStrictEqual(outcomes(removal), ["removed", "customer-not-found", "customer-not-found"])
      assert.strictEqual(removal.memberCount, 2)
      assert.deepStrictEqual(outcomes(yield* changed(segment.id, "remove", [ada.id])), ["not-member"])

      const rejoined = yield* changed(segment.id, "add", [ada.id])
      assert.deepStrictEqual(outcomes(rejoined), ["added"])
      assert.strictEqual(rejoined.memberCount, 3)

      const sql = yield* PgClient.PgClient
      const audits = yield* sql<{ readonly action: string; readonly customer_id: string | null }>`SELECT action,
          customer_id FROM audit_log WHERE segment_id = ${segment.id} ORDER BY id`.pipe(Effect.orDie)
      assert.deepStrictEqual(
        audits.map((row) => [row.action, row.customer_id]),
        [
          ["segment.create", null],
          ["segment.members.add", null],
          ["segment.members.add", null],
          ["segment.members.remove", null],
          ["segment.members.remove", null],
          ["segment.members.add", null]
        ],
        "one entry per call, naming no customer"
      )

      const rows = yield* membershipRows(segment.id)
      assert.deepStrictEqual(
        rows.filter((row) => row.customer_id === ada.id).map((row) => row.current),
        [false, true],
        "a customer who left and rejoined has two stays"
      )
      assert.notInclude(rows.map((row) => row.customer_id), erased.id)
      const read = yield* json<SegmentBody>(yield* call("GET", segmentPath(segment.id)))
      assert.strictEqual(read.memberCount, 3)
      assert.strictEqual(read.version, 1, "membership is not the definition: the version stays")
    }))

  it.effect("a customer's segments are their current ones; unknown and erased customers are not found", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const zebra = yield* createSegment(manualSegment({ name: `Zebra ${crypto.randomUUID().slice(0, 6)}` }))
      const apple = yield* createSegment(manualSegment({ name: `Apple ${crypto.randomUUID().slice(0, 6)}` }))
      const left = yield* createSegment(manualSegment())
      for (const segment of [zebra, apple, left]) yield* changed(segment.id, "add", [customer.id])
      yield* changed(left.id, "remove", [customer.id])

      const response = yield* customerSegments(customer.id)
      assert.strictEqual(response.status, 200)
      const body = yield* json<CustomerSegmentsBody>(response)
      assert.deepStrictEqual(body.data.map((segment) => segment.id), [apple.id, zebra.id])
      assert.deepStrictEqual(body.data.map((segment) => segment.type), ["manual", "manual"])
      for (const segment of body.data) assert.isFalse(Number.isNaN(Date.parse(segment.joinedAt)))

      const none = yield* json<CustomerSegmentsBody>(yield* customerSegments((yield* createCustomer()).id))
      assert.deepStrictEqual(none.data, [])
      yield* expectProblem(yield* customerSegments(crypto.randomUUID()), 404, "/problems/customer-not-found")
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${customer.id}`)).status, 204)
      yield* expectProblem(yield* customerSegments(customer.id), 404, "/problems/customer-not-found")
    }))

  it.effect("erasing a customer erases their memberships, history included, and the counts follow", () =>
    Effect.gen(function*() {
      const [kept, erased] = [yield* createCustomer(), yield* createCustomer()]
      const current = yield* createSegment(manualSegment())
      const former = yield* createSegment(manualSegment())
      yield* changed(current.id, "add", [kept.id, erased.id])
      yield* changed(former.id, "add", [erased.id])
      yield* changed(former.id, "remove", [erased.id])
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${erased.id}`)).status, 204)
      assert.deepStrictEqual((yield* membershipRows(current.id)).map((row) => row.customer_id), [kept.id])
      assert.deepStrictEqual(yield* membershipRows(former.id), [])
      const counts = [
        yield* json<SegmentBody>(yield* call("GET", segmentPath(current.id))),
        yield* json<SegmentBody>(yield* call("GET", segmentPath(former.id)))
      ].map((segment) => segment.memberCount)
      assert.deepStrictEqual(counts, [1, 0])
    }))

  it.effect("a dynamic segment's members are not changed by hand; an unknown segment is not found", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const dynamic = yield* createSegment(dynamicSegment())
      const problem = yield* expectProblem(
        yield* change(dynamic.id, "add", [customer.id]),
        422,
        "/problems/segment-not-manual"
      )
      assert.strictEqual(problem.field, "segmentId")
      assert.deepStrictEqual(yield* membershipRows(dynamic.id), [])
      const sql = yield* PgClient.PgClient
      const audits = yield* sql`SELECT 1 FROM audit_log WHERE segment_id = ${dynamic.id}
        AND action LIKE 'segment.members.%'`.pipe(Effect.orDie)
      assert.strictEqual(audits.length, 0, "a refused change is not audited")
      const missing = crypto.randomUUID()
      const notFound = (yield* expectProblem(
        yield* change(missing, "remove", [customer.id]),
        404,
        "/problems/segment-not-found"
      )) as { readonly segmentId?: string }
      assert.strictEqual(notFound.segmentId, missing)
    }))

  it.effect("10,000 ids are one call; 10,001, duplicates or a malformed id are refused whole", () =>
    Effect.gen(function*() {
      const segment = yield* createSegment(manualSegment())
      const known = [yield* createCustomer(), yield* createCustomer()].map((customer) => customer.id)
      const ids = [...known, ...randomIds(9_998)]
      const big = yield* changed(segment.id, "add", ids)
      assert.strictEqual(big.results.length, 10_000)
      assert.deepStrictEqual(big.results.map((result) => result.customerId), ids)
      assert.deepStrictEqual(outcomes(big).slice(0, 3), ["added", "added", "customer-not-found"])
      assert.strictEqual(outcomes(big).filter((outcome) => outcome === "customer-not-found").length, 9_998)
      assert.strictEqual(big.memberCount, 2)

      const tooMany = yield* expectProblem(
        yield* change(segment.id, "add", [...ids, crypto.randomUUID()]),
        400,
        "/problems/invalid-request"
      )
      assert.deepStrictEqual(invalidPaths(tooMany), ["payload.customerIds"])
      // The refusal does not grow with the input.
      assert.isAtMost(JSON.stringify(tooMany).length, 2_000)
      const duplicates = yield* expectProblem(
        yield* change(segment.id, "add", [known[0], known[0]]),
        400,
        "/problems/invalid-request"
      )
      assert.deepStrictEqual(invalidPaths(duplicates), ["payload.customerIds"])
      const malformed = yield* expectProblem(
        yield* change(segment.id, "add", [known[0], "not-a-uuid"]),
        400,
        "/problems/invalid-request"
      )
      assert.deepStrictEqual(invalidPaths(malformed), ["payload.customerIds.1"])
      const empty = yield* expectProblem(yield* change(segment.id, "remove", []), 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(empty), ["payload.customerIds"])
      assert.strictEqual((yield* membershipRows(segment.id)).length, 2)
    }))

  it.effect("concurrent changes of one segment keep the member count exact", () =>
    Effect.gen(function*() {
      const segment = yield* createSegment(manualSegment())
      const customers: Array<string> = []
      for (let i = 0; i < 12; i++) customers.push((yield* createCustomer()).id)
      const batches = [customers.slice(0, 8), customers.slice(4, 12), customers.slice(2, 10), customers.slice(0, 6)]
      yield* Effect.forEach(
        batches,
        (batch, index) => changed(segment.id, index === 3 ? "remove" : "add", batch),
        { concurrency: "unbounded" }
      )
      const current = (yield* membershipRows(segment.id)).filter((row) => row.current)
      assert.strictEqual(new Set(current.map((row) => row.customer_id)).size, current.length)
      const read = yield* json<SegmentBody>(yield* call("GET", segmentPath(segment.id)))
      assert.strictEqual(read.memberCount, current.length)
    }))

  it.effect("changing members needs the segments permission (agents lack it); reading a customer's segments does not", () =>
    Effect.gen(function*() {
      const segment = yield* createSegment(manualSegment())
      const customer = yield* createCustomer()
      const forbidden = yield* call("POST", bulkSegmentsPath, {
        body: { segmentId: segment.id, action: "add", customerIds: [customer.id] },
        role: "agent"
      })
      yield* expectProblem(forbidden, 403, "/problems/forbidden")
      assert.deepStrictEqual(yield* membershipRows(segment.id), [])
      const read = yield* call("GET", `${customersPath}/${customer.id}/segments`, { role: "analyst" })
      assert.strictEqual(read.status, 200)
    }))
})
