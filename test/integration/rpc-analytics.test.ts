/**
 * A customer's analytics and insights, and the tracking plan, over RPC with
 * the typed client: the same answers and errors as REST.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit } from "effect"
import {
  CustomerId,
  CustomerNotFound,
  EventTypeNotRegistered,
  Forbidden,
  InvalidPropertiesSchema
} from "../../src/client/index.ts"
import type { Role } from "../../src/domain/Access.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { type RpcClient, withRpcClient } from "../support/Rpc.ts"
import { call, createCustomer } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

const withClient = <A, E>(use: (client: RpcClient) => Effect.Effect<A, E>, role: Role = "admin") =>
  withRpcClient(use, role)

const failureOf = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) ? exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined

layer(testServiceWithDatabase(), { excludeTestServices: true })("analytics and the tracking plan over RPC", (it) => {
  it.effect("GetCustomerAnalytics and GetCustomerInsights answer what REST answers", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const id = CustomerId.make(customer.id)
      const [analytics, insights] = yield* withClient((client) =>
        Effect.all([client.GetCustomerAnalytics({ id }), client.GetCustomerInsights({ id })]), "analyst")
      const rest = yield* json<{ readonly customerId: string; readonly events: unknown }>(
        yield* call("GET", `/api/v1/customers/${id}/analytics`)
      )
      assert.strictEqual(analytics.customerId, id)
      assert.deepStrictEqual(analytics.events, rest.events)
      assert.strictEqual(insights.customerId, id)
    }))

  it.effect("an unknown customer's analytics fail with CustomerNotFound", () =>
    Effect.gen(function*() {
      const exit = yield* withClient((client) =>
        Effect.exit(client.GetCustomerAnalytics({ id: CustomerId.make(crypto.randomUUID()) }))
      )
      assert.instanceOf(failureOf(exit), CustomerNotFound)
    }))

  it.effect("RegisterEventType, GetEventType, ListEventTypes and RemoveEventType manage the plan", () =>
    Effect.gen(function*() {
      const type = `rpc_${crypto.randomUUID().slice(0, 8)}`
      const registered = yield* withClient((client) =>
        client.RegisterEventType({ type, registration: { propertiesSchema: { type: "object" }, mode: "flag" } })
      )
      assert.deepInclude(registered, { type, mode: "flag", version: 1 })
      const [read, plan] = yield* withClient((client) =>
        Effect.all([client.GetEventType({ type }), client.ListEventTypes()]), "service")
      assert.deepStrictEqual(read, registered)
      assert.include(plan.types.map((entry) => entry.type), type)
      yield* withClient((client) => client.RemoveEventType({ type }))
      const gone = yield* withClient((client) => Effect.exit(client.GetEventType({ type })))
      assert.instanceOf(failureOf(gone), EventTypeNotRegistered)
    }))

  it.effect("an unusable schema fails with InvalidPropertiesSchema; a service may not change the plan", () =>
    Effect.gen(function*() {
      const invalid = yield* withClient((client) =>
        Effect.exit(client.RegisterEventType({
          type: "rpc_invalid",
          registration: { propertiesSchema: { type: "objekt" }, mode: "refuse" }
        }))
      )
      assert.instanceOf(failureOf(invalid), InvalidPropertiesSchema)
      const forbidden = yield* withClient((client) =>
        Effect.exit(client.RegisterEventType({
          type: "rpc_forbidden",
          registration: { propertiesSchema: { type: "object" }, mode: "refuse" }
        })), "service")
      assert.instanceOf(failureOf(forbidden), Forbidden)
    }))
})
