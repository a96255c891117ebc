/**
 * POST /api/v1/customers and GET /api/v1/customers/:id against the running
 * service: what is created, what is refused (and that a refusal writes
 * nothing), Idempotency-Key replays, and reads by id.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Result } from "effect"
import { BlindIndex } from "../../src/privacy/BlindIndex.ts"
import type { Actor } from "../../src/domain/Access.ts"
import { type CreateCustomer, CustomerId } from "../../src/domain/Customer.ts"
import { CustomerCreation } from "../../src/customers/CustomerEntity.ts"
import { uuidv7 } from "../../src/platform/Ids.ts"
import { type CustomerBody, customersPath, newCustomer, uniqueEmail } from "../support/Customers.ts"
import { testServiceWithDatabase, writeCounts } from "../support/Database.ts"
import { createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import { json, TestService } from "../support/TestService.ts"

/** A valid create body with `overrides` on top, which may well make it invalid. */
const validInput = (overrides: Record<string, unknown> = {}) => ({ ...newCustomer(), ...overrides })

/** POSTs `body` to the customers endpoint: as JSON, or as it is when already a string (malformed JSON, say). */
const post = (body: unknown, headers: Record<string, string> = {}) =>
  Effect.flatMap(TestService, ({ request }) =>
    request(customersPath, {
      method: "POST",
      headers,
      body: typeof body === "string" ? body : JSON.stringify(body)
    }))

/** Runs a request that must be refused and checks that nothing landed in any table. */
const writesNothing = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const before = yield* writeCounts
    const result = yield* effect
    assert.deepStrictEqual(yield* writeCounts, before, "a refused request wrote to the database")
    return result
  })

// The service runs on the real clock: its cluster and pools must not wait on a TestClock.
const Env = testServiceWithDatabase()

layer(Env, { excludeTestServices: true })("POST /api/v1/customers", (it) => {
  it.effect("a valid customer is created with 201, its body, ETag \"v1\" and a Location naming it", () =>
    Effect.gen(function*() {
      const input = validInput({ name: "Grace Hopper", age: 36, tags: ["vip"] })
      const response = yield* post(input)
      assert.strictEqual(response.status, 201)
      assert.match(response.headers.get("content-type") ?? "", /^application\/json/)
      const customer = yield* json<CustomerBody>(response)
      assert.match(customer.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      assert.strictEqual(customer.email, input.email)
      assert.strictEqual(customer.name, "Grace Hopper")
      assert.strictEqual(customer.age, 36)
      assert.deepStrictEqual(customer.tags, ["vip"])
      assert.deepStrictEqual(customer.consent, { marketing: false, dataProcessing: true })
      assert.strictEqual(response.headers.get("etag"), "\"v1\"")
      assert.strictEqual(response.headers.get("location"), `${customersPath}/${customer.id}`)
    }))

  it.effect("a new customer gets the defaults: ACTIVE, version 1, unverified email, empty preferences, tags and metadata", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      assert.strictEqual(customer.status, "ACTIVE")
      assert.strictEqual(customer.version, 1)
      assert.isFalse(customer.emailVerified)
      assert.isNull(customer.pendingEmail)
      assert.deepStrictEqual(customer.preferences, {})
      assert.deepStrictEqual(customer.tags, [])
      assert.deepStrictEqual(customer.metadata, {})
      assert.isNull(customer.age)
      assert.isNull(customer.gender)
      assert.isNull(customer.location)
      assert.strictEqual(customer.createdAt, customer.updatedAt)
      assert.isFalse(Number.isNaN(Date.parse(customer.createdAt)))
    }))

  it.effect("a create writes the row, one customers.<id>.created outbox event and one audit entry", () =>
    Effect.gen(function*() {
      const before = yield* writeCounts
      const customer = yield* createCustomer()
      const sql = yield* PgClient.PgClient
      const events = yield* sql<{ readonly subject: string }>`SELECT subject FROM outbox
        WHERE payload ->> 'customerId' = ${customer.id}`
      assert.deepStrictEqual(events.map((event) => event.subject), [`customers.${customer.id}.created`])
      const audits = yield* sql<{ readonly action: string }>`SELECT action FROM audit_log
        WHERE customer_id = ${customer.id}`
      assert.deepStrictEqual(audits.map((entry) => entry.action), ["customer.create"])
      assert.deepStrictEqual(yield* writeCounts, {
        ...before,
        customers: before.customers + 1,
        outbox: before.outbox + 1,
        audit: before.audit + 1
      })
    }))

  it.effect("a body without consent.dataProcessing is refused with 400 naming payload.consent.dataProcessing", () =>
    Effect.gen(function*() {
      const response = yield* writesNothing(post(validInput({ consent: { marketing: true } })))
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(problem), ["payload.consent.dataProcessing"])
    }))

  it.effect("refusing consent to data processing is answered 422 consent-required", () =>
    Effect.gen(function*() {
      const response = yield* writesNothing(post(validInput({ consent: { marketing: true, dataProcessing: false } })))
      const problem = yield* expectProblem(response, 422, "/problems/consent-required")
      assert.strictEqual(problem.field, "consent.dataProcessing")
    }))

  it.effect("a duplicate email, in any letter case, is refused with 409", () =>
    Effect.gen(function*() {
      const email = uniqueEmail("Mixed.Case")
      yield* createCustomer(newCustomer({ email }))
      for (const variant of [email, email.toUpperCase(), email.toLowerCase()]) {
        const response = yield* writesNothing(post(validInput({ email: variant, name: "Someone Else" })))
        const problem = yield* expectProblem(response, 409, "/problems/email-already-exists")
        assert.strictEqual(problem.field, "email")
      }
    }))

  const invalidFields: ReadonlyArray<{ readonly label: string; readonly change: Record<string, unknown>; readonly path: string }> = [
    { label: "a malformed email", change: { email: "not-an-email" }, path: "payload.email" },
    { label: "an email without a domain dot", change: { email: "ada@localhost" }, path: "payload.email" },
    { label: "age 151", change: { age: 151 }, path: "payload.age" },
    { label: "a negative age", change: { age: -1 }, path: "payload.age" },
    { label: "a fractional age", change: { age: 36.5 }, path: "payload.age" },
    { label: "age as the string \"36\"", change: { age: "36" }, path: "payload.age" },
    { label: "the unknown country \"XX\"", change: { location: { country: "XX" } }, path: "payload.location.country" },
    { label: "a lower-case country", change: { location: { country: "gb" } }, path: "payload.location.country" },
    {
      label: "an unknown time zone",
      change: { location: { country: "GB", timezone: "Mars/Olympus_Mons" } },
      path: "payload.location.timezone"
    },
    { label: "an unknown preferred currency", change: { preferences: { currency: "XYZ1" } }, path: "payload.preferences.currency" },
    { label: "an unknown top-level field", change: { isAdmin: true }, path: "payload.isAdmin" },
    { label: "an unknown nested field", change: { location: { country: "GB", planet: "Earth" } }, path: "payload.location.planet" },
    { label: "an empty name", change: { name: "" }, path: "payload.name" },
    { label: "a name with surrounding spaces", change: { name: " Ada " }, path: "payload.name" },
    { label: "a name as a number", change: { name: 42 }, path: "payload.name" },
    { label: "an upper-case tag", change: { tags: ["VIP"] }, path: "payload.tags.0" },
    { label: "duplicate tags", change: { tags: ["vip", "vip"] }, path: "payload.tags" },
    { label: "tags as a string", change: { tags: "vip" }, path: "payload.tags" },
    { label: "consent as a boolean", change: { consent: true }, path: "payload.consent" },
    { label: "the status DELETED", change: { status: "DELETED" }, path: "payload.status" },
    { label: "a null email", change: { email: null }, path: "payload.email" },
    { label: "a NUL character in the name", change: { name: "Ada\u0000Lovelace" }, path: "payload.name" },
    { label: "a NUL character in the city", change: { location: { country: "GB", city: "Lon\u0000don" } }, path: "payload.location.city" },
    { label: "a NUL character in metadata", change: { metadata: { note: { text: "a\u0000b" } } }, path: "payload.metadata" },
    { label: "an unpaired surrogate in metadata", change: { metadata: { note: "\udc00" } }, path: "payload.metadata" },
    { label: "an unpaired surrogate in the name", change: { name: "Ada \ud800" }, path: "payload.name" }
  ]

  it.effect.each(invalidFields)("$label is refused with 400 invalid-request naming $path", ({ change, path }) =>
    Effect.gen(function*() {
      const response = yield* writesNothing(post(validInput(change)))
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(problem), [path])
      assert.isString(problem.errors?.[0]?.message)
    }))

  it.effect("several invalid fields are all named in one 400", () =>
    Effect.gen(function*() {
      const response = yield* writesNothing(post(validInput({
        email: "nope",
        age: 151,
        location: { country: "XX", timezone: "Nowhere/Special" },
        extra: 1
      })))
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.sameMembers(invalidPaths(problem), [
        "payload.email",
        "payload.age",
        "payload.location.country",
        "payload.location.timezone",
        "payload.extra"
      ])
    }))

  it.effect("a body that is not JSON is refused with 400 problem+json", () =>
    Effect.gen(function*() {
      const response = yield* writesNothing(post("{\"email\": \"ada@example.com\", "))
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(problem), ["payload"])
    }))

  it.effect("a JSON array instead of an object is refused with 400", () =>
    Effect.gen(function*() {
      const response = yield* writesNothing(post([validInput()]))
      yield* expectProblem(response, 400, "/problems/invalid-request")
    }))

  it.effect("a body over the 1 MiB limit is refused with 413 body-too-large", () =>
    Effect.gen(function*() {
      const body = JSON.stringify(validInput({ metadata: { blob: "x".repeat(2 * 1024 * 1024) } }))
      const response = yield* writesNothing(post(body))
      const problem = yield* expectProblem(response, 413, "/problems/body-too-large")
      assert.include(problem.detail ?? "", "1048576")
    }))

  it.effect("a chunked body over the limit, sent without Content-Length, is refused with 413 body-too-large", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const chunk = new TextEncoder().encode("x".repeat(64 * 1024))
      let sent = 0
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(new TextEncoder().encode("{\"email\":\"big@example.com\",\"name\":\""))
          else if (sent > 32) controller.close()
          else controller.enqueue(chunk)
          sent++
        }
      })
      const init: RequestInit & { readonly duplex: "half" } = { method: "POST", body, duplex: "half" }
      const response = yield* writesNothing(request(customersPath, init))
      yield* expectProblem(response, 413, "/problems/body-too-large")
      assert.isNotNull(response.headers.get("x-request-id"))
    }))
})

layer(Env, { excludeTestServices: true })("concurrent creates grouped into one statement", (it) => {
  const actor: Actor = { kind: "user", subject: "grouped-creates", role: "admin" }
  /** Creates started together, through the service the REST and RPC doors call: each settles on its own. */
  const createTogether = (inputs: ReadonlyArray<CreateCustomer>) =>
    Effect.flatMap(CustomerCreation, (creation) =>
      Effect.forEach(inputs, (input) => {
        const id = CustomerId.make(uuidv7())
        return creation.create(id, { actor, requestId: null, input, idempotency: null }).pipe(
          Effect.map(({ customer }) => customer.id),
          Effect.result,
          Effect.map((result) => ({ id, result }))
        )
      }, { concurrency: "unbounded" }))

  /** How many transactions wrote the rows of these customers, their events and their audit entries. */
  const writingTransactions = (ids: ReadonlyArray<string>) =>
    Effect.flatMap(PgClient.PgClient, (sql) =>
      sql<{ readonly n: number }>`SELECT count(DISTINCT xid)::int AS n FROM (
          SELECT xmin::text AS xid FROM customers WHERE id = ANY(${ids}::uuid[])
          UNION ALL SELECT xmin::text FROM outbox WHERE payload ->> 'customerId' = ANY(${ids}::text[])
          UNION ALL SELECT xmin::text FROM audit_log WHERE customer_id = ANY(${ids}::uuid[])
        ) writes`.pipe(Effect.map(([row]) => row.n)))

  it.effect("creates that arrive together are committed by one statement, each with its row, event and audit entry", () =>
    Effect.gen(function*() {
      const before = yield* writeCounts
      const outcomes = yield* createTogether(Array.from({ length: 6 }, () => newCustomer()))
      const ids = outcomes.map(({ id, result }) => {
        assert.isTrue(Result.isSuccess(result))
        return id
      })
      assert.strictEqual(yield* writingTransactions(ids), 1)
      assert.deepStrictEqual(yield* writeCounts, {
        ...before,
        customers: before.customers + 6,
        outbox: before.outbox + 6,
        audit: before.audit + 6
      })
    }))

  it.effect("a create refused for a taken address fails alone: the others of its group are written", () =>
    Effect.gen(function*() {
      const taken = yield* createCustomer()
      const twice = uniqueEmail("twice")
      const inputs = [newCustomer(), newCustomer({ email: taken.email }), newCustomer({ email: twice }), newCustomer({ email: twice })]
      const before = yield* writeCounts
      const outcomes = yield* createTogether(inputs)
      const refused = outcomes.flatMap(({ result }, index) =>
        Result.isFailure(result) ? [{ index, tag: result.failure._tag }] : []
      )
      // The taken address is refused; of the two creates sharing a new address, exactly one is.
      assert.deepStrictEqual(refused.map((refusal) => refusal.tag), ["EmailAlreadyExists", "EmailAlreadyExists"])
      assert.strictEqual(refused[0].index, 1)
      assert.include([2, 3], refused[1].index)
      const sql = yield* PgClient.PgClient
      const written = outcomes.filter(({ result }) => Result.isSuccess(result)).map(({ id }) => id)
      const rows = yield* sql<{ readonly id: string }>`SELECT id FROM customers WHERE id = ANY(${outcomes.map(({ id }) => id)}::uuid[])`
      assert.sameMembers(rows.map((row) => row.id), written)
      assert.deepStrictEqual(yield* writeCounts, {
        ...before,
        customers: before.customers + 2,
        outbox: before.outbox + 2,
        audit: before.audit + 2
      })
    }))
})

layer(Env, { excludeTestServices: true })("POST /api/v1/customers with an Idempotency-Key", (it) => {
  it.effect("a retry with the same key and body replays the first response, marked idempotent-replayed", () =>
    Effect.gen(function*() {
      const input = validInput()
      const key = `retry-${crypto.randomUUID()}`
      const first = yield* post(input, { "idempotency-key": key })
      assert.strictEqual(first.status, 201)
      assert.isNull(first.headers.get("idempotent-replayed"))
      const created = yield* json<CustomerBody>(first)
      const countsAfterFirst = yield* writeCounts

      const retry = yield* post(input, { "idempotency-key": key })
      assert.strictEqual(retry.status, 201)
      assert.strictEqual(retry.headers.get("idempotent-replayed"), "true")
      assert.strictEqual(retry.headers.get("etag"), "\"v1\"")
      assert.strictEqual(retry.headers.get("location"), `${customersPath}/${created.id}`)
      assert.deepStrictEqual(yield* json<CustomerBody>(retry), created)
      assert.deepStrictEqual(yield* writeCounts, countsAfterFirst)

      const sql = yield* PgClient.PgClient
      // Through the blind index: the address itself is sealed.
      const rows = yield* sql`SELECT id FROM customers WHERE email_index = ${(yield* BlindIndex).email(input.email)}`
      assert.strictEqual(rows.length, 1)
    }))

  it.effect("a retry that lists the same fields in another order is still a replay", () =>
    Effect.gen(function*() {
      const key = `reorder-${crypto.randomUUID()}`
      const email = uniqueEmail()
      const first = yield* post(
        { email, name: "Order Test", age: 40, consent: { marketing: true, dataProcessing: true } },
        { "idempotency-key": key }
      )
      assert.strictEqual(first.status, 201)
      const retry = yield* post(
        { consent: { dataProcessing: true, marketing: true }, age: 40, name: "Order Test", email },
        { "idempotency-key": key }
      )
      assert.strictEqual(retry.status, 201)
      assert.strictEqual(retry.headers.get("idempotent-replayed"), "true")
      assert.strictEqual((yield* json<CustomerBody>(retry)).id, (yield* json<CustomerBody>(first)).id)
    }))

  it.effect("the same key with a different body is refused with 422 idempotency-key-reused", () =>
    Effect.gen(function*() {
      const key = `reuse-${crypto.randomUUID()}`
      const first = yield* post(validInput(), { "idempotency-key": key })
      assert.strictEqual(first.status, 201)
      const response = yield* writesNothing(post(validInput({ name: "Changed Name" }), { "idempotency-key": key }))
      const problem = yield* expectProblem(response, 422, "/problems/idempotency-key-reused")
      assert.strictEqual(problem.field, "Idempotency-Key")
    }))

  it.effect("an Idempotency-Key is scoped to its caller: another caller's same key creates its own customer", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const key = `shared-${crypto.randomUUID()}`
      const mine = yield* post(validInput(), { "idempotency-key": key })
      assert.strictEqual(mine.status, 201)
      const theirs = yield* request(customersPath, {
        method: "POST",
        role: "agent",
        headers: { "idempotency-key": key },
        body: JSON.stringify(validInput())
      })
      assert.strictEqual(theirs.status, 201)
      assert.isNull(theirs.headers.get("idempotent-replayed"))
      assert.notStrictEqual((yield* json<CustomerBody>(theirs)).id, (yield* json<CustomerBody>(mine)).id)
    }))

  it.effect("20 concurrent creates with one key and body make one customer and one created event, all answered alike", () =>
    Effect.gen(function*() {
      const input = validInput()
      const key = `burst-${crypto.randomUUID()}`
      const responses = yield* Effect.all(
        Array.from({ length: 20 }, () =>
          Effect.flatMap(post(input, { "idempotency-key": key }), (response) =>
            Effect.map(json<CustomerBody>(response), (body) => ({ status: response.status, body })))),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(responses.map((response) => response.status), Array(20).fill(201))
      const ids = new Set(responses.map((response) => response.body.id))
      assert.strictEqual(ids.size, 1)
      const [id] = ids

      const sql = yield* PgClient.PgClient
      const rows = yield* sql<{ readonly id: string }>`SELECT id FROM customers
        WHERE email_index = ${(yield* BlindIndex).email(input.email)}`
      assert.deepStrictEqual(rows.map((row) => row.id), [id])
      const events = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM outbox
        WHERE subject = ${`customers.${id}.created`}`
      assert.strictEqual(events[0].n, 1)
      const audits = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM audit_log WHERE customer_id = ${id}`
      assert.strictEqual(audits[0].n, 1)
    }))

  it.effect("an empty Idempotency-Key is refused with 400 naming the header", () =>
    Effect.gen(function*() {
      const response = yield* writesNothing(post(validInput(), { "idempotency-key": "" }))
      const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(problem), ["headers.idempotency-key"])
    }))
})

layer(Env, { excludeTestServices: true })("GET /api/v1/customers/:id", (it) => {
  it.effect("a customer is read back with 200, the created representation and its ETag", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const created = yield* createCustomer(
        newCustomer({ age: 52, location: { country: "GB", city: "London", timezone: "Europe/London" } })
      )
      const response = yield* request(`${customersPath}/${created.id}`)
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("etag"), "\"v1\"")
      assert.deepStrictEqual(yield* json<CustomerBody>(response), created)
    }))

  it.effect("concurrent reads, batched into one statement, each get their own customer or a 404", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const created = yield* Effect.forEach(Array.from({ length: 12 }, () => newCustomer()), (body) =>
        createCustomer(body), { concurrency: 4 })
      const ids = [...created.map((customer) => customer.id), crypto.randomUUID(), crypto.randomUUID()]
      const answers = yield* Effect.forEach(ids, (id) =>
        request(`${customersPath}/${id}`).pipe(
          Effect.flatMap((response): Effect.Effect<CustomerBody | number> =>
            response.status === 200 ? json<CustomerBody>(response) : Effect.succeed(response.status)
          )
        ), { concurrency: "unbounded" })
      assert.deepStrictEqual(answers, [...created, 404, 404])
    }))

  it.effect("a read-only caller can read a customer", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const created = yield* createCustomer()
      const response = yield* request(`${customersPath}/${created.id}`, { role: "analyst" })
      assert.strictEqual(response.status, 200)
    }))

  it.effect("an unknown id is answered 404 customer-not-found", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const id = crypto.randomUUID()
      const response = yield* request(`${customersPath}/${id}`)
      const problem = yield* expectProblem(response, 404, "/problems/customer-not-found")
      assert.propertyVal(problem, "customerId", id)
    }))

  it.effect("a malformed id is refused with 400 naming params.id", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      for (const id of ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "'%20OR%201=1"]) {
        const response = yield* request(`${customersPath}/${id}`)
        const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
        assert.deepStrictEqual(invalidPaths(problem), ["params.id"])
      }
    }))

  it.effect("a deleted customer is answered 404", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const created = yield* createCustomer()
      const deleted = yield* request(`${customersPath}/${created.id}`, { method: "DELETE" })
      assert.strictEqual(deleted.status, 204)
      const response = yield* request(`${customersPath}/${created.id}`)
      yield* expectProblem(response, 404, "/problems/customer-not-found")
    }))
})
