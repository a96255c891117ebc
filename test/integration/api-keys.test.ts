/**
 * /api/v1/api-keys against the running service: issuing (owner, expiry),
 * listing (never a secret), revoking, the audit trail, and who may do it.
 * Then expiry on the Clock: the Authenticator alone, under TestClock.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Layer, References, Schema } from "effect"
import { TestClock } from "effect/testing"
import { createHash } from "node:crypto"
import type { Actor } from "../../src/domain/Access.ts"
import { type ApiKeyPage, IssuedApiKey } from "../../src/domain/ApiKey.ts"
import { Authenticator } from "../../src/platform/Authenticator.ts"
import { DatabaseLive } from "../../src/platform/Database.ts"
import { AuditLog } from "../../src/privacy/AuditLog.ts"
import { AuditSigning } from "../../src/privacy/AuditSigning.ts"
import {
  apiKey,
  apiKeysPath,
  bearer,
  callWith,
  expectForbidden,
  type IssuedKey,
  issueKey
} from "../support/ApiKeys.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, expectProblem, invalidPaths } from "../support/Http.ts"
import { json, scopedDatabase, TestService, testJwtSecret } from "../support/TestService.ts"

type Page = typeof ApiKeyPage.Encoded

const dayMillis = 24 * 60 * 60 * 1000
const someUuid = "0190a6f0-0000-7000-8000-000000000000"

const listKeys = (query = "") =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${apiKeysPath}${query}`)
    assert.strictEqual(response.status, 200)
    return yield* json<Page>(response)
  })

const listed = (id: string) =>
  Effect.gen(function*() {
    const entry = (yield* listKeys()).data.find((key) => key.id === id)
    assert.isDefined(entry, `key ${id} is not listed`)
    return entry!
  })

/** An admin's own bearer token, so the issuer is someone the test names. */
const asAdmin = (subject: string) =>
  Effect.map(Effect.flatMap(TestService, ({ token }) => token("admin", subject)), bearer)

const keyCounts = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const [counts] = yield* sql<{ readonly keys: number; readonly revoked: number; readonly audit: number }>`SELECT
    (SELECT count(*) FROM api_keys)::int AS keys,
    (SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL)::int AS revoked,
    (SELECT count(*) FROM audit_log)::int AS audit`
  return counts
})

const auditRowsFor = (keyId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql`SELECT actor, actor_role, action, customer_id, api_key_id, request_id, fields
      FROM audit_log WHERE api_key_id = ${keyId} ORDER BY id`)

/** What of a key must never appear outside the moment it is issued. */
const secretsOf = (issued: IssuedKey) => [
  issued.key,
  issued.key.slice(`cms_${issued.prefix}_`.length),
  createHash("sha256").update(issued.key).digest("base64url")
]

layer(testServiceWithDatabase(), { excludeTestServices: true })("API keys", (it) => {
  // --- Issuing ---------------------------------------------------------------------------------

  it.effect("an admin issues a key shown once, of which only a hash is stored", () =>
    Effect.gen(function*() {
      const issued = yield* issueKey("analyst", "reporting")
      assert.strictEqual(issued.name, "reporting")
      assert.strictEqual(issued.role, "analyst")
      assert.doesNotThrow(() => Schema.decodeUnknownSync(IssuedApiKey)(issued))
      assert.isTrue(issued.key.startsWith(`cms_${issued.prefix}_`))
      const sql = yield* PgClient.PgClient
      const rows = yield* sql`SELECT * FROM api_keys WHERE id = ${issued.id}`
      assert.lengthOf(rows, 1)
      assert.strictEqual(rows[0].key_hash, createHash("sha256").update(issued.key).digest("base64url"))
      assert.isNull(rows[0].revoked_at)
      assert.notInclude(JSON.stringify(rows), issued.key.slice(`cms_${issued.prefix}_`.length))
    }))

  it.effect("a key records who issued it: the issuer's kind, subject and role", () =>
    Effect.gen(function*() {
      const response = yield* callWith(yield* asAdmin("alice-admin"), "POST", apiKeysPath, {
        name: "billing sync",
        role: "service"
      })
      assert.strictEqual(response.status, 201)
      const issued = yield* json<IssuedKey>(response)
      const owner: Actor = { kind: "user", subject: "alice-admin", role: "admin" }
      assert.deepStrictEqual(issued.issuedBy, owner)
      assert.deepStrictEqual((yield* listed(issued.id)).issuedBy, owner)
    }))

  it.effect("a key expires 90 days after it is issued unless the request says otherwise", () =>
    Effect.gen(function*() {
      const byDefault = yield* issueKey("analyst")
      assert.strictEqual(Date.parse(byDefault.expiresAt) - Date.parse(byDefault.createdAt), 90 * dayMillis)
      const week = yield* issueKey("analyst", "a week", { expiresInDays: 7 })
      assert.strictEqual(Date.parse(week.expiresAt) - Date.parse(week.createdAt), 7 * dayMillis)
      assert.strictEqual((yield* listed(week.id)).expiresAt, week.expiresAt)
    }))

  it.effect("a key may live up to 365 days", () =>
    Effect.gen(function*() {
      const year = yield* issueKey("analyst", "a year", { expiresInDays: 365 })
      assert.strictEqual(Date.parse(year.expiresAt) - Date.parse(year.createdAt), 365 * dayMillis)
    }))

  it.effect("a longer expiry, or one under a day, is refused with 400 naming expiresInDays, and nothing is written", () =>
    Effect.gen(function*() {
      const before = yield* keyCounts
      for (const expiresInDays of [366, 10_000, 0, -1, 1.5, "30", null]) {
        const response = yield* call("POST", apiKeysPath, { body: { name: "forever", role: "admin", expiresInDays } })
        const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
        assert.deepStrictEqual(invalidPaths(problem), ["payload.expiresInDays"], `expiresInDays: ${expiresInDays}`)
      }
      assert.deepStrictEqual(yield* keyCounts, before)
    }))

  it.effect("a name PostgreSQL cannot store is refused with 400", () =>
    Effect.gen(function*() {
      const before = yield* keyCounts
      const response = yield* call("POST", apiKeysPath, { body: { name: "nul\u0000name", role: "analyst" } })
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(problem), ["payload.name"])
      assert.deepStrictEqual(yield* keyCounts, before)
    }))

  it.effect("issuing a key is audited with the issuer, the request id and the key id, never the secret", () =>
    Effect.gen(function*() {
      const response = yield* callWith(
        { ...(yield* asAdmin("audited-admin")), "x-request-id": "issue-request-1" },
        "POST",
        apiKeysPath,
        { name: "audited", role: "agent" }
      )
      assert.strictEqual(response.status, 201)
      const issued = yield* json<IssuedKey>(response)
      const rows = yield* auditRowsFor(issued.id)
      assert.deepStrictEqual(rows.map((row) => ({ ...row })), [{
        actor: "user:audited-admin",
        actor_role: "admin",
        action: "api-key.issue",
        customer_id: null,
        api_key_id: issued.id,
        request_id: "issue-request-1",
        fields: ["name", "role"]
      }])
      for (const secret of secretsOf(issued)) assert.notInclude(JSON.stringify(rows), secret)
    }))

  // --- Listing ---------------------------------------------------------------------------------

  it.effect("an admin lists keys newest first, each without its secret or hash", () =>
    Effect.gen(function*() {
      const older = yield* issueKey("analyst", "older")
      const newer = yield* issueKey("service", "newer")
      const response = yield* call("GET", apiKeysPath)
      assert.strictEqual(response.status, 200)
      const text = yield* Effect.promise(() => response.text())
      for (const secret of [...secretsOf(older), ...secretsOf(newer)]) assert.notInclude(text, secret)
      assert.notMatch(text, /"(key|keyHash|key_hash|hash|secret)"/)
      const page = JSON.parse(text) as Page
      const ids = page.data.map((key) => key.id)
      assert.strictEqual(ids[0], newer.id)
      assert.strictEqual(ids[1], older.id)
      const created = page.data.map((key) => Date.parse(key.createdAt))
      assert.deepStrictEqual(created, [...created].sort((a, b) => b - a))
      const { key: _shownOnce, ...listedNewer } = newer
      assert.deepStrictEqual(page.data[0], listedNewer)
    }))

  it.effect("the list comes in pages of `limit` keys, the next one named by nextCursor", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) yield* issueKey("analyst", `paged ${i}`)
      const sql = yield* PgClient.PgClient
      const all = yield* sql<{ readonly id: string }>`SELECT id FROM api_keys ORDER BY id DESC`
      const seen: Array<string> = []
      let cursor: string | null = null
      do {
        const page: Page = yield* listKeys(`?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`)
        assert.isAtMost(page.data.length, 2)
        seen.push(...page.data.map((key) => key.id))
        cursor = page.nextCursor
      } while (cursor !== null)
      assert.deepStrictEqual(seen, all.map((row) => row.id))
    }))

  it.effect("a page holds 1 to 100 keys, and a cursor is a key id: anything else is a 400 naming it", () =>
    Effect.gen(function*() {
      for (const [query, path] of [
        ["limit=0", "query.limit"],
        ["limit=101", "query.limit"],
        ["limit=ten", "query.limit"],
        ["cursor=not-a-cursor", "query.cursor"]
      ] as const) {
        const problem = yield* expectProblem(yield* call("GET", `${apiKeysPath}?${query}`), 400, "/problems/invalid-request")
        assert.deepStrictEqual([...new Set(invalidPaths(problem))], [path], query)
      }
      assert.strictEqual((yield* listKeys("?limit=100")).data.length <= 100, true)
    }))

  it.effect("the list shows when a key was last used", () =>
    Effect.gen(function*() {
      const issued = yield* issueKey("analyst", "used")
      assert.isNull((yield* listed(issued.id)).lastUsedAt)
      const before = Date.now()
      assert.strictEqual((yield* callWith(apiKey(issued.key), "GET", "/api/v1/customers")).status, 200)
      const after = Date.now()
      const lastUsed = Date.parse((yield* listed(issued.id)).lastUsedAt ?? "")
      assert.isAtLeast(lastUsed, before)
      assert.isAtMost(lastUsed, after)
    }))

  // --- Revoking --------------------------------------------------------------------------------

  it.effect("a revoked key stays listed, with when it was revoked", () =>
    Effect.gen(function*() {
      const issued = yield* issueKey("agent", "to revoke")
      const before = Date.now()
      assert.strictEqual((yield* call("DELETE", `${apiKeysPath}/${issued.id}`)).status, 204)
      const revokedAt = Date.parse((yield* listed(issued.id)).revokedAt ?? "")
      assert.isAtLeast(revokedAt, before)
      assert.isAtMost(revokedAt, Date.now())
    }))

  it.effect("revoking a key is audited with the admin, the request id and the key id", () =>
    Effect.gen(function*() {
      const issued = yield* issueKey("agent", "revoked and audited")
      const response = yield* callWith(
        { ...(yield* asAdmin("revoking-admin")), "x-request-id": "revoke-request-1" },
        "DELETE",
        `${apiKeysPath}/${issued.id}`
      )
      assert.strictEqual(response.status, 204)
      const rows = yield* auditRowsFor(issued.id)
      assert.deepStrictEqual(rows.map((row) => row.action), ["api-key.issue", "api-key.revoke"])
      assert.deepStrictEqual({ ...rows[1] }, {
        actor: "user:revoking-admin",
        actor_role: "admin",
        action: "api-key.revoke",
        customer_id: null,
        api_key_id: issued.id,
        request_id: "revoke-request-1",
        fields: []
      })
    }))

  it.effect("revoking an unknown or already revoked key answers 404 and audits nothing", () =>
    Effect.gen(function*() {
      yield* expectProblem(yield* call("DELETE", `${apiKeysPath}/${someUuid}`), 404, "/problems/api-key-not-found")
      const issued = yield* issueKey("analyst")
      assert.strictEqual((yield* call("DELETE", `${apiKeysPath}/${issued.id}`)).status, 204)
      yield* expectProblem(yield* call("DELETE", `${apiKeysPath}/${issued.id}`), 404, "/problems/api-key-not-found")
      assert.strictEqual((yield* auditRowsFor(issued.id)).length, 2)
      assert.strictEqual((yield* auditRowsFor(someUuid)).length, 0)
    }))

  // --- Who may ---------------------------------------------------------------------------------

  it.effect("only an admin may issue, list or revoke keys (403 for the other roles)", () =>
    Effect.gen(function*() {
      const issued = yield* issueKey("analyst")
      const before = yield* keyCounts
      for (const role of ["agent", "analyst", "service"] as const) {
        yield* expectForbidden(yield* call("POST", apiKeysPath, { body: { name: "escalation", role: "admin" }, role }))
        yield* expectForbidden(yield* call("GET", apiKeysPath, { role }))
        yield* expectForbidden(yield* call("DELETE", `${apiKeysPath}/${issued.id}`, { role }))
      }
      assert.deepStrictEqual(yield* keyCounts, before)
      assert.strictEqual((yield* callWith(apiKey(issued.key), "GET", "/api/v1/customers")).status, 200)
    }))

  it.effect("an API key, even an admin's, cannot issue, list or revoke keys, not even itself (403)", () =>
    Effect.gen(function*() {
      const admin = yield* issueKey("admin", "leaked admin key")
      const sibling = yield* issueKey("service", "sibling")
      const before = yield* keyCounts
      const asKey = apiKey(admin.key)
      yield* expectForbidden(yield* callWith(asKey, "POST", apiKeysPath, { name: "successor", role: "admin" }))
      yield* expectForbidden(yield* callWith(asKey, "GET", apiKeysPath))
      yield* expectForbidden(yield* callWith(asKey, "DELETE", `${apiKeysPath}/${sibling.id}`))
      yield* expectForbidden(yield* callWith(asKey, "DELETE", `${apiKeysPath}/${admin.id}`))
      assert.deepStrictEqual(yield* keyCounts, before)
      // The key keeps its other powers: this is about managing keys, not about the key.
      assert.strictEqual((yield* callWith(asKey, "GET", "/api/v1/customers")).status, 200)
    }))
})

// --- Expiry on the Clock -----------------------------------------------------------------------

/** The Authenticator on its own database, on the live clock (the pool's timers need it); tests bring a TestClock. */
const AuthenticatorOnItsOwnDatabase = Layer.unwrap(Effect.gen(function*() {
  const database = yield* scopedDatabase
  return Authenticator.layer.pipe(
    Layer.provide(AuditLog.layer.pipe(Layer.provide(AuditSigning.layer))),
    Layer.provideMerge(DatabaseLive),
    Layer.provide(Layer.succeed(References.MinimumLogLevel, "Warn")),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({
      DATABASE_URL: database.url,
      JWT_SECRET: testJwtSecret,
      DB_POOL_MAX: "2"
    })))
  )
}))

const admin: Actor = { kind: "user", subject: "clock-admin", role: "admin" }

layer(AuthenticatorOnItsOwnDatabase, { excludeTestServices: true })("API key expiry", (it) => {
  it.effect("a key authenticates until its expiry and not after, even while its verdict is cached", () =>
    Effect.gen(function*() {
      const authenticator = yield* Authenticator
      yield* TestClock.setTime(Date.parse("2027-03-01T12:00:00Z"))
      const issued = yield* authenticator.issueApiKey({
        actor: admin,
        requestId: null,
        request: { name: "one day", role: "analyst", expiresInDays: 1 }
      })
      yield* TestClock.adjust(Duration.subtract(Duration.days(1), Duration.seconds(10)))
      // Verified ten seconds before its expiry: cached for those ten seconds, not the usual thirty.
      const actor = yield* authenticator.apiKey(issued.key)
      assert.deepStrictEqual(actor, { kind: "api-key", subject: issued.id, role: "analyst" })
      yield* TestClock.adjust(Duration.seconds(11))
      const refusal = yield* Effect.flip(authenticator.apiKey(issued.key))
      assert.strictEqual(refusal._tag, "Unauthenticated")
    }).pipe(Effect.provide(TestClock.layer())))
})
