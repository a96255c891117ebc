import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Result } from "effect"
import { Customers } from "../../src/customers/Customers.ts"
import type { Actor } from "../../src/domain/Access.ts"
import { type CreateCustomer, type Customer, CustomerId, type PatchCustomer } from "../../src/domain/Customer.ts"
import { customersPath, newCustomer, uniqueEmail } from "../support/Customers.ts"
import { outboxRows, testServiceWithDatabase, verificationToken } from "../support/Database.ts"
import { call, createCustomer, expectProblem, getCustomer } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

interface AuditRow {
  readonly actor: string
  readonly actor_role: string
  readonly action: string
  readonly customer_id: string
  readonly request_id: string | null
  readonly fields: ReadonlyArray<string>
}

/** A valid customer with every optional field set, so a test sees what a change keeps, clears or erases. */
const fullCustomer = (overrides: Partial<CreateCustomer> = {}) =>
  newCustomer({
    age: 36,
    gender: "FEMALE",
    location: { country: "GB", city: "London", timezone: "Europe/London" },
    preferences: { language: "en", currency: "GBP" },
    tags: ["vip", "newsletter"],
    metadata: { source: "web", visits: 3 },
    ...overrides
  })

const customerPath = (id: string) => `${customersPath}/${id}`

const auditRows = (customerId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<AuditRow>`SELECT actor, actor_role, action, customer_id::text, request_id, fields
      FROM audit_log WHERE customer_id = ${customerId} ORDER BY id`)

/** The PUT body that restates a customer as it is. */
const replacementOf = ({ email, name, age, gender, location, preferences, tags, metadata, status }: Customer) =>
  ({ email, name, age, gender, location, preferences, tags, metadata, status })

layer(testServiceWithDatabase(), { excludeTestServices: true })("updating and deleting customers", (it) => {
  // --- PUT -------------------------------------------------------------------------------------

  it.effect("PUT replaces the mutable representation and clears omitted optional fields", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const response = yield* call("PUT", customerPath(created.id), {
        body: { email: created.email, name: "Ada King", tags: ["vip"], version: 1 }
      })
      assert.strictEqual(response.status, 200)
      const replaced = yield* json<Customer>(response)
      assert.strictEqual(replaced.name, "Ada King")
      assert.deepStrictEqual(replaced.tags, ["vip"])
      assert.isNull(replaced.age)
      assert.isNull(replaced.gender)
      assert.isNull(replaced.location)
      assert.deepStrictEqual(replaced.preferences, {})
      assert.deepStrictEqual(replaced.metadata, {})
      // Not part of the replaceable representation: kept as they were.
      assert.strictEqual(replaced.email, created.email)
      assert.strictEqual(replaced.status, "ACTIVE")
      assert.deepStrictEqual(replaced.consent, created.consent)
      assert.strictEqual(replaced.version, 2)
      assert.deepStrictEqual(yield* getCustomer(created.id), replaced)
    }))

  it.effect("PUT without If-Match or a body version answers 428 precondition-required and changes nothing", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const { version: _version, ...withoutVersion } = { ...replacementOf(created), name: "Nobody", version: 1 }
      const response = yield* call("PUT", customerPath(created.id), { body: withoutVersion })
      yield* expectProblem(response, 428, "/problems/precondition-required")
      const after = yield* getCustomer(created.id)
      assert.strictEqual(after.version, 1)
      assert.strictEqual(after.name, created.name)
    }))

  it.effect("PUT with If-Match of the current version answers 200 with version 2 and ETag \"v2\"", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const response = yield* call("PUT", customerPath(created.id), {
        body: { ...replacementOf(created), name: "Ada Byron" },
        headers: { "if-match": "\"v1\"" }
      })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("etag"), "\"v2\"")
      const replaced = yield* json<Customer>(response)
      assert.strictEqual(replaced.version, 2)
      assert.strictEqual(replaced.name, "Ada Byron")
    }))

  it.effect("PUT with a stale If-Match answers 412 version-conflict and changes nothing", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const first = yield* call("PUT", customerPath(created.id), {
        body: { ...replacementOf(created), name: "First Writer" },
        headers: { "if-match": "\"v1\"" }
      })
      assert.strictEqual(first.status, 200)
      const stale = yield* call("PUT", customerPath(created.id), {
        body: { ...replacementOf(created), name: "Late Writer" },
        headers: { "if-match": "\"v1\"" }
      })
      yield* expectProblem(stale, 412, "/problems/version-conflict")
      const after = yield* getCustomer(created.id)
      assert.strictEqual(after.version, 2)
      assert.strictEqual(after.name, "First Writer")
      assert.lengthOf(yield* outboxRows(`customers.${created.id}.updated`), 1)
    }))

  it.effect("PUT with a stale body version answers 412 version-conflict and changes nothing", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const first = yield* call("PUT", customerPath(created.id), {
        body: { ...replacementOf(created), name: "First Writer", version: 1 }
      })
      assert.strictEqual(first.status, 200)
      const stale = yield* call("PUT", customerPath(created.id), {
        body: { ...replacementOf(created), name: "Late Writer", version: 1 }
      })
      yield* expectProblem(stale, 412, "/problems/version-conflict")
      const after = yield* getCustomer(created.id)
      assert.strictEqual(after.version, 2)
      assert.strictEqual(after.name, "First Writer")
    }))

  it.effect("PUT whose If-Match and body version disagree answers 412 and changes nothing", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const response = yield* call("PUT", customerPath(created.id), {
        body: { ...replacementOf(created), name: "Confused Writer", version: 2 },
        headers: { "if-match": "\"v1\"" }
      })
      yield* expectProblem(response, 412, "/problems/version-conflict")
      const after = yield* getCustomer(created.id)
      assert.strictEqual(after.version, 1)
      assert.strictEqual(after.name, created.name)
    }))

  // --- PATCH -----------------------------------------------------------------------------------

  it.effect("PUT of the object GET returned, with one field changed, answers 200 (read-only fields sent back are ignored)", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const read = yield* getCustomer(created.id)
      const response = yield* call("PUT", customerPath(created.id), {
        body: { ...read, name: "Round Tripped" },
        headers: { "if-match": "\"v1\"" }
      })
      assert.strictEqual(response.status, 200)
      const replaced = yield* json<Customer>(response)
      assert.strictEqual(replaced.name, "Round Tripped")
      assert.strictEqual(replaced.version, 2)
      assert.deepStrictEqual({ ...replaced, name: read.name, version: 1, updatedAt: read.updatedAt }, read)
    }))

  const readOnlyChanges = [
    { field: "id", value: "018f0000-0000-7000-8000-000000000000" },
    { field: "emailVerified", value: true },
    { field: "pendingEmail", value: "someone.else@example.com" },
    { field: "consent", value: { marketing: true, dataProcessing: true } },
    { field: "createdAt", value: "2001-01-01T00:00:00.000Z" },
    { field: "updatedAt", value: "2001-01-01T00:00:00.000Z" },
    { field: "lastActivity", value: "2001-01-01T00:00:00.000Z" }
  ]

  it.effect.each(readOnlyChanges)("PUT with a changed read-only $field answers 422 naming it and changes nothing", ({ field, value }) =>
    Effect.gen(function*() {
      const created = yield* createCustomer()
      const read = yield* getCustomer(created.id)
      const response = yield* call("PUT", customerPath(created.id), { body: { ...read, name: "Mass Assigned", [field]: value } })
      const problem = yield* expectProblem(response, 422, "/problems/read-only-field")
      assert.strictEqual(problem.field, field)
      assert.deepStrictEqual(yield* getCustomer(created.id), read)
    }))

  it.effect("an If-Match that names no version answers 412 without inventing a version, and changes nothing", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer()
      const response = yield* call("PATCH", customerPath(created.id), {
        body: { name: "Tagless" },
        headers: { "if-match": "\"some-other-tag\"" }
      })
      const problem = yield* expectProblem(response, 412, "/problems/version-conflict")
      assert.notProperty(problem, "expectedVersion")
      assert.notProperty(problem, "currentVersion")
      assert.strictEqual((yield* getCustomer(created.id)).name, created.name)
    }))

  it.effect("PATCH changes only the fields it names", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const response = yield* call("PATCH", customerPath(created.id), { body: { age: 37, tags: ["vip", "premium"] } })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("etag"), "\"v2\"")
      const patched = yield* json<Customer>(response)
      assert.deepStrictEqual(patched, {
        ...created,
        age: 37,
        tags: ["vip", "premium"],
        version: 2,
        updatedAt: patched.updatedAt,
        lastActivity: patched.lastActivity
      })
    }))

  it.effect("PATCH with null clears optional fields", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const response = yield* call("PATCH", customerPath(created.id), { body: { age: null, gender: null, location: null } })
      assert.strictEqual(response.status, 200)
      const patched = yield* json<Customer>(response)
      assert.isNull(patched.age)
      assert.isNull(patched.gender)
      assert.isNull(patched.location)
      assert.strictEqual(patched.name, created.name)
      assert.deepStrictEqual(patched.tags, created.tags)
      assert.deepStrictEqual(patched.metadata, created.metadata)
      const sql = yield* PgClient.PgClient
      const [row] = yield* sql`SELECT age, gender, location FROM customers WHERE id = ${created.id}`
      assert.deepStrictEqual({ ...row }, { age: null, gender: null, location: null })
    }))

  it.effect("a PATCH that changes nothing does not bump the version or publish an event", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const response = yield* call("PATCH", customerPath(created.id), {
        body: { name: created.name, age: created.age, tags: created.tags }
      })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("etag"), "\"v1\"")
      assert.strictEqual((yield* json<Customer>(response)).version, 1)
      assert.strictEqual((yield* getCustomer(created.id)).version, 1)
      assert.lengthOf(yield* outboxRows(`customers.${created.id}.updated`), 0)
    }))

  // --- Concurrency -----------------------------------------------------------------------------

  it.effect("of 10 concurrent PUTs sending version 1 exactly one succeeds and the rest get 412", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const responses = yield* Effect.all(
        Array.from({ length: 10 }, (_, i) =>
          call("PUT", customerPath(created.id), { body: { ...replacementOf(created), name: `Racer ${i}`, version: 1 } })),
        { concurrency: "unbounded" }
      )
      const statuses = responses.map((response) => response.status)
      assert.strictEqual(statuses.filter((status) => status === 200).length, 1, `statuses: ${statuses}`)
      assert.strictEqual(statuses.filter((status) => status === 412).length, 9, `statuses: ${statuses}`)
      const winner = yield* json<Customer>(responses.find((response) => response.status === 200)!)
      const after = yield* getCustomer(created.id)
      assert.strictEqual(after.version, 2)
      assert.strictEqual(after.name, winner.name)
      const events = yield* outboxRows(`customers.${created.id}.updated`)
      assert.lengthOf(events, 1)
      assert.strictEqual(events[0].payload.version, 2)
      assert.strictEqual(events[0].payload.customer?.version, winner.version)
    }))

  it.effect("concurrent PATCHes without a version are serialised and none is lost", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const writers = 10
      const responses = yield* Effect.all(
        Array.from({ length: writers }, (_, i) => call("PATCH", customerPath(created.id), { body: { name: `Writer ${i}` } })),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(responses.map((response) => response.status), Array(writers).fill(200))
      const versions = yield* Effect.forEach(responses, (response) => Effect.map(json<Customer>(response), (c) => c.version))
      assert.deepStrictEqual([...versions].sort((a, b) => a - b), Array.from({ length: writers }, (_, i) => i + 2))
      assert.strictEqual((yield* getCustomer(created.id)).version, 1 + writers)
      const events = yield* outboxRows(`customers.${created.id}.updated`)
      assert.deepStrictEqual(
        events.map((event) => event.payload.version),
        Array.from({ length: writers }, (_, i) => i + 2)
      )
    }))

  // --- Status rules ----------------------------------------------------------------------------

  it.effect("an agent may move a customer from ACTIVE to INACTIVE and back", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const inactive = yield* call("PATCH", customerPath(created.id), { body: { status: "INACTIVE" }, role: "agent" })
      assert.strictEqual(inactive.status, 200)
      assert.strictEqual((yield* json<Customer>(inactive)).status, "INACTIVE")
      const active = yield* call("PATCH", customerPath(created.id), { body: { status: "ACTIVE" }, role: "agent" })
      assert.strictEqual(active.status, 200)
      const after = yield* json<Customer>(active)
      assert.strictEqual(after.status, "ACTIVE")
      assert.strictEqual(after.version, 3)
    }))

  it.effect("an agent cannot suspend a customer (403 forbidden)", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const response = yield* call("PATCH", customerPath(created.id), { body: { status: "SUSPENDED" }, role: "agent" })
      yield* expectProblem(response, 403, "/problems/forbidden")
      const after = yield* getCustomer(created.id)
      assert.strictEqual(after.status, "ACTIVE")
      assert.strictEqual(after.version, 1)
    }))

  it.effect("an admin may suspend a customer and lift the suspension", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const suspended = yield* call("PATCH", customerPath(created.id), { body: { status: "SUSPENDED" } })
      assert.strictEqual(suspended.status, 200)
      assert.strictEqual((yield* json<Customer>(suspended)).status, "SUSPENDED")
      const restored = yield* call("PATCH", customerPath(created.id), { body: { status: "ACTIVE" } })
      assert.strictEqual(restored.status, 200)
      assert.strictEqual((yield* json<Customer>(restored)).status, "ACTIVE")
    }))

  it.effect("an agent cannot lift a suspension (403 forbidden)", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      assert.strictEqual((yield* call("PATCH", customerPath(created.id), { body: { status: "SUSPENDED" } })).status, 200)
      const response = yield* call("PATCH", customerPath(created.id), { body: { status: "ACTIVE" }, role: "agent" })
      yield* expectProblem(response, 403, "/problems/forbidden")
      assert.strictEqual((yield* getCustomer(created.id)).status, "SUSPENDED")
    }))

  it.effect("status DELETED in a PATCH is rejected by the schema (400)", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const response = yield* call("PATCH", customerPath(created.id), { body: { status: "DELETED" } })
      yield* expectProblem(response, 400, "/problems/invalid-request")
      const after = yield* getCustomer(created.id)
      assert.strictEqual(after.status, "ACTIVE")
      assert.strictEqual(after.version, 1)
    }))

  it.effect("after DELETE the customer is gone: GET and PATCH answer 404", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const deleted = yield* call("DELETE", customerPath(created.id))
      assert.strictEqual(deleted.status, 204)
      yield* expectProblem(yield* call("GET", customerPath(created.id)), 404, "/problems/customer-not-found")
      yield* expectProblem(
        yield* call("PATCH", customerPath(created.id), { body: { name: "Lazarus" } }),
        404,
        "/problems/customer-not-found"
      )
      yield* expectProblem(yield* call("DELETE", customerPath(created.id)), 404, "/problems/customer-not-found")
    }))

  it.effect("DELETE erases the customer's PII in its row and publishes customers.<id>.deleted", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer({ name: "Grace Hopper" }))
      assert.strictEqual((yield* call("DELETE", customerPath(created.id))).status, 204)
      const sql = yield* PgClient.PgClient
      const [row] = yield* sql<{ readonly [column: string]: unknown }>`SELECT
        email, pending_email, name, personal_sealed, email_index,
        name_tokens, email_tokens, age, gender, location, preferences, tags, metadata, status, deleted_at
        FROM customers WHERE id = ${created.id}`
      // Nothing personal remains in the row, sealed or clear, nor its blind index and search tokens.
      for (
        const column of ["email", "pending_email", "name", "personal_sealed", "email_index", "name_tokens", "email_tokens"]
      ) assert.isNull(row[column], column)
      assert.isNull(row.age)
      assert.isNull(row.gender)
      assert.isNull(row.location)
      assert.deepStrictEqual(row.preferences, {})
      assert.deepStrictEqual(row.tags, [])
      assert.deepStrictEqual(row.metadata, {})
      assert.strictEqual(row.status, "DELETED")
      assert.isNotNull(row.deleted_at)
      const events = yield* outboxRows(`customers.${created.id}.deleted`)
      assert.lengthOf(events, 1)
      const payload = JSON.stringify(events[0].payload)
      assert.notInclude(payload, created.email)
      assert.notInclude(payload, "Grace Hopper")
    }))

  it.effect("DELETE with a stale If-Match answers 412 and keeps the customer", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      assert.strictEqual((yield* call("PATCH", customerPath(created.id), { body: { age: 50 } })).status, 200)
      const response = yield* call("DELETE", customerPath(created.id), { headers: { "if-match": "\"v1\"" } })
      yield* expectProblem(response, 412, "/problems/version-conflict")
      const after = yield* getCustomer(created.id)
      assert.strictEqual(after.status, "ACTIVE")
      assert.strictEqual(after.version, 2)
      assert.lengthOf(yield* outboxRows(`customers.${created.id}.deleted`), 0)
    }))

  it.effect("an analyst cannot delete a customer (403 forbidden)", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const response = yield* call("DELETE", customerPath(created.id), { role: "analyst" })
      yield* expectProblem(response, 403, "/problems/forbidden")
      assert.strictEqual((yield* getCustomer(created.id)).status, "ACTIVE")
    }))

  // --- Email change ----------------------------------------------------------------------------

  it.effect("PATCH with a new email keeps the current address, holds the new one as pending and requests verification", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const newEmail = uniqueEmail("ada-new")
      const response = yield* call("PATCH", customerPath(created.id), { body: { email: newEmail } })
      assert.strictEqual(response.status, 200)
      const patched = yield* json<Customer>(response)
      assert.strictEqual(patched.email, created.email)
      assert.strictEqual(patched.pendingEmail, newEmail)
      assert.isFalse(patched.emailVerified)
      const requests = yield* outboxRows(`customers.${created.id}.email-verification-requested`)
      assert.lengthOf(requests, 1)
      // The address is not in the event (any subscriber reads the stream); the mailer reads pendingEmail.
      assert.notProperty(requests[0].payload, "email")
      assert.notInclude(JSON.stringify(requests[0].payload), newEmail)
      assert.isString(requests[0].payload.token)
      assert.isAtLeast(requests[0].payload.token?.length ?? 0, 16)
      // Only a hash of the token is stored with the pending change; the address is sealed with the customer.
      const sql = yield* PgClient.PgClient
      const [pending] = yield* sql`SELECT email, token_hash FROM email_verifications WHERE customer_id = ${created.id}`
      assert.isNull(pending.email)
      assert.notStrictEqual(pending.token_hash, requests[0].payload.token)
    }))

  it.effect("verifying an email with a wrong token answers 422 invalid-verification-token", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      assert.strictEqual((yield* call("PATCH", customerPath(created.id), { body: { email: uniqueEmail("other") } })).status, 200)
      const response = yield* call("POST", `${customerPath(created.id)}/email/verify`, {
        body: { token: "this-is-not-the-right-token-at-all" }
      })
      yield* expectProblem(response, 422, "/problems/invalid-verification-token")
      const after = yield* getCustomer(created.id)
      assert.strictEqual(after.email, created.email)
      assert.isNotNull(after.pendingEmail)
    }))

  it.effect("verifying an email with the emailed token replaces the address and marks it verified", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const newEmail = uniqueEmail("verified")
      assert.strictEqual((yield* call("PATCH", customerPath(created.id), { body: { email: newEmail } })).status, 200)
      const token = yield* verificationToken(created.id)
      const response = yield* call("POST", `${customerPath(created.id)}/email/verify`, { body: { token } })
      assert.strictEqual(response.status, 200)
      const verified = yield* json<Customer>(response)
      assert.strictEqual(verified.email, newEmail)
      assert.isTrue(verified.emailVerified)
      assert.isNull(verified.pendingEmail)
      assert.deepStrictEqual(yield* getCustomer(created.id), verified)
      assert.lengthOf(yield* outboxRows(`customers.${created.id}.email-verified`), 1)
    }))

  it.effect("an email verification token cannot be used twice", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      assert.strictEqual((yield* call("PATCH", customerPath(created.id), { body: { email: uniqueEmail("once") } })).status, 200)
      const token = yield* verificationToken(created.id)
      const verify = () => call("POST", `${customerPath(created.id)}/email/verify`, { body: { token } })
      assert.strictEqual((yield* verify()).status, 200)
      yield* expectProblem(yield* verify(), 422, "/problems/invalid-verification-token")
      assert.strictEqual((yield* getCustomer(created.id)).version, 3)
    }))

  it.effect("changing the email to another customer's address answers 409, whatever its case", () =>
    Effect.gen(function*() {
      const other = yield* createCustomer(fullCustomer())
      const created = yield* createCustomer(fullCustomer())
      const response = yield* call("PATCH", customerPath(created.id), { body: { email: other.email.toUpperCase() } })
      yield* expectProblem(response, 409, "/problems/email-already-exists")
      const after = yield* getCustomer(created.id)
      assert.isNull(after.pendingEmail)
      assert.strictEqual(after.version, 1)
      assert.lengthOf(yield* outboxRows(`customers.${created.id}.email-verification-requested`), 0)
    }))

  it.effect("verifying an address taken by another customer in the meantime answers 409", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const contested = uniqueEmail("contested")
      assert.strictEqual((yield* call("PATCH", customerPath(created.id), { body: { email: contested } })).status, 200)
      const token = yield* verificationToken(created.id)
      yield* createCustomer(fullCustomer({ email: contested }))
      const response = yield* call("POST", `${customerPath(created.id)}/email/verify`, { body: { token } })
      yield* expectProblem(response, 409, "/problems/email-already-exists")
      const after = yield* getCustomer(created.id)
      assert.strictEqual(after.email, created.email)
      assert.isFalse(after.emailVerified)
    }))

  // --- Audit -----------------------------------------------------------------------------------

  it.effect("each successful command writes an audit row naming actor, role, action and changed fields", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const path = customerPath(created.id)
      const patched = yield* call("PATCH", path, {
        body: { age: 40, email: uniqueEmail("audited") },
        role: "agent",
        headers: { "x-request-id": "audit-trace-1" }
      })
      assert.strictEqual(patched.status, 200)
      const token = yield* verificationToken(created.id)
      assert.strictEqual((yield* call("POST", `${path}/email/verify`, { body: { token }, role: "service" })).status, 200)
      assert.strictEqual((yield* call("DELETE", path)).status, 204)
      const rows = yield* auditRows(created.id)
      assert.deepStrictEqual(rows.map(({ actor, actor_role, action }) => ({ actor, actor_role, action })), [
        { actor: "user:test-admin", actor_role: "admin", action: "customer.create" },
        { actor: "user:test-agent", actor_role: "agent", action: "customer.update" },
        { actor: "user:test-service", actor_role: "service", action: "customer.verify-email" },
        { actor: "user:test-admin", actor_role: "admin", action: "customer.delete" }
      ])
      assert.includeMembers([...rows[0].fields], ["email", "name", "consent"])
      assert.sameMembers([...rows[1].fields], ["age", "pendingEmail"])
      assert.strictEqual(rows[1].request_id, "audit-trace-1")
      assert.deepStrictEqual([...rows[2].fields], ["email"])
    }))

  it.effect("a refused or no-op command writes no audit row", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer())
      const path = customerPath(created.id)
      assert.strictEqual((yield* call("PUT", path, { body: { ...replacementOf(created), version: 7 } })).status, 412)
      assert.strictEqual((yield* call("PATCH", path, { body: { status: "SUSPENDED" }, role: "agent" })).status, 403)
      assert.strictEqual((yield* call("DELETE", path, { role: "analyst" })).status, 403)
      assert.strictEqual((yield* call("PATCH", path, { body: { name: created.name } })).status, 200)
      const rows = yield* auditRows(created.id)
      assert.deepStrictEqual(rows.map((row) => row.action), ["customer.create"])
    }))

  it.effect("audit rows hold field names only, never emails or names", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(fullCustomer({ name: "Katherine Johnson" }))
      const path = customerPath(created.id)
      const newEmail = uniqueEmail("kj")
      assert.strictEqual((yield* call("PATCH", path, { body: { name: "Katherine Goble", email: newEmail } })).status, 200)
      const token = yield* verificationToken(created.id)
      assert.strictEqual((yield* call("POST", `${path}/email/verify`, { body: { token } })).status, 200)
      assert.strictEqual((yield* call("PUT", path, { body: { email: newEmail, name: "K. Johnson", version: 3 } })).status, 200)
      const rows = yield* auditRows(created.id)
      assert.lengthOf(rows, 4)
      const text = JSON.stringify(rows)
      for (const value of [created.email, newEmail, "Katherine", "Goble", "K. Johnson", token, "London", "GBP"]) {
        assert.notInclude(text, value)
      }
      const fieldNames = new Set(["email", "name", "age", "gender", "location", "preferences", "tags", "metadata",
        "consent", "status", "pendingEmail", "emailVerified"])
      for (const row of rows) {
        for (const field of row.fields) assert.isTrue(fieldNames.has(field), `unexpected audit field ${field}`)
      }
    }))
})

layer(testServiceWithDatabase(), { excludeTestServices: true })("concurrent updates grouped into one statement", (it) => {
  const actor: Actor = { kind: "user", subject: "grouped-updates", role: "admin" }
  /** Updates of these customers started together, through the service the REST and RPC doors call. */
  const updateTogether = (changes: ReadonlyArray<{ readonly id: string; readonly patch: PatchCustomer }>) =>
    Effect.flatMap(Customers, (customers) =>
      Effect.forEach(changes, ({ id, patch }) =>
        Effect.result(
          customers.update({ actor, requestId: null, id: CustomerId.make(id), patch, expectedVersion: null })
        ), { concurrency: "unbounded" }))

  it.effect("updates of different customers arriving together commit in one transaction, each with its event and audit entry", () =>
    Effect.gen(function*() {
      const created = yield* Effect.forEach(Array.from({ length: 6 }, () => fullCustomer()), createCustomer)
      const results = yield* updateTogether(created.map(({ id }, n) => ({ id, patch: { name: `Grouped ${n}` } })))
      assert.isTrue(results.every(Result.isSuccess))
      const sql = yield* PgClient.PgClient
      const ids = created.map(({ id }) => id)
      const [{ n }] = yield* sql<{ readonly n: number }>`SELECT count(DISTINCT xmin::text)::int AS n FROM customers
        WHERE id = ANY(${ids}::uuid[])`
      assert.strictEqual(n, 1)
      for (const { id } of created) {
        assert.strictEqual((yield* outboxRows(`customers.${id}.updated`)).length, 1)
        assert.deepStrictEqual((yield* auditRows(id)).map((row) => row.action), ["customer.create", "customer.update"])
      }
    }))

  it.effect("an update of the group that loses a race is refused alone: the others of its statement are written", () =>
    Effect.gen(function*() {
      const created = yield* Effect.forEach(Array.from({ length: 3 }, () => fullCustomer()), createCustomer)
      const [raced, ...others] = created
      const sql = yield* PgClient.PgClient
      // Another writer holds the raced customer's row while the group reads and writes, then moves it on.
      const results = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1 FROM customers WHERE id = ${raced.id} FOR UPDATE`
        const group = yield* Effect.forkDetach(
          updateTogether(created.map(({ id }) => ({ id, patch: { name: "Grouped Writer" } })))
        )
        yield* Effect.sleep("500 millis")
        yield* sql`UPDATE customers SET version = 7 WHERE id = ${raced.id}`
        return group
      })).pipe(Effect.orDie, Effect.flatMap(Fiber.join))
      const [racedResult, ...otherResults] = results
      assert.isTrue(Result.isFailure(racedResult) && racedResult.failure._tag === "VersionConflict")
      assert.isTrue(otherResults.every(Result.isSuccess))
      const [{ n }] = yield* sql<{ readonly n: number }>`SELECT count(DISTINCT xmin::text)::int AS n FROM customers
        WHERE id = ANY(${others.map(({ id }) => id)}::uuid[])`
      assert.strictEqual(n, 1)
      for (const { id } of others) {
        assert.strictEqual((yield* getCustomer(id)).name, "Grouped Writer")
        assert.strictEqual((yield* outboxRows(`customers.${id}.updated`)).length, 1)
      }
      assert.deepStrictEqual(yield* outboxRows(`customers.${raced.id}.updated`), [])
      assert.deepStrictEqual((yield* auditRows(raced.id)).map((row) => row.action), ["customer.create"])
    }))
})
