/**
 * The typed REST client other services use (src/client): the endpoints of the
 * OpenAPI document as functions, declared response headers beside the body,
 * errors decoded into the domain's classes.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import {
  type ClientOptions,
  CustomerApiClient,
  CustomerId,
  CustomerNotFound,
  Forbidden,
  Unauthenticated,
  VersionConflict
} from "../../src/client/index.ts"
import type { Role } from "../../src/domain/Access.ts"
import { issueKey } from "../support/ApiKeys.ts"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { json, TestService } from "../support/TestService.ts"

type Client = CustomerApiClient["Service"]

/** Runs `use` with a REST client authenticated as `role` (or with the given credentials and headers). */
const withClient = <A, E>(
  use: (client: Client) => Effect.Effect<A, E>,
  as: Role | Omit<ClientOptions, "baseUrl"> = "admin"
) =>
  Effect.gen(function*() {
    const { baseUrl, token } = yield* TestService
    const options = typeof as === "string" ? { credentials: { bearer: yield* token(as) } } : as
    return yield* Effect.gen(function*() {
      return yield* use(yield* CustomerApiClient)
    }).pipe(Effect.provide(CustomerApiClient.layer({ baseUrl, ...options })))
  })

const create = (client: Client) => client.customers.create({ payload: newCustomer(), headers: {} })

// Live clock: the whole service runs underneath.
layer(testServiceWithDatabase(), { excludeTestServices: true })("typed REST client", (it) => {
  it.effect("create answers the new customer with its ETag and Location headers", () =>
    Effect.gen(function*() {
      const input = newCustomer({ name: "Ada Rest", tags: ["rest-client"] })
      const { body, headers } = yield* withClient((client) => client.customers.create({ payload: input, headers: {} }))
      assert.strictEqual(body.email, input.email)
      assert.strictEqual(body.name, "Ada Rest")
      assert.strictEqual(body.version, 1)
      assert.strictEqual(headers.etag, "\"v1\"")
      assert.strictEqual(headers.location, `${customersPath}/${body.id}`)
      assert.isUndefined(headers["idempotent-replayed"])
    }))

  it.effect("get answers the representation REST serves and the ETag of its version", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const created = yield* withClient(create)
      const { body, headers } = yield* withClient((client) => client.customers.get({ params: { id: created.body.id } }))
      assert.strictEqual(headers.etag, "\"v1\"")
      const response = yield* request(`${customersPath}/${created.body.id}`)
      assert.deepStrictEqual(body, created.body)
      assert.deepStrictEqual(yield* json<typeof body>(response), body)
    }))

  it.effect("create repeated with the same Idempotency-Key answers the first customer, marked Idempotent-Replayed", () =>
    Effect.gen(function*() {
      const payload = newCustomer()
      const headers = { "idempotency-key": `rest-client-${crypto.randomUUID()}` }
      const [first, second] = yield* withClient((client) =>
        Effect.all([client.customers.create({ payload, headers }), client.customers.create({ payload, headers })])
      )
      assert.strictEqual(second.body.id, first.body.id)
      assert.isUndefined(first.headers["idempotent-replayed"])
      assert.strictEqual(second.headers["idempotent-replayed"], "true")
    }))

  it.effect("patch with the ETag from get as If-Match applies the change and answers the next ETag", () =>
    Effect.gen(function*() {
      const created = yield* withClient(create)
      const { body, headers } = yield* withClient((client) =>
        client.customers.patch({
          params: { id: created.body.id },
          headers: { "if-match": created.headers.etag },
          payload: { name: "Renamed Rest" }
        })
      )
      assert.strictEqual(body.name, "Renamed Rest")
      assert.strictEqual(body.version, 2)
      assert.strictEqual(headers.etag, "\"v2\"")
      const fetched = yield* withClient((client) => client.customers.get({ params: { id: created.body.id } }))
      assert.strictEqual(fetched.body.name, "Renamed Rest")
    }))

  it.effect("patch with a stale If-Match fails with a VersionConflict catchable by its tag, and changes nothing", () =>
    Effect.gen(function*() {
      const created = yield* withClient(create)
      const id = created.body.id
      yield* withClient((client) => client.customers.patch({ params: { id }, headers: {}, payload: { name: "First Writer" } }))
      const conflict = yield* withClient((client) =>
        client.customers.patch({ params: { id }, headers: { "if-match": created.headers.etag }, payload: { name: "Second Writer" } })
      ).pipe(
        Effect.map(() => undefined),
        Effect.catchTag("VersionConflict", (error) => Effect.succeed(error))
      )
      assert.instanceOf(conflict, VersionConflict)
      const current = yield* withClient((client) => client.customers.get({ params: { id } }))
      assert.strictEqual(current.body.name, "First Writer")
    }))

  it.effect("get of an unknown id fails with CustomerNotFound naming the id", () =>
    Effect.gen(function*() {
      const id = CustomerId.make(crypto.randomUUID())
      const error = yield* withClient((client) => client.customers.get({ params: { id } })).pipe(Effect.flip)
      assert.instanceOf(error, CustomerNotFound)
      assert.strictEqual((error as CustomerNotFound).customerId, id)
    }))

  it.effect("create as an analyst fails with Forbidden naming the permission", () =>
    Effect.gen(function*() {
      const error = yield* withClient(create, "analyst").pipe(Effect.flip)
      assert.instanceOf(error, Forbidden)
      assert.strictEqual((error as Forbidden).permission, "customers:write")
    }))

  it.effect("a call with an invalid bearer token fails with Unauthenticated", () =>
    Effect.gen(function*() {
      const error = yield* withClient((client) => client.customers.list({ query: {} }), {
        credentials: { bearer: "not-a-valid-token" }
      }).pipe(Effect.flip)
      assert.instanceOf(error, Unauthenticated)
    }))

  it.effect("an API key is sent as X-API-Key and acts with its role", () =>
    Effect.gen(function*() {
      const { key } = yield* issueKey("service")
      const created = yield* withClient(create, { credentials: { apiKey: key } })
      assert.strictEqual(created.body.version, 1)
      const error = yield* withClient(
        (client) => client.customers.delete({ params: { id: created.body.id }, headers: {} }),
        { credentials: { apiKey: key } }
      ).pipe(Effect.flip)
      assert.instanceOf(error, Forbidden)
      assert.strictEqual((error as Forbidden).permission, "customers:delete")
    }))

  it.effect("the headers option reaches the service: the audit entry carries the caller's X-Request-Id", () =>
    Effect.gen(function*() {
      const { token } = yield* TestService
      const created = yield* withClient(create, {
        credentials: { bearer: yield* token("admin") },
        headers: { "x-request-id": "rest-correlation-1" }
      })
      const sql = yield* PgClient.PgClient
      const rows = yield* sql<{ readonly request_id: string | null }>`
        SELECT request_id FROM audit_log WHERE customer_id = ${created.body.id}`.pipe(Effect.orDie)
      assert.deepStrictEqual(rows.map((row) => row.request_id), ["rest-correlation-1"])
    }))
})
