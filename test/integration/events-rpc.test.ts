/**
 * Tracking and reading events over RPC with the typed client: the same
 * operations, schemas and errors as REST, and the door's per-request bound on
 * events.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit } from "effect"
import {
  CustomerId,
  CustomerNotFound,
  Forbidden,
  OccurredInFuture
} from "../../src/client/index.ts"
import type { Role } from "../../src/domain/Access.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { type RpcClient, withRpcClient } from "../support/Rpc.ts"
import { createCustomer, expectProblem } from "../support/Http.ts"
import { TestService } from "../support/TestService.ts"

const withClient = <A, E>(use: (client: RpcClient) => Effect.Effect<A, E>, role: Role = "service") =>
  withRpcClient(use, role)

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => Exit.isFailure(exit) ? exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined

layer(testServiceWithDatabase(), { excludeTestServices: true })("events over RPC", (it) => {
  it.effect("TrackEvent stores the event and the timeline serves it", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const id = CustomerId.make(customer.id)
      const result = yield* withClient((client) =>
        client.TrackEvent({ id, event: { type: "purchase", occurredAt: "2026-04-01T12:00:00Z", revenue: 5, currency: "USD" } })
      )
      assert.strictEqual(result.status, "stored")
      const page = yield* withClient((client) => client.ListCustomerEvents({ id }), "analyst")
      assert.deepStrictEqual(page.data.map((event) => [event.id, event.revenue]), [[result.id, 5]])
    }))

  it.effect("TrackEvent fails with the REST errors: unknown customer, a time ahead", () =>
    Effect.gen(function*() {
      const unknown = yield* withClient((client) =>
        Effect.exit(client.TrackEvent({ id: CustomerId.make(crypto.randomUUID()), event: { type: "page_view" } }))
      )
      assert.instanceOf(failureOf(unknown), CustomerNotFound)
      const customer = yield* createCustomer()
      const ahead = yield* withClient((client) =>
        Effect.exit(client.TrackEvent({
          id: CustomerId.make(customer.id),
          event: { type: "page_view", occurredAt: new Date(Date.now() + 3_600_000).toISOString() }
        }))
      )
      assert.instanceOf(failureOf(ahead), OccurredInFuture)
    }))

  it.effect("TrackEvents answers per event, as the batch endpoint does", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const customerId = CustomerId.make(customer.id)
      const batch = yield* withClient((client) =>
        client.TrackEvents({
          events: [
            { customerId, type: "page_view" },
            { customerId: CustomerId.make(crypto.randomUUID()), type: "page_view" }
          ]
        })
      )
      assert.deepInclude(batch, { stored: 1, duplicates: 0, rejected: 1 })
      assert.deepStrictEqual(batch.results.map((result) => result.status), ["stored", "rejected"])
    }))

  it.effect("an analyst may read a timeline but not track: Forbidden", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const exit = yield* withClient(
        (client) => Effect.exit(client.TrackEvent({ id: CustomerId.make(customer.id), event: { type: "page_view" } })),
        "analyst"
      )
      assert.instanceOf(failureOf(exit), Forbidden)
    }))

  it.effect("one request tracking more than 1,000 events in all is refused whole, nothing stored", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const customer = yield* createCustomer()
      const events = Array.from({ length: 600 }, () => ({ customerId: customer.id, type: "page_view" }))
      const calls = [1, 2].map((id) => ({ _tag: "Request", id, tag: "TrackEvents", payload: { events }, headers: [] }))
      yield* expectProblem(
        yield* request("/api/v1/rpc", { method: "POST", body: JSON.stringify(calls) }),
        400,
        "/problems/invalid-request"
      )
      const page = yield* withClient((client) => client.ListCustomerEvents({ id: CustomerId.make(customer.id) }))
      assert.lengthOf(page.data, 0)
    }))
})
