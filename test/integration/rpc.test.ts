/**
 * The typed RPC client other services use (src/client): the same operations
 * as REST, errors decoded into the domain's classes.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import {
  type Customer,
  CustomerId,
  CustomerNotFound,
  CustomerRpcClient,
  EmailAlreadyExists,
  Forbidden,
  Unauthenticated,
  VersionConflict
} from "../../src/client/index.ts"
import type { Role } from "../../src/domain/Access.ts"
import { customersPath, newCustomer, unique } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { json, TestService } from "../support/TestService.ts"

type Client = CustomerRpcClient["Service"]

/** Runs `use` with a typed client authenticated as `role` (or with the given raw bearer token). */
const withClient = <A, E>(use: (client: Client) => Effect.Effect<A, E>, as: Role | { readonly bearer: string } = "admin") =>
  Effect.gen(function*() {
    const { baseUrl, token } = yield* TestService
    const bearer = typeof as === "string" ? yield* token(as) : as.bearer
    return yield* Effect.gen(function*() {
      return yield* use(yield* CustomerRpcClient)
    }).pipe(Effect.provide(CustomerRpcClient.layer({ baseUrl, credentials: { bearer } })))
  })

const restGet = (id: string) =>
  Effect.flatMap(TestService, ({ request }) => request(`${customersPath}/${id}`))

// Live clock: the whole service runs underneath.
layer(testServiceWithDatabase(), { excludeTestServices: true })("typed RPC client", (it) => {
  it.effect("CreateCustomer stores the customer and REST serves the same representation", () =>
    Effect.gen(function*() {
      const input = newCustomer({ name: "Ada Rpc", age: 36, tags: ["rpc"] })
      const created = yield* withClient((client) => client.CreateCustomer({ input }))
      assert.strictEqual(created.email, input.email)
      assert.strictEqual(created.name, "Ada Rpc")
      assert.strictEqual(created.version, 1)
      const response = yield* restGet(created.id)
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(yield* json<Customer>(response), created)
    }))

  it.effect("GetCustomer returns a customer created through REST", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const input = newCustomer({ name: "Rest Born" })
      const response = yield* request("/api/v1/customers", { method: "POST", body: JSON.stringify(input) })
      assert.strictEqual(response.status, 201)
      const restCustomer = yield* json<Customer>(response)
      const fetched = yield* withClient((client) => client.GetCustomer({ id: CustomerId.make(restCustomer.id) }))
      assert.deepStrictEqual(fetched, restCustomer)
    }))

  it.effect("CreateCustomer with a repeated idempotencyKey returns the first customer instead of a second", () =>
    Effect.gen(function*() {
      const tag = `idem-${unique()}`
      const input = newCustomer({ tags: [tag] })
      const idempotencyKey = `key-${unique()}`
      const [first, second] = yield* withClient((client) =>
        Effect.all([
          client.CreateCustomer({ input, idempotencyKey }),
          client.CreateCustomer({ input, idempotencyKey })
        ])
      )
      assert.strictEqual(second.id, first.id)
      assert.strictEqual(second.version, 1)
      const page = yield* withClient((client) => client.ListCustomers({ tag }))
      assert.deepStrictEqual(page.data.map((customer) => customer.id), [first.id])
    }))

  it.effect("CreateCustomer without an idempotencyKey creates a new customer each time", () =>
    Effect.gen(function*() {
      const [first, second] = yield* withClient((client) =>
        Effect.all([
          client.CreateCustomer({ input: newCustomer() }),
          client.CreateCustomer({ input: newCustomer() })
        ])
      )
      assert.notStrictEqual(first.id, second.id)
    }))

  it.effect("ListCustomers applies status, tag, country, age and text filters", () =>
    Effect.gen(function*() {
      const tag = `list-${unique()}`
      const [match, , , , inactive] = yield* withClient((client) =>
        Effect.forEach([
          newCustomer({ name: "Grace Match", tags: [tag], age: 40, location: { country: "DE" } }),
          newCustomer({ name: "Grace Too Young", tags: [tag], age: 20, location: { country: "DE" } }),
          newCustomer({ name: "Grace Elsewhere", tags: [tag], age: 40, location: { country: "FR" } }),
          newCustomer({ name: "Other Name", tags: [tag], age: 40, location: { country: "DE" } }),
          newCustomer({ name: "Grace Inactive", tags: [tag], age: 40, location: { country: "DE" }, status: "INACTIVE" })
        ], (input) => client.CreateCustomer({ input }))
      )
      const ids = (query: Parameters<Client["ListCustomers"]>[0]) =>
        withClient((client) => client.ListCustomers(query)).pipe(
          Effect.map((page) => page.data.map((customer) => customer.id))
        )
      assert.deepStrictEqual(
        yield* ids({ tag, status: "ACTIVE", country: "DE", minAge: 30, maxAge: 50, q: "grace" }),
        [match.id]
      )
      assert.deepStrictEqual(yield* ids({ tag, status: "INACTIVE" }), [inactive.id])
      const all = yield* withClient((client) => client.ListCustomers({ tag }))
      assert.strictEqual(all.total, 5)
      assert.isFalse(all.totalIsEstimate)
    }))

  it.effect("UpdateCustomer with the current expectedVersion applies the patch and bumps the version", () =>
    Effect.gen(function*() {
      const created = yield* withClient((client) => client.CreateCustomer({ input: newCustomer() }))
      const updated = yield* withClient((client) =>
        client.UpdateCustomer({ id: created.id, patch: { name: "Renamed Rpc" }, expectedVersion: created.version })
      )
      assert.strictEqual(updated.name, "Renamed Rpc")
      assert.strictEqual(updated.version, created.version + 1)
      const response = yield* restGet(created.id)
      assert.strictEqual((yield* json<Customer>(response)).name, "Renamed Rpc")
    }))

  it.effect("UpdateCustomer with a stale expectedVersion fails with a VersionConflict catchable by its tag", () =>
    Effect.gen(function*() {
      const created = yield* withClient((client) => client.CreateCustomer({ input: newCustomer() }))
      yield* withClient((client) => client.UpdateCustomer({ id: created.id, patch: { name: "First Writer" } }))
      const conflict = yield* withClient((client) =>
        client.UpdateCustomer({ id: created.id, patch: { name: "Second Writer" }, expectedVersion: created.version })
      ).pipe(
        Effect.map(() => undefined),
        Effect.catchTag("VersionConflict", (error) => Effect.succeed(error))
      )
      assert.instanceOf(conflict, VersionConflict)
      assert.strictEqual(conflict!.expectedVersion, 1)
      assert.strictEqual(conflict!.currentVersion, 2)
      const current = yield* withClient((client) => client.GetCustomer({ id: created.id }))
      assert.strictEqual(current.name, "First Writer")
    }))

  it.effect("DeleteCustomer removes the customer for RPC and REST readers", () =>
    Effect.gen(function*() {
      const created = yield* withClient((client) => client.CreateCustomer({ input: newCustomer() }))
      yield* withClient((client) => client.DeleteCustomer({ id: created.id, expectedVersion: created.version }))
      const error = yield* withClient((client) => client.GetCustomer({ id: created.id })).pipe(Effect.flip)
      assert.instanceOf(error, CustomerNotFound)
      assert.strictEqual((yield* restGet(created.id)).status, 404)
    }))

  it.effect("GetCustomer of an unknown id fails with CustomerNotFound", () =>
    Effect.gen(function*() {
      const id = CustomerId.make(crypto.randomUUID())
      const error = yield* withClient((client) => client.GetCustomer({ id })).pipe(Effect.flip)
      assert.instanceOf(error, CustomerNotFound)
      assert.strictEqual((error as CustomerNotFound).customerId, id)
    }))

  it.effect("CreateCustomer with an email already in use fails with EmailAlreadyExists", () =>
    Effect.gen(function*() {
      const input = newCustomer()
      yield* withClient((client) => client.CreateCustomer({ input }))
      const error = yield* withClient((client) =>
        client.CreateCustomer({ input: { ...input, email: input.email.toUpperCase() } })
      ).pipe(Effect.flip)
      assert.instanceOf(error, EmailAlreadyExists)
    }))

  it.effect("CreateCustomer as an analyst fails with Forbidden", () =>
    Effect.gen(function*() {
      const error = yield* withClient((client) => client.CreateCustomer({ input: newCustomer() }), "analyst").pipe(
        Effect.flip
      )
      assert.instanceOf(error, Forbidden)
      assert.strictEqual((error as Forbidden).permission, "customers:write")
    }))

  it.effect("a call with an invalid bearer token fails with Unauthenticated", () =>
    Effect.gen(function*() {
      const error = yield* withClient((client) => client.ListCustomers({}), { bearer: "not-a-valid-token" }).pipe(
        Effect.flip
      )
      assert.instanceOf(error, Unauthenticated)
    }))

  it.effect("a command's audit entry carries the caller's X-Request-Id", () =>
    Effect.gen(function*() {
      const { baseUrl, token } = yield* TestService
      const created = yield* Effect.flatMap(CustomerRpcClient, (client) => client.CreateCustomer({ input: newCustomer() })).pipe(
        Effect.provide(CustomerRpcClient.layer({
          baseUrl,
          credentials: { bearer: yield* token("admin") },
          headers: { "x-request-id": "rpc-correlation-1" }
        }))
      )
      const sql = yield* PgClient.PgClient
      const rows = yield* sql<{ readonly request_id: string | null }>`
        SELECT request_id FROM audit_log WHERE customer_id = ${created.id}`.pipe(Effect.orDie)
      assert.deepStrictEqual(rows.map((row) => row.request_id), ["rpc-correlation-1"])
    }))
})
