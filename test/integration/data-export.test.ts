/**
 * A person's data export on the real database: every part of what is held about them (profile, analytics,
 * segment stays current and past, the audit trail, every event) in the documented format, streamed across
 * pages; the export itself audited; unknown and erased people have none; only the roles that answer data
 * requests may export.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { CustomerDataExport } from "../../src/domain/DataExport.ts"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { json } from "../support/TestService.ts"
import { bulkSegmentsPath, createSegment, manualSegment } from "../support/SegmentsApi.ts"

const decodeExport = Schema.decodeUnknownSync(CustomerDataExport)

const exportOf = (id: string, role: "admin" | "agent" = "admin") =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${customersPath}/${id}/data`, { role })
    const text = yield* Effect.promise(() => response.text())
    assert.strictEqual(response.status, 200, text)
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/)
    assert.strictEqual(response.headers.get("content-disposition"), `attachment; filename="customer-${id}.json"`)
    // Decoding with the documented schema: every part and every field of each is present.
    return decodeExport(JSON.parse(text))
  })

const track = (customerId: string, count: number, from: number) =>
  Effect.gen(function*() {
    const events = Array.from({ length: count }, (_, index) => ({
      customerId,
      type: index % 10 === 0 ? "purchase" : "page_view",
      occurredAt: new Date(from - index * 60_000).toISOString(),
      sessionId: `session-${Math.floor(index / 20)}`,
      properties: { path: `/page/${index}` },
      device: { type: "mobile", os: "iOS" },
      ...(index % 10 === 0 ? { revenue: 12.5, currency: "EUR" } : {})
    }))
    const response = yield* call("POST", "/api/v1/events/batch", { body: { events }, role: "service" })
    assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.text()))
  })

const membership = (segmentId: string, action: "add" | "remove", customerId: string) =>
  Effect.gen(function*() {
    const response = yield* call("POST", bulkSegmentsPath, { body: { segmentId, action, customerIds: [customerId] } })
    assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.text()))
  })

layer(testServiceWithDatabase(), { excludeTestServices: true })("customer data export", (it) => {
  it.effect("holds the profile, analytics, every segment stay, the audit trail and every event", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer({
        name: "Exported Person",
        age: 41,
        gender: "FEMALE",
        tags: ["export"],
        metadata: { plan: "gold" },
        preferences: { language: "nl" },
        location: { country: "NL", city: "Utrecht" }
      }))
      yield* track(customer.id, 30, Date.now() - 3_600_000)
      // Analytics come from rollups the fold updates after the commit.
      yield* eventually(
        "the events to be folded",
        call("GET", `${customersPath}/${customer.id}/analytics`).pipe(Effect.flatMap(json<{ readonly events: { readonly total: number } }>)),
        (analytics) => analytics.events.total === 30
      )
      const left = yield* createSegment(manualSegment())
      const current = yield* createSegment(manualSegment())
      yield* membership(left.id, "add", customer.id)
      yield* membership(left.id, "remove", customer.id)
      yield* membership(current.id, "add", customer.id)

      const exported = yield* exportOf(customer.id)
      assert.strictEqual(exported.format, "cms-customer-export/v1")
      const stored = yield* call("GET", `${customersPath}/${customer.id}`).pipe(Effect.flatMap((response) => Effect.promise(() => response.json())))
      assert.deepStrictEqual(JSON.parse(JSON.stringify(exported.customer)), stored)
      assert.strictEqual(exported.analytics?.events.total, 30)
      assert.deepStrictEqual(
        exported.segments.map((stay) => [stay.segmentId, stay.name, stay.leftAt === null]),
        [[left.id, left.name, false], [current.id, current.name, true]]
      )
      assert.includeMembers(exported.audit.map((entry) => entry.action), ["customer.create", "customer.export"])
      assert.lengthOf(exported.events, 30)
      assert.deepStrictEqual(exported.events[0].properties, { path: "/page/0" })
    }))

  it.effect("streams every event of a customer with more than a page of them, newest first", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      yield* track(customer.id, 1_000, Date.now() - 60_000)
      yield* track(customer.id, 200, Date.now() - 90 * 86_400_000)
      const exported = yield* exportOf(customer.id, "agent")
      assert.lengthOf(exported.events, 1_200)
      assert.strictEqual(new Set(exported.events.map((event) => event.id)).size, 1_200)
      const times = exported.events.map((event) => Date.parse(event.occurredAt))
      assert.deepStrictEqual(times, [...times].sort((a, b) => b - a))
    }))

  it.effect("an unknown or erased customer has no export", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const erased = yield* call("DELETE", `${customersPath}/${customer.id}`)
      assert.strictEqual(erased.status, 204)
      yield* expectProblem(yield* call("GET", `${customersPath}/${customer.id}/data`), 404, "/problems/customer-not-found")
      yield* expectProblem(
        yield* call("GET", `${customersPath}/${crypto.randomUUID()}/data`),
        404,
        "/problems/customer-not-found"
      )
    }))

  it.effect("analysts and services may not export a person's data", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      for (const role of ["analyst", "service"] as const) {
        yield* expectProblem(yield* call("GET", `${customersPath}/${customer.id}/data`, { role }), 403, "/problems/forbidden")
      }
    }))
})
