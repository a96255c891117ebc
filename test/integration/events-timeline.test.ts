/**
 * A customer's timeline (GET /api/v1/customers/:id/events): newest first,
 * keyset-paged without repeats or gaps, filtered by type and time.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { TimelinePage } from "../../src/domain/Event.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

const timeline = (customerId: string, query = "", role: "admin" | "analyst" = "admin") =>
  call("GET", `${customersPath}/${customerId}/events${query === "" ? "" : `?${query}`}`, { role })

const page = (customerId: string, query = "") =>
  Effect.gen(function*() {
    const response = yield* timeline(customerId, query)
    assert.strictEqual(response.status, 200)
    return yield* json<TimelinePage>(response)
  })

const idsOf = (page: TimelinePage): Array<string> => page.data.map((event) => event.id)

/** A customer with `count` events an hour apart from 2026-01-01, types alternating page_view / purchase. */
const customerWithEvents = (count: number) =>
  Effect.gen(function*() {
    const customer = yield* createCustomer()
    const events = Array.from({ length: count }, (_, n) => ({
      customerId: customer.id,
      id: crypto.randomUUID(),
      type: n % 2 === 0 ? "page_view" : "purchase",
      occurredAt: new Date(Date.UTC(2026, 0, 1) + n * 3_600_000).toISOString()
    }))
    const response = yield* call("POST", "/api/v1/events/batch", { body: { events } })
    assert.strictEqual(response.status, 200)
    return { customer, events }
  })

layer(testServiceWithDatabase(), { excludeTestServices: true })("GET /api/v1/customers/:id/events", (it) => {
  it.effect("serves the events newest first, with what was tracked", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const id = crypto.randomUUID()
      yield* call("POST", `${customersPath}/${customer.id}/track`, {
        body: { id, type: "purchase", occurredAt: "2026-03-01T10:00:00.123456Z", revenue: 9.5, currency: "EUR", channel: "web" }
      })
      yield* call("POST", `${customersPath}/${customer.id}/track`, { body: { type: "page_view", occurredAt: "2026-02-01T00:00:00Z" } })
      const { data, nextCursor } = yield* page(customer.id)
      assert.deepStrictEqual(data.map((event) => event.type), ["purchase", "page_view"])
      assert.deepInclude(data[0], {
        id: id as TimelinePage["data"][number]["id"],
        customerId: customer.id,
        occurredAt: "2026-03-01T10:00:00.123Z",
        revenue: 9.5,
        currency: "EUR" as TimelinePage["data"][number]["currency"],
        channel: "web",
        properties: {}
      })
      assert.isNull(nextCursor)
    }))

  it.effect("pages through every event once, in order, by following nextCursor", () =>
    Effect.gen(function*() {
      const { customer, events } = yield* customerWithEvents(25)
      const seen: Array<string> = []
      let cursor: string | null = null
      do {
        const next: TimelinePage = yield* page(customer.id, `limit=7${cursor === null ? "" : `&cursor=${cursor}`}`)
        assert.isAtMost(next.data.length, 7)
        seen.push(...idsOf(next))
        cursor = next.nextCursor
      } while (cursor !== null)
      assert.deepStrictEqual(seen, events.map((event) => event.id).reverse())
    }))

  it.effect("filters by type and by time, from inclusive and to exclusive", () =>
    Effect.gen(function*() {
      const { customer, events } = yield* customerWithEvents(10)
      const purchases = yield* page(customer.id, "types=purchase")
      assert.deepStrictEqual(idsOf(purchases), events.filter((_, n) => n % 2 === 1).map((e) => e.id).reverse())
      const window = yield* page(customer.id, `from=${events[2].occurredAt}&to=${events[5].occurredAt}`)
      assert.deepStrictEqual(idsOf(window), [events[4].id, events[3].id, events[2].id])
      const both = yield* page(customer.id, `types=page_view,sign_in&from=${events[2].occurredAt}&to=${events[5].occurredAt}`)
      assert.deepStrictEqual(idsOf(both), [events[4].id, events[2].id])
    }))

  it.effect("every role may read a timeline", () =>
    Effect.gen(function*() {
      const { customer } = yield* customerWithEvents(1)
      assert.strictEqual((yield* timeline(customer.id, "", "analyst")).status, 200)
    }))

  it.effect("an unknown customer is a 404", () =>
    Effect.gen(function*() {
      yield* expectProblem(yield* timeline(crypto.randomUUID()), 404, "/problems/customer-not-found")
    }))

  it.effect("a cursor that is not one of ours is a 400 naming cursor", () =>
    Effect.gen(function*() {
      const { customer } = yield* customerWithEvents(1)
      yield* expectProblem(yield* timeline(customer.id, "cursor=bm90LWEtY3Vyc29y"), 400, "/problems/invalid-cursor")
    }))

  it.effect("a limit over 500, an unknown type or a bad time is a 400 naming the parameter", () =>
    Effect.gen(function*() {
      const { customer } = yield* customerWithEvents(1)
      const problem = yield* expectProblem(
        yield* timeline(customer.id, "limit=501&types=Page%20View&from=yesterday"),
        400,
        "/problems/invalid-request"
      )
      assert.includeMembers(invalidPaths(problem), ["query.limit", "query.from"])
      assert.isTrue(invalidPaths(problem).some((path) => path.startsWith("query.types")))
    }))
})
