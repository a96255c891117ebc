import { PgClient } from "@effect/sql-pg"
import { assert, describe, it as plain, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import { randomBytes } from "node:crypto"
import type { Customer } from "../../src/domain/Customer.ts"
import { developmentSecret } from "../../src/platform/Authenticator.ts"
import {
  apiKey,
  apiKeysPath,
  bearer,
  callWith,
  expectForbidden,
  expectUnauthenticated,
  issueKey
} from "../support/ApiKeys.ts"
import { newCustomer } from "../support/Customers.ts"
import { testServiceWithDatabase, writeCounts } from "../support/Database.ts"
import { call, createCustomer, getCustomer } from "../support/Http.ts"
import { signToken, unsignedToken } from "../support/Jwt.ts"
import { json, testService } from "../support/TestService.ts"

const someUuid = "0190a6f0-0000-7000-8000-000000000000"

layer(testServiceWithDatabase(), { excludeTestServices: true })("authentication and authorisation", (it) => {
  // --- No credentials --------------------------------------------------------------------------

  it.effect("every /api route answers 401 unauthenticated as problem+json without credentials", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const id = customer.id
      const routes: ReadonlyArray<readonly [string, string, unknown?]> = [
        ["GET", "/api/v1/customers"],
        ["POST", "/api/v1/customers", newCustomer()],
        ["GET", `/api/v1/customers/${id}`],
        ["PUT", `/api/v1/customers/${id}`, { email: customer.email, name: "Intruder", version: 1 }],
        ["PATCH", `/api/v1/customers/${id}`, { name: "Intruder" }],
        ["DELETE", `/api/v1/customers/${id}`],
        ["POST", `/api/v1/customers/${id}/email/verify`, { token: "a-token-of-sufficient-length" }],
        ["GET", apiKeysPath],
        ["POST", apiKeysPath, { name: "intruder", role: "admin" }],
        ["DELETE", `${apiKeysPath}/${someUuid}`]
      ]
      for (const [method, path, body] of routes) {
        yield* expectUnauthenticated(yield* callWith({}, method, path, body))
      }
      const after = yield* getCustomer(id)
      assert.strictEqual(after.version, 1)
      assert.strictEqual(after.name, customer.name)
      const sql = yield* PgClient.PgClient
      const [keys] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM api_keys`
      assert.strictEqual(keys.n, 0)
    }))

  it.effect("credentials are checked before the request is validated", () =>
    Effect.gen(function*() {
      yield* expectUnauthenticated(yield* callWith({}, "POST", "/api/v1/customers", { unexpected: true }))
      yield* expectUnauthenticated(yield* callWith({}, "GET", "/api/v1/customers/not-a-uuid"))
    }))

  it.effect("permission is checked before the request is validated: a caller who may not write learns nothing from validation", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const path = `/api/v1/customers/${customer.id}`
      const asAnalyst = { role: "analyst" } as const
      const invalid = { tags: Array(5_000).fill("X"), unexpected: true }
      yield* expectForbidden(yield* call("POST", "/api/v1/customers", { body: invalid, ...asAnalyst }))
      yield* expectForbidden(yield* call("PUT", path, { body: invalid, ...asAnalyst }))
      yield* expectForbidden(yield* call("PATCH", path, { body: invalid, ...asAnalyst }))
      yield* expectForbidden(yield* call("POST", `${path}/email/verify`, { body: invalid, ...asAnalyst }))
      yield* expectForbidden(yield* call("POST", "/api/v1/api-keys", { body: invalid, role: "agent" }))
    }))

  it.effect("a 401 names the accepted schemes in WWW-Authenticate", () =>
    Effect.gen(function*() {
      const response = yield* callWith({}, "GET", "/api/v1/customers")
      assert.strictEqual(response.status, 401)
      assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer\b/)
    }))

  it.effect("an Authorization header with another scheme is not accepted", () =>
    Effect.gen(function*() {
      const token = yield* signToken()
      yield* expectUnauthenticated(yield* callWith({ authorization: "Basic YWRtaW46YWRtaW4=" }, "GET", "/api/v1/customers"))
      yield* expectUnauthenticated(yield* callWith({ authorization: token }, "GET", "/api/v1/customers"))
    }))

  it.effect("/health and /ready answer without credentials, even invalid ones", () =>
    Effect.gen(function*() {
      for (const headers of [{}, bearer("garbage"), apiKey("garbage")]) {
        assert.strictEqual((yield* callWith(headers, "GET", "/health")).status, 200)
        const ready = yield* callWith(headers, "GET", "/ready")
        assert.include([200, 503], ready.status)
        assert.notStrictEqual(ready.status, 401)
      }
    }))

  // --- JWTs ------------------------------------------------------------------------------------

  it.effect("a JWT signed with the service secret, issuer and audience is accepted", () =>
    Effect.gen(function*() {
      const token = yield* signToken({ claims: { role: "analyst" } })
      assert.strictEqual((yield* callWith(bearer(token), "GET", "/api/v1/customers")).status, 200)
    }))

  it.effect("a JWT may name its role in a roles array", () =>
    Effect.gen(function*() {
      const token = yield* signToken({ claims: { roles: ["offline_access", "analyst"] } })
      assert.strictEqual((yield* callWith(bearer(token), "GET", "/api/v1/customers")).status, 200)
      yield* expectForbidden(yield* callWith(bearer(token), "POST", "/api/v1/customers", newCustomer()))
    }))

  it.effect("a malformed bearer token answers 401", () =>
    Effect.gen(function*() {
      const valid = yield* signToken()
      const [header, payload, signature] = valid.split(".")
      const tampered = `${header}.${Buffer.from(JSON.stringify({ sub: "x", role: "admin" })).toString("base64url")}.${signature}`
      for (const token of ["garbage", "a.b.c", `${header}.${payload}`, `${valid}x`, tampered, "x".repeat(9000)]) {
        yield* expectUnauthenticated(yield* callWith(bearer(token), "GET", "/api/v1/customers"))
      }
    }))

  it.effect("an expired JWT answers 401", () =>
    Effect.gen(function*() {
      const token = yield* signToken({ expiresAt: Math.floor(Date.now() / 1000) - 120 })
      yield* expectUnauthenticated(yield* callWith(bearer(token), "GET", "/api/v1/customers"))
    }))

  it.effect("a JWT without an expiry answers 401", () =>
    Effect.gen(function*() {
      const token = yield* signToken({ expiresAt: null })
      yield* expectUnauthenticated(yield* callWith(bearer(token), "GET", "/api/v1/customers"))
    }))

  it.effect("a JWT from another issuer answers 401", () =>
    Effect.gen(function*() {
      const token = yield* signToken({ issuer: "someone-else" })
      yield* expectUnauthenticated(yield* callWith(bearer(token), "GET", "/api/v1/customers"))
    }))

  it.effect("a JWT for another audience answers 401", () =>
    Effect.gen(function*() {
      const token = yield* signToken({ audience: "another-api" })
      yield* expectUnauthenticated(yield* callWith(bearer(token), "GET", "/api/v1/customers"))
    }))

  it.effect("an unsigned JWT (alg: none) answers 401", () =>
    Effect.gen(function*() {
      const token = unsignedToken()
      yield* expectUnauthenticated(yield* callWith(bearer(token), "GET", "/api/v1/customers"))
      // The same with the signature part left in place, as some attacks send it.
      yield* expectUnauthenticated(yield* callWith(bearer(`${token}c2lnbmF0dXJl`), "GET", "/api/v1/customers"))
    }))

  it.effect("a JWT signed with another secret answers 401", () =>
    Effect.gen(function*() {
      const token = yield* signToken({ secret: "not-the-secret-this-service-was-given" })
      yield* expectUnauthenticated(yield* callWith(bearer(token), "GET", "/api/v1/customers"))
    }))

  it.effect("a JWT signed with an algorithm outside the allow-list answers 401", () =>
    Effect.gen(function*() {
      const token = yield* signToken({ alg: "HS512" })
      yield* expectUnauthenticated(yield* callWith(bearer(token), "GET", "/api/v1/customers"))
    }))

  it.effect("a JWT without a known role answers 401", () =>
    Effect.gen(function*() {
      for (const claims of [{}, { role: "superuser" }, { roles: ["superuser"] }, { role: 42 }]) {
        const token = yield* signToken({ claims })
        yield* expectUnauthenticated(yield* callWith(bearer(token), "GET", "/api/v1/customers"))
      }
    }))

  it.effect("a JWT whose subject PostgreSQL cannot store (NUL, unpaired surrogate) answers 401 and writes nothing", () =>
    Effect.gen(function*() {
      const before = yield* writeCounts
      for (const subject of ["alice\u0000admin", "\u0000", "bob\ud800"]) {
        const token = yield* signToken({ subject })
        yield* expectUnauthenticated(yield* callWith(bearer(token), "POST", "/api/v1/customers", newCustomer()))
      }
      assert.deepStrictEqual(yield* writeCounts, before)
    }))

  // --- Roles -----------------------------------------------------------------------------------

  it.effect("an analyst may read and list customers", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      assert.strictEqual((yield* call("GET", `/api/v1/customers/${customer.id}`, { role: "analyst" })).status, 200)
      assert.strictEqual((yield* call("GET", "/api/v1/customers", { role: "analyst" })).status, 200)
    }))

  it.effect("an analyst may not create, replace, patch or delete customers (403)", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const path = `/api/v1/customers/${customer.id}`
      const asAnalyst = { role: "analyst" } as const
      yield* expectForbidden(yield* call("POST", "/api/v1/customers", { body: newCustomer(), ...asAnalyst }))
      yield* expectForbidden(yield* call("PUT", path, { body: { email: customer.email, name: "Analysed", version: 1 }, ...asAnalyst }))
      yield* expectForbidden(yield* call("PATCH", path, { body: { name: "Analysed" }, ...asAnalyst }))
      yield* expectForbidden(yield* call("DELETE", path, asAnalyst))
      const after = yield* getCustomer(customer.id)
      assert.strictEqual(after.version, 1)
      const sql = yield* PgClient.PgClient
      const [count] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM customers WHERE name = 'Analysed'`
      assert.strictEqual(count.n, 0)
    }))

  it.effect("the service role may create and update customers", () =>
    Effect.gen(function*() {
      const asService = { role: "service" } as const
      const created = yield* call("POST", "/api/v1/customers", { body: newCustomer(), ...asService })
      assert.strictEqual(created.status, 201)
      const customer = yield* json<Customer>(created)
      const path = `/api/v1/customers/${customer.id}`
      assert.strictEqual((yield* call("PATCH", path, { body: { age: 41 }, ...asService })).status, 200)
      const replaced = yield* call("PUT", path, { body: { email: customer.email, name: "Alan M. Turing", version: 2 }, ...asService })
      assert.strictEqual(replaced.status, 200)
      assert.strictEqual((yield* getCustomer(customer.id)).version, 3)
    }))

  it.effect("the service role may not delete customers (403)", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      yield* expectForbidden(yield* call("DELETE", `/api/v1/customers/${customer.id}`, { role: "service" }))
      assert.strictEqual((yield* getCustomer(customer.id)).status, "ACTIVE")
    }))

  // --- API keys --------------------------------------------------------------------------------

  it.effect("an API key authenticates through X-API-Key with its role's permissions", () =>
    Effect.gen(function*() {
      const analyst = yield* issueKey("analyst")
      const service = yield* issueKey("service")
      assert.strictEqual((yield* callWith(apiKey(analyst.key), "GET", "/api/v1/customers")).status, 200)
      yield* expectForbidden(yield* callWith(apiKey(analyst.key), "POST", "/api/v1/customers", newCustomer()))
      const created = yield* callWith(apiKey(service.key), "POST", "/api/v1/customers", newCustomer())
      assert.strictEqual(created.status, 201)
      const customer = yield* json<Customer>(created)
      yield* expectForbidden(yield* callWith(apiKey(service.key), "DELETE", `/api/v1/customers/${customer.id}`))
      const sql = yield* PgClient.PgClient
      const [audit] = yield* sql`SELECT actor, actor_role FROM audit_log
        WHERE customer_id = ${customer.id} AND action = 'customer.create'`
      assert.deepStrictEqual({ ...audit }, { actor: `api-key:${service.id}`, actor_role: "service" })
    }))

  it.effect("a revoked API key answers 401 at once", () =>
    Effect.gen(function*() {
      const issued = yield* issueKey("agent")
      // Used first, so a cached verdict would be what a revocation has to overcome.
      assert.strictEqual((yield* callWith(apiKey(issued.key), "GET", "/api/v1/customers")).status, 200)
      assert.strictEqual((yield* call("DELETE", `${apiKeysPath}/${issued.id}`)).status, 204)
      yield* expectUnauthenticated(yield* callWith(apiKey(issued.key), "GET", "/api/v1/customers"))
      const sql = yield* PgClient.PgClient
      const [row] = yield* sql`SELECT revoked_at FROM api_keys WHERE id = ${issued.id}`
      assert.isNotNull(row.revoked_at)
    }))

  it.effect("an expired API key answers 401", () =>
    Effect.gen(function*() {
      const issued = yield* issueKey("agent")
      const sql = yield* PgClient.PgClient
      yield* sql`UPDATE api_keys SET created_at = now() - interval '91 days', expires_at = now() - interval '1 day'
        WHERE id = ${issued.id}`
      yield* expectUnauthenticated(yield* callWith(apiKey(issued.key), "GET", "/api/v1/customers"))
    }))

  it.effect("an unknown or garbled API key answers 401", () =>
    Effect.gen(function*() {
      const issued = yield* issueKey("admin")
      const forged = `cms_${issued.prefix}_${"A".repeat(43)}`
      const unknown = `cms_${"Z".repeat(12)}_${"B".repeat(43)}`
      for (const key of ["garbage", "", forged, unknown, `${issued.key}x`, issued.key.toUpperCase()]) {
        yield* expectUnauthenticated(yield* callWith(apiKey(key), "GET", "/api/v1/customers"))
      }
    }))
})

// --- Production configuration --------------------------------------------------------------------

/** Builds the whole service as NODE_ENV=production runs it, with this JWT_SECRET and AUDIT_KEY (null: empty). */
const startInProduction = (secret: string, auditKey: string | null = randomBytes(32).toString("base64url")) =>
  Layer.build(testService({
    env: { NODE_ENV: "production", JWT_SECRET: secret, AUDIT_KEY: auditKey ?? "" }
  })).pipe(Effect.exit)

const expectRefusedStart = (secret: string, reason: RegExp, auditKey?: string) =>
  Effect.gen(function*() {
    const started = yield* startInProduction(secret, ...(auditKey === undefined ? [] : [auditKey]))
    assert.isTrue(Exit.isFailure(started), "the service started")
    if (Exit.isFailure(started)) assert.match(Cause.pretty(started.cause), reason)
  })

describe("production configuration", () => {
  plain.live("refuses to start with the published development secret", () =>
    expectRefusedStart(developmentSecret, /JWT_SECRET is the published development secret/))

  plain.live("refuses to start with a secret shorter than 32 bytes", () =>
    Effect.gen(function*() {
      for (const secret of ["a", "x".repeat(31)]) {
        yield* expectRefusedStart(secret, /JWT_SECRET must be at least 32 bytes when NODE_ENV=production/)
      }
    }))

  plain.live("refuses to start without an audit key of 32 bytes or more", () =>
    Effect.gen(function*() {
      const secret = randomBytes(32).toString("base64url")
      const started = yield* startInProduction(secret, null)
      assert.isTrue(Exit.isFailure(started), "the service started")
      if (Exit.isFailure(started)) assert.match(Cause.pretty(started.cause), /AUDIT_KEY must be set to at least 32 random bytes/)
      yield* expectRefusedStart(secret, /AUDIT_KEY must be set to at least 32 random bytes/, "short")
    }))

  plain.live("starts with a random secret of 32 bytes or more, and accepts tokens it signs", () =>
    Effect.gen(function*() {
      const started = yield* startInProduction(randomBytes(32).toString("base64url"))
      assert.isTrue(Exit.isSuccess(started), Exit.isFailure(started) ? Cause.pretty(started.cause) : "")
      if (Exit.isSuccess(started)) {
        const response = yield* call("GET", "/api/v1/customers").pipe(Effect.provide(started.value))
        assert.strictEqual(response.status, 200)
      }
    }))
})
