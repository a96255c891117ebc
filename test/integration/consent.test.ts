/**
 * Consent per purpose on the real database: recorded and read over REST and RPC, withdrawn as easily as
 * granted, the marketing objection honoured, bad input refused with nothing written, the history append-only
 * at the database, every change audited and published, and the history in the person's export.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import type { ConsentChange, ConsentHistoryPage, CustomerConsent } from "../../src/domain/Consent.ts"
import { CustomerDataExport } from "../../src/domain/DataExport.ts"
import { choice } from "../support/Consent.ts"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { outboxRows, testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem, getCustomer, invalidPaths, type Problem } from "../support/Http.ts"
import { eventually } from "../support/Eventually.ts"
import { withRpcClient } from "../support/Rpc.ts"
import { json } from "../support/TestService.ts"

const consentPath = (id: string) => `${customersPath}/${id}/consent`


const putConsent = (id: string, body: unknown, role: "admin" | "agent" | "analyst" | "service" = "agent") =>
  call("PUT", consentPath(id), { body, role, headers: { "x-request-id": "consent-test-request" } })

const changeConsent = (id: string, changes: ReadonlyArray<ConsentChange>, reason?: string) =>
  Effect.gen(function*() {
    const response = yield* putConsent(id, { changes, ...(reason === undefined ? {} : { reason }) })
    const text = yield* Effect.promise(() => response.clone().text())
    assert.strictEqual(response.status, 200, text)
    return yield* json<CustomerConsent>(response)
  })

const historyOf = (id: string, query = "") =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${consentPath(id)}/history${query}`, { role: "analyst" })
    assert.strictEqual(response.status, 200)
    return yield* json<ConsentHistoryPage>(response)
  })

const statusOf = (consent: CustomerConsent, purpose: string) =>
  consent.purposes.find((item) => item.purpose === purpose)?.status

/**
 * Rows of the tables a consent change writes: equal before and after, nothing was written. Entries of reads are
 * left out: they are written in the background, whenever an earlier read's buffer drains.
 */
const consentWrites = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const [counts] = yield* sql<{ readonly history: number; readonly outbox: number; readonly audit: number }>`SELECT
    (SELECT count(*) FROM customer_consent_history)::int AS history,
    (SELECT count(*) FROM outbox)::int AS outbox,
    (SELECT count(*) FROM audit_log WHERE action NOT IN ('customer.read', 'customer.consent.read'))::int AS audit`
    .pipe(Effect.orDie)
  return counts
})

/** The audit entries of reads of the customer's consent, once the background writer has written `count`. */
const consentReadEntries = (customerId: string, count: number) =>
  eventually(
    "the consent reads' audit entries",
    Effect.flatMap(PgClient.PgClient, (sql) =>
      sql<{ readonly actor: string; readonly requestId: string | null; readonly fields: ReadonlyArray<string> }>`
        SELECT actor, request_id AS "requestId", fields FROM audit_log
        WHERE customer_id = ${customerId} AND action = 'customer.consent.read' ORDER BY id`.pipe(Effect.orDie)),
    (rows) => rows.length >= count
  )

layer(testServiceWithDatabase(), { excludeTestServices: true, timeout: 60_000 })("consent", (it) => {
  it.effect("a new customer's consent is the first entries of their history", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer({ consent: { marketing: true, dataProcessing: true } }))
      const consent = yield* json<CustomerConsent>(yield* call("GET", consentPath(customer.id), { role: "analyst" }))
      assert.deepStrictEqual(
        consent.purposes.map((item) => [item.purpose, item.status, item.source, item.policyVersion]),
        [["data-processing", "granted", "profile-creation", "unstated"], ["marketing", "granted", "profile-creation", "unstated"]]
      )
      assert.strictEqual(consent.version, 1)
      const history = yield* historyOf(customer.id)
      assert.strictEqual(history.data.length, 2)
      assert.isTrue(history.data.every((entry) => entry.recordedAt === customer.createdAt))
    }))

  it.effect("PUT records several purposes at once; GET and the history answer them; the profile follows", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      const changed = yield* changeConsent(customer.id, [
        choice("marketing", "granted"),
        choice("analytics", "granted", { legalBasis: "legitimate-interests", source: "mobile-app" }),
        choice("custom:loyalty-programme", "granted", { policyVersion: "loyalty-3" })
      ], "preference centre")
      assert.strictEqual(changed.version, 2)
      assert.deepStrictEqual(
        changed.purposes.map((item) => [item.purpose, item.status, item.legalBasis, item.source, item.policyVersion]),
        [
          ["analytics", "granted", "legitimate-interests", "mobile-app", "2026-01"],
          ["custom:loyalty-programme", "granted", "consent", "web-form", "loyalty-3"],
          ["data-processing", "granted", "consent", "profile-creation", "unstated"],
          ["marketing", "granted", "consent", "web-form", "2026-01"]
        ]
      )
      const read = yield* json<CustomerConsent>(yield* call("GET", consentPath(customer.id)))
      assert.deepStrictEqual(read, changed)
      const profile = yield* getCustomer(customer.id)
      assert.deepStrictEqual(profile.consent, { marketing: true, dataProcessing: true })
      assert.strictEqual(profile.version, 2)

      const history = yield* historyOf(customer.id)
      assert.strictEqual(history.data.length, 5)
      const newest = history.data.slice(0, 3)
      assert.deepStrictEqual(newest.map((entry) => entry.purpose).sort(), ["analytics", "custom:loyalty-programme", "marketing"])
      for (const entry of newest) {
        assert.strictEqual(entry.recordedBy, "user:test-agent")
        assert.strictEqual(entry.requestId, "consent-test-request")
        assert.strictEqual(entry.reason, "preference centre")
      }
      // Newest first.
      assert.isTrue(history.data.every((entry, index) => index === 0 || BigInt(entry.id) < BigInt(history.data[index - 1].id)))
    }))

  it.effect("withdrawing is the same call as granting, and the profile's consent follows", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer({ consent: { marketing: true, dataProcessing: true } }))
      const withdrawn = yield* changeConsent(customer.id, [choice("marketing", "withdrawn"), choice("data-processing", "withdrawn")])
      assert.strictEqual(statusOf(withdrawn, "marketing"), "withdrawn")
      assert.strictEqual(statusOf(withdrawn, "data-processing"), "withdrawn")
      assert.deepStrictEqual((yield* getCustomer(customer.id)).consent, { marketing: false, dataProcessing: false })
    }))

  it.effect("a change is published as customer.consent-changed and audited with who, why and the request", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      yield* changeConsent(customer.id, [choice("personalisation", "withdrawn")], "asked by phone")
      const events = yield* outboxRows(`customers.${customer.id}.consent-changed`)
      assert.strictEqual(events.length, 1)
      const event = events[0].payload as unknown as { readonly version: number; readonly changes: ReadonlyArray<ConsentChange> }
      assert.strictEqual(event.version, 2)
      assert.deepStrictEqual(event.changes, [choice("personalisation", "withdrawn")])
      const sql = yield* PgClient.PgClient
      const audit = yield* sql<{ readonly actor: string; readonly fields: ReadonlyArray<string>; readonly reason: string; readonly request_id: string }>`
        SELECT actor, fields, reason, request_id FROM audit_log
        WHERE customer_id = ${customer.id} AND action = 'customer.consent'`
      assert.deepStrictEqual(audit.map((row) => ({ ...row })), [{
        actor: "user:test-agent",
        fields: ["consent.personalisation"],
        reason: "asked by phone",
        request_id: "consent-test-request"
      }])
    }))

  it.effect("once marketing is withdrawn, legitimate interests cannot grant it again; a fresh consent can", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer({ consent: { marketing: true, dataProcessing: true } }))
      yield* changeConsent(customer.id, [choice("marketing", "withdrawn", { legalBasis: "legitimate-interests" })])
      const before = yield* consentWrites
      const refused = yield* putConsent(customer.id, {
        changes: [choice("analytics", "granted"), choice("marketing", "granted", { legalBasis: "legitimate-interests" })]
      })
      const problem = yield* expectProblem(refused, 422, "/problems/marketing-objection")
      assert.strictEqual(problem.field, "changes[1].legalBasis")
      assert.deepStrictEqual(yield* consentWrites, before)
      assert.isFalse((yield* getCustomer(customer.id)).consent.marketing)

      const granted = yield* changeConsent(customer.id, [choice("marketing", "granted", { legalBasis: "consent" })])
      assert.strictEqual(statusOf(granted, "marketing"), "granted")
    }))

  it.effect("marketing refused at creation counts as an objection", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer({ consent: { marketing: false, dataProcessing: true } }))
      const refused = yield* putConsent(customer.id, {
        changes: [choice("marketing", "granted", { legalBasis: "legitimate-interests" })]
      })
      yield* expectProblem(refused, 422, "/problems/marketing-objection")
    }))

  it.effect("before any objection, legitimate interests may ground marketing", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer({ consent: { marketing: true, dataProcessing: true } }))
      const changed = yield* changeConsent(customer.id, [
        choice("marketing", "granted", { legalBasis: "legitimate-interests", policyVersion: "2026-02" })
      ])
      assert.strictEqual(statusOf(changed, "marketing"), "granted")
    }))

  const badBodies: ReadonlyArray<readonly [string, unknown, string]> = [
    ["an unknown purpose", { changes: [choice("newsletter", "granted")] }, "payload.changes.0.purpose"],
    ["a custom purpose without a slug", { changes: [choice("custom:", "granted")] }, "payload.changes.0.purpose"],
    ["an unknown legal basis", { changes: [{ ...choice("analytics", "granted"), legalBasis: "because" }] }, "payload.changes.0.legalBasis"],
    ["an unknown status", { changes: [{ ...choice("analytics", "granted"), status: "maybe" }] }, "payload.changes.0.status"],
    ["an unknown field", { changes: [{ ...choice("analytics", "granted"), recordedAt: "2020-01-01T00:00:00.000Z" }] }, "payload.changes.0.recordedAt"],
    ["an unknown top-level field", { changes: [choice("analytics", "granted")], version: 3 }, "payload.version"],
    ["a purpose twice", { changes: [choice("analytics", "granted"), choice("analytics", "withdrawn")] }, "payload.changes"],
    ["no change", { changes: [] }, "payload.changes"],
    ["a missing source", { changes: [{ purpose: "analytics", status: "granted", legalBasis: "consent", policyVersion: "1" }] }, "payload.changes.0.source"]
  ]

  for (const [what, body, path] of badBodies) {
    it.effect(`${what} is refused with 400 naming ${path}, and nothing is written`, () =>
      Effect.gen(function*() {
        const customer = yield* createCustomer(newCustomer())
        const before = yield* consentWrites
        const problem = yield* expectProblem(yield* putConsent(customer.id, body), 400, "/problems/invalid-request")
        assert.include(invalidPaths(problem), path)
        assert.deepStrictEqual(yield* consentWrites, before)
      }))
  }

  it.effect("a huge body is refused before it is read, and nothing is written", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      const before = yield* consentWrites
      const response = yield* putConsent(customer.id, { changes: [choice("analytics", "granted")], reason: "x".repeat(2_000_000) })
      assert.strictEqual(response.status, 413)
      assert.deepStrictEqual(yield* consentWrites, before)
    }))

  it.effect("an analyst may read consent but not record it; an unknown customer has none", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      yield* expectProblem(yield* putConsent(customer.id, { changes: [choice("analytics", "granted")] }, "analyst"), 403, "/problems/forbidden")
      assert.strictEqual((yield* call("GET", consentPath(customer.id), { role: "analyst" })).status, 200)
      const unknown = "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d99"
      yield* expectProblem(yield* call("GET", consentPath(unknown)), 404, "/problems/customer-not-found")
      yield* expectProblem(yield* putConsent(unknown, { changes: [choice("analytics", "granted")] }), 404, "/problems/customer-not-found")
      yield* expectProblem(yield* call("GET", `${consentPath(unknown)}/history`), 404, "/problems/customer-not-found")
    }))

  it.effect("the history is append-only in the database: UPDATE, DELETE and TRUNCATE are refused", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      const sql = yield* PgClient.PgClient
      const attempts = [
        sql`UPDATE customer_consent_history SET status = 'granted' WHERE customer_id = ${customer.id}`,
        sql`DELETE FROM customer_consent_history WHERE customer_id = ${customer.id}`,
        sql`TRUNCATE customer_consent_history CASCADE`
      ]
      for (const attempt of attempts) {
        const failure = yield* Effect.flip(attempt)
        // The trigger's refusal (insufficient_privilege), with its message.
        assert.strictEqual(failure.reason._tag, "AuthorizationError")
        assert.match(String(failure.reason.cause), /customer_consent_history is append-only/)
      }
      assert.strictEqual((yield* historyOf(customer.id)).data.length, 2)
    }))

  it.effect("the history pages newest first through nextCursor", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      for (const status of ["granted", "withdrawn", "granted"] as const) {
        yield* changeConsent(customer.id, [choice("analytics", status)])
      }
      const first = yield* historyOf(customer.id, "?limit=2")
      assert.deepStrictEqual(first.data.map((entry) => entry.status), ["granted", "withdrawn"])
      assert.isNotNull(first.nextCursor)
      const second = yield* historyOf(customer.id, `?limit=2&cursor=${first.nextCursor}`)
      assert.deepStrictEqual(second.data.map((entry) => [entry.purpose, entry.status]), [
        ["analytics", "granted"],
        // The two creation entries, in the order written.
        [second.data[1].purpose, second.data[1].status]
      ])
      const last = yield* historyOf(customer.id, `?limit=2&cursor=${second.nextCursor}`)
      assert.strictEqual(last.data.length, 1)
      assert.isNull(last.nextCursor)
    }))

  it.effect("RPC: the same calls, the same answers and refusals", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      const changed = yield* withRpcClient(
        (client) => client.ChangeCustomerConsent({ id: customer.id, changes: [choice("third-party-sharing", "withdrawn")] }),
        "service"
      )
      assert.strictEqual(statusOf(changed, "third-party-sharing"), "withdrawn")
      const read = yield* withRpcClient((client) => client.GetCustomerConsent({ id: customer.id }), "analyst")
      assert.deepStrictEqual(read, changed)
      const history = yield* withRpcClient((client) => client.ListCustomerConsentHistory({ id: customer.id, limit: 1 }), "analyst")
      assert.strictEqual(history.data[0].purpose, "third-party-sharing")
      const forbidden = yield* withRpcClient(
        (client) => Effect.flip(client.ChangeCustomerConsent({ id: customer.id, changes: [choice("analytics", "granted")] })),
        "analyst"
      )
      assert.strictEqual(forbidden._tag, "Forbidden")
    }))

  it.effect("the export holds the whole consent history, newest first", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      yield* changeConsent(customer.id, [choice("analytics", "granted"), choice("custom:surveys", "withdrawn")])
      const response = yield* call("GET", `${customersPath}/${customer.id}/data`)
      assert.strictEqual(response.status, 200)
      const exported = Schema.decodeUnknownSync(CustomerDataExport)(yield* json(response))
      const history = yield* historyOf(customer.id)
      assert.deepStrictEqual(exported.consent, history.data)
      assert.strictEqual(exported.consent.length, 4)
    }))

  // --- If-Match: a choice is recorded against the consent the caller read -----------------------------

  it.effect("GET answers the customer's version as ETag; a PUT with that If-Match is recorded and answers the next", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      const read = yield* call("GET", consentPath(customer.id))
      assert.strictEqual(read.headers.get("etag"), "\"v1\"")
      const response = yield* call("PUT", consentPath(customer.id), {
        body: { changes: [choice("analytics", "granted")] },
        headers: { "if-match": "\"v1\"" }
      })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("etag"), "\"v2\"")
      assert.strictEqual((yield* json<CustomerConsent>(response)).version, 2)
    }))

  it.effect("a PUT with a stale If-Match answers 412 with both versions, and nothing is written", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      yield* changeConsent(customer.id, [choice("analytics", "granted")])
      const before = yield* consentWrites
      const stale = yield* call("PUT", consentPath(customer.id), {
        body: { changes: [choice("analytics", "withdrawn")] },
        headers: { "if-match": "\"v1\"" }
      })
      const problem = (yield* expectProblem(stale, 412, "/problems/version-conflict")) as Problem & {
        readonly expectedVersion?: number
        readonly currentVersion?: number
      }
      assert.strictEqual(problem.expectedVersion, 1)
      assert.strictEqual(problem.currentVersion, 2)
      assert.deepStrictEqual(yield* consentWrites, before)
      const current = yield* json<CustomerConsent>(yield* call("GET", consentPath(customer.id)))
      assert.strictEqual(statusOf(current, "analytics"), "granted")
    }))

  it.effect("an If-Match naming no version answers 412; `*` records against any version", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      const body = { changes: [choice("analytics", "granted")] }
      yield* expectProblem(
        yield* call("PUT", consentPath(customer.id), { body, headers: { "if-match": "W/\"something\"" } }),
        412,
        "/problems/version-conflict"
      )
      const any = yield* call("PUT", consentPath(customer.id), { body, headers: { "if-match": "*" } })
      assert.strictEqual(any.status, 200)
    }))

  it.effect("RPC: a stale expectedVersion fails with VersionConflict; the current one is recorded", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      const changes = [choice("personalisation", "withdrawn")]
      const stale = yield* withRpcClient(
        (client) => Effect.flip(client.ChangeCustomerConsent({ id: customer.id, changes, expectedVersion: 7 })),
        "service"
      )
      assert.strictEqual(stale._tag, "VersionConflict")
      const changed = yield* withRpcClient(
        (client) => client.ChangeCustomerConsent({ id: customer.id, changes, expectedVersion: 1 }),
        "service"
      )
      assert.strictEqual(changed.version, 2)
    }))

  // --- Reads are audited: they reveal the person's choices -----------------------------------------

  it.effect("a GET of consent is audited as customer.consent.read: who, the purposes served, the request", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      const response = yield* call("GET", consentPath(customer.id), {
        role: "analyst",
        headers: { "x-request-id": "consent-read-1" }
      })
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(yield* consentReadEntries(customer.id, 1), [{
        actor: "user:test-analyst",
        requestId: "consent-read-1",
        fields: ["consent.data-processing", "consent.marketing"]
      }])
    }))

  it.effect("a read of the history is audited as customer.consent.read of consent.history", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      const response = yield* call("GET", `${consentPath(customer.id)}/history`, {
        role: "agent",
        headers: { "x-request-id": "consent-read-2" }
      })
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(yield* consentReadEntries(customer.id, 1), [{
        actor: "user:test-agent",
        requestId: "consent-read-2",
        fields: ["consent.history"]
      }])
    }))

  it.effect("RPC reads of consent and its history are audited the same way", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer(newCustomer())
      yield* withRpcClient((client) => client.GetCustomerConsent({ id: customer.id }), "service")
      yield* withRpcClient((client) => client.ListCustomerConsentHistory({ id: customer.id }), "service")
      const entries = yield* consentReadEntries(customer.id, 2)
      assert.deepStrictEqual(entries.map((entry) => entry.fields), [
        ["consent.data-processing", "consent.marketing"],
        ["consent.history"]
      ])
    }))

  it.effect("a refused read (unknown customer) is not audited as a read of anyone", () =>
    Effect.gen(function*() {
      const unknown = "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d98"
      yield* expectProblem(yield* call("GET", consentPath(unknown)), 404, "/problems/customer-not-found")
      const sql = yield* PgClient.PgClient
      const rows = yield* sql`SELECT 1 FROM audit_log WHERE customer_id = ${unknown}`
      assert.strictEqual(rows.length, 0)
    }))
})
