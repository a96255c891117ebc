/**
 * The `npm start` default: no DATABASE_URL, so the service starts an embedded
 * PGlite (in memory here), migrates it, and serves the API on it.
 */
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect } from "effect"
import { readdirSync } from "node:fs"
import type { Readiness } from "../../src/api/SystemApi.ts"
import type { Customer } from "../../src/domain/Customer.ts"
import type { CustomerPage } from "../../src/domain/CustomerQuery.ts"
import { newCustomer, unique } from "../support/Customers.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer } from "../support/Http.ts"
import { createSegment, dynamicSegment } from "../support/SegmentsApi.ts"
import { json, testService } from "../support/TestService.ts"

// Live clock, and room for PGlite to start (a few seconds).
layer(testService({ embedded: true }), { excludeTestServices: true, timeout: "60 seconds" })(
  "embedded PGlite (no DATABASE_URL)",
  (it) => {
    it.effect("the service runs on PGlite and reports the database up and NATS disabled", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const [{ version }] = yield* sql<{ readonly version: string }>`SELECT version() AS version`
        assert.match(version, /emscripten|wasm/i, version)
        const ready = yield* call("GET", "/ready").pipe(Effect.flatMap(json<Readiness>))
        assert.strictEqual(ready.checks.database.status, "up")
        assert.strictEqual(ready.checks.nats.status, "disabled")
        assert.strictEqual(ready.status, "degraded")
      }))

    it.effect("concurrent statements and transactions on several connections each get their own answer", () =>
      Effect.gen(function*() {
        // One PGlite backend serves every connection: two extended queries interleaved would bind one
        // another's statements, e.g. one slipped in between a COMMIT and its Sync. Shapes differ, so a
        // crossed answer cannot pass for the right one.
        const sql = yield* PgClient.PgClient
        const answers = yield* Effect.forEach(
          Array.from({ length: 400 }, (_, index) => index),
          (index) =>
            index % 2 === 0
              ? sql.withTransaction(sql<{ readonly n: number }>`SELECT ${index}::int AS n`).pipe(
                Effect.map(([row]) => row.n)
              )
              : sql<{ readonly s: string }>`SELECT ${`text-${index}`}::text AS s, now() AS at`.pipe(
                Effect.map(([row]) => Number(row.s.slice("text-".length)))
              ),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(answers, Array.from({ length: 400 }, (_, index) => index))
      }))

    it.effect("every migration file is applied at start-up", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const applied = yield* sql<{ readonly migration_id: number }>`
          SELECT migration_id FROM effect_sql_migrations ORDER BY migration_id`
        const files = readdirSync(new URL("../../migrations/", import.meta.url)).filter((file) => file.endsWith(".sql"))
        const numbered = files.map((file) => Number(file.slice(0, file.indexOf("_")))).sort((a, b) => a - b)
        assert.deepStrictEqual(applied.map((row) => row.migration_id), numbered)
        const tables = yield* sql<{ readonly name: string }>`
          SELECT table_name AS name FROM information_schema.tables
          WHERE table_schema = 'public' AND table_name IN ('customers', 'outbox', 'audit_log') ORDER BY 1`
        assert.deepStrictEqual(tables.map((row) => row.name), ["audit_log", "customers", "outbox"])
      }))

    it.effect("a customer created over HTTP is served by GET", () =>
      Effect.gen(function*() {
        const created = yield* createCustomer(newCustomer({ name: "Ada Embedded", age: 36 }))
        assert.strictEqual(created.version, 1)
        const response = yield* call("GET", `/api/v1/customers/${created.id}`)
        assert.strictEqual(response.status, 200)
        assert.strictEqual(response.headers.get("etag"), `"v1"`)
        assert.deepStrictEqual(yield* json<Customer>(response), created)
      }))

    it.effect("the list endpoint filters by tag, age and text search", () =>
      Effect.gen(function*() {
        const tag = `pglite-${unique()}`
        const match = yield* createCustomer(newCustomer({ name: "Grace Hopper", tags: [tag], age: 45 }))
        yield* createCustomer(newCustomer({ name: "Grace Young", tags: [tag], age: 19 }))
        yield* createCustomer(newCustomer({ name: "Alan Turing", tags: [tag], age: 41 }))
        const response = yield* call("GET", `/api/v1/customers?tag=${tag}&minAge=30&q=grace`)
        assert.strictEqual(response.status, 200)
        const page = yield* json<CustomerPage>(response)
        assert.deepStrictEqual(page.data.map((customer) => customer.id), [match.id])
        assert.strictEqual(page.total, 1)
      }))

    it.effect("PATCH with If-Match updates the customer and a stale If-Match is refused", () =>
      Effect.gen(function*() {
        const created = yield* createCustomer()
        const patched = yield* call("PATCH", `/api/v1/customers/${created.id}`, {
          body: { name: "Renamed Embedded" },
          headers: { "if-match": `"v1"` }
        })
        assert.strictEqual(patched.status, 200)
        const updated = yield* json<Customer>(patched)
        assert.strictEqual(updated.name, "Renamed Embedded")
        assert.strictEqual(updated.version, 2)
        const stale = yield* call("PATCH", `/api/v1/customers/${created.id}`, {
          body: { name: "Lost Update" },
          headers: { "if-match": `"v1"` }
        })
        assert.strictEqual(stale.status, 412)
        const current = yield* call("GET", `/api/v1/customers/${created.id}`).pipe(Effect.flatMap(json<Customer>))
        assert.strictEqual(current.name, "Renamed Embedded")
      }))

    it.effect("a dynamic segment is calculated and a customer created to match joins it in real time", () =>
      Effect.gen(function*() {
        // The background workers (calculations, real-time rounds, folds) share the one backend with requests.
        const tag = `embedded-segment-${unique()}`
        const segment = yield* createSegment(dynamicSegment({ criteria: { kind: "tags", match: "any", tags: [tag] } }))
        const customer = yield* createCustomer(newCustomer({ tags: [tag] }))
        const memberships = call("GET", `/api/v1/customers/${customer.id}/segments`).pipe(
          Effect.flatMap(json<{ readonly data: ReadonlyArray<{ readonly id: string }> }>),
          Effect.map((page) => page.data.map((entry) => entry.id))
        )
        yield* eventually("the customer to join the segment", memberships, (ids) => ids.includes(segment.id))
      }))
  }
)
