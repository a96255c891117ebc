/**
 * Field-level access, as a specification: for each role and each door, which personal fields are seen whole,
 * masked, reduced or absent. The table below is written out by hand (not derived from Access.ts), so a change
 * of the rules has to change it too. Events and webhooks leave the service to subscribers bound by no role:
 * they carry no personal field at all. A role may not search, filter or sort by what it does not see.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Webhook } from "standardwebhooks"
import type { Role } from "../../src/domain/Access.ts"
import { SegmentMembersJoinedEvent } from "../../src/domain/SegmentEvents.ts"
import { customersPath, newCustomer, unique, uniqueEmail } from "../support/Customers.ts"
import { createDestination, destinationsTestService, durableConsumerReady, receiver } from "../support/Destinations.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { natsConnection, readStream } from "../support/Nats.ts"
import { withRpcClient } from "../support/Rpc.ts"
import { createSegment, dynamicSegment, segmentsPath } from "../support/SegmentsApi.ts"
import { json, natsUrl } from "../support/TestService.ts"

type Seen = "whole" | "masked" | "country" | "absent"

/** The specification: what each role sees of each personal field, on every door that serves a customer. */
const specification: Record<Role, { readonly email: Seen; readonly pendingEmail: Seen; readonly name: Seen; readonly location: Seen }> = {
  admin: { email: "whole", pendingEmail: "whole", name: "whole", location: "whole" },
  service: { email: "whole", pendingEmail: "whole", name: "whole", location: "whole" },
  agent: { email: "masked", pendingEmail: "masked", name: "whole", location: "whole" },
  analyst: { email: "absent", pendingEmail: "absent", name: "absent", location: "country" }
}
const roles = Object.keys(specification) as ReadonlyArray<Role>
/** Roles holding `privacy:export`. */
const exporters: ReadonlyArray<Role> = ["admin", "agent"]

type Served = Readonly<Record<string, unknown>>

interface Fixture {
  readonly id: string
  readonly tag: string
  readonly email: string
  readonly pendingEmail: string
  readonly name: string
  readonly location: { readonly country: string; readonly region: string; readonly city: string; readonly postalCode: string }
}

/** A customer with every personal field filled in, an email change pending. */
const fixture = Effect.gen(function*() {
  const tag = `fields-${unique()}`
  const name = `Field Person ${unique()}`
  const location = { country: "GB", region: "Greater London", city: "Fieldham", postalCode: "FL1 1AA" }
  const created = yield* createCustomer(newCustomer({ name, email: uniqueEmail("field.person"), tags: [tag], location }))
  const pendingEmail = uniqueEmail("moved.person")
  assert.strictEqual((yield* call("PATCH", `${customersPath}/${created.id}`, { body: { email: pendingEmail } })).status, 200)
  return { id: created.id, tag, email: created.email, pendingEmail, name, location } satisfies Fixture
})

const masked = (email: string) => `${email[0]}***${email.slice(email.indexOf("@"))}`

/** Asserts the served customer shows each personal field as the specification says for the role. */
const expectSeenAs = (role: Role, person: Fixture, served: Served) => {
  const spec = specification[role]
  const expected = {
    email: { whole: person.email, masked: masked(person.email) },
    pendingEmail: { whole: person.pendingEmail, masked: masked(person.pendingEmail) },
    name: { whole: person.name },
    location: { whole: person.location, country: { country: person.location.country } }
  } as const
  for (const field of ["email", "pendingEmail", "name", "location"] as const) {
    const seen = spec[field]
    if (seen === "absent") assert.notProperty(served, field, `${role} must not see ${field}`)
    else assert.deepStrictEqual(served[field], (expected[field] as Record<string, unknown>)[seen], `${role}: ${field}`)
  }
  // Whatever is withheld appears nowhere else in the answer either.
  const text = JSON.stringify(served)
  if (spec.email !== "whole") assert.notInclude(text, person.email)
  if (spec.pendingEmail !== "whole") assert.notInclude(text, person.pendingEmail)
  if (spec.name === "absent") assert.notInclude(text, person.name)
  if (spec.location === "country") for (const detail of [person.location.city, person.location.postalCode]) assert.notInclude(text, detail)
}

/** Asserts a payload that leaves the service to any subscriber holds none of the person's data. */
const expectNoPersonalData = (person: Fixture, payload: unknown) => {
  const text = JSON.stringify(payload)
  for (const value of [person.email, person.pendingEmail, person.name, person.location.city, person.location.postalCode]) {
    assert.notInclude(text, value)
  }
}

const restGet = (role: Role, id: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${customersPath}/${id}`, { role })
    assert.strictEqual(response.status, 200)
    return yield* json<Served>(response)
  })

const restList = (role: Role, person: Fixture) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${customersPath}?tag=${person.tag}`, { role })
    assert.strictEqual(response.status, 200)
    const page = yield* json<{ readonly data: ReadonlyArray<Served>; readonly nextCursor: string | null }>(response)
    assert.lengthOf(page.data, 1)
    return page.data[0]
  })

const durable = `test-field-access-${unique()}`

layer(
  destinationsTestService(durable, { SEGMENT_CALCULATION_POLL_SECONDS: "0.2" }),
  { excludeTestServices: true, timeout: 120_000 }
)("field-level access per role and door", (it) => {
  for (const role of roles) {
    it.effect(`${role}: REST get, REST list, RPC get and RPC list serve the fields the role sees`, () =>
      Effect.gen(function*() {
        const person = yield* fixture
        expectSeenAs(role, person, yield* restGet(role, person.id))
        expectSeenAs(role, person, yield* restList(role, person))
        const [got, page] = yield* withRpcClient(
          (client) =>
            Effect.all([
              client.GetCustomer({ id: person.id as never }),
              client.ListCustomers({ tag: person.tag })
            ]),
          role
        )
        expectSeenAs(role, person, got)
        assert.lengthOf(page.data, 1)
        expectSeenAs(role, person, page.data[0])
      }))
  }

  for (const role of exporters) {
    it.effect(`${role}: the data export holds the profile as the role sees it`, () =>
      Effect.gen(function*() {
        const person = yield* fixture
        const response = yield* call("GET", `${customersPath}/${person.id}/data`, { role })
        assert.strictEqual(response.status, 200)
        const exported = yield* json<{ readonly customer: Served }>(response)
        expectSeenAs(role, person, exported.customer)
      }))
  }

  it.effect("a write answers with the writer's view: an agent's patch shows the masked address it wrote", () =>
    Effect.gen(function*() {
      const person = yield* fixture
      const response = yield* call("PATCH", `${customersPath}/${person.id}`, { role: "agent", body: { tags: [person.tag, "vip"] } })
      assert.strictEqual(response.status, 200)
      expectSeenAs("agent", person, yield* json<Served>(response))
    }))

  it.effect("an agent PUTting back the customer it read sends no masked address: masks stand for the stored ones", () =>
    Effect.gen(function*() {
      const person = yield* fixture
      const read = yield* restGet("agent", person.id)
      const response = yield* call("PUT", `${customersPath}/${person.id}`, {
        role: "agent",
        body: read,
        headers: { "if-match": `"v${read.version}"` }
      })
      assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.clone().text()))
      const after = yield* restGet("admin", person.id)
      // As for any role's PUT of what it read: the current address asked again withdraws the pending change.
      assert.strictEqual(after.email, person.email)
      assert.isNull(after.pendingEmail)
      assert.strictEqual(after.name, person.name)
      assert.deepStrictEqual(after.location, person.location)
    }))

  it.effect("an agent can still change the address: a new one is held as pending, and answered masked", () =>
    Effect.gen(function*() {
      const person = yield* fixture
      const newEmail = uniqueEmail("agent.changed")
      const response = yield* call("PATCH", `${customersPath}/${person.id}`, { role: "agent", body: { email: newEmail } })
      assert.strictEqual(response.status, 200)
      assert.strictEqual((yield* json<Served>(response)).pendingEmail, masked(newEmail))
      assert.strictEqual((yield* restGet("admin", person.id)).pendingEmail, newEmail)
    }))

  it.effect("JetStream: every CUSTOMERS event of the person carries no personal field, whatever the subscriber's role", () =>
    Effect.gen(function*() {
      const person = yield* fixture
      const nc = yield* natsConnection(natsUrl)
      const { delivered } = yield* eventually(
        "the created, updated and verification-requested events on the stream",
        readStream(nc, `customers.${person.id}.>`),
        ({ delivered }) => delivered.length >= 3
      )
      assert.deepStrictEqual(delivered.map((message) => message.payload.type), [
        "customer.created",
        "customer.updated",
        "customer.email-verification-requested"
      ])
      for (const { payload } of delivered) {
        expectNoPersonalData(person, payload)
        const customer = (payload as { readonly customer?: Served }).customer
        if (customer !== undefined) {
          for (const field of ["email", "pendingEmail", "name", "location"]) assert.notProperty(customer, field)
          assert.deepStrictEqual(customer.tags, [person.tag])
        }
      }
      // The mailer gets the token from the event and the address through the API, as a service.
      assert.isString((delivered[2].payload as { readonly token?: string }).token)
      assert.strictEqual((yield* restGet("service", person.id)).pendingEmail, person.pendingEmail)
    }))

  it.effect("webhooks: a segment's join reaches a destination with customer ids only", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver()
      const destination = yield* createDestination({ url: hooks.url })
      yield* durableConsumerReady(durable)
      const person = yield* fixture
      const segment = yield* createSegment(dynamicSegment({ criteria: { kind: "tags", match: "any", tags: [person.tag] } }))
      const [body] = yield* eventually(
        "the join at the receiver",
        Effect.sync(() =>
          hooks.received
            .map((request) => new Webhook(destination.secret).verify(request.body, request.headers) as Served)
            .filter((payload) => payload.segmentId === segment.id)
        ),
        (found) => found.length > 0
      )
      assert.deepStrictEqual(body.customerIds, [person.id])
      expectNoPersonalData(person, body)
      // Only the membership event's own fields: ids, times and counts.
      for (const key of Object.keys(body)) assert.include(Object.keys(SegmentMembersJoinedEvent.fields), key)
    }))

  // --- Reads of personal data are audited -------------------------------------------------------

  const readEntries = (customerId: string) =>
    Effect.flatMap(PgClient.PgClient, (sql) =>
      sql<{ readonly actorRole: string; readonly requestId: string | null; readonly fields: ReadonlyArray<string> }>`
        SELECT actor_role AS "actorRole", request_id AS "requestId", fields FROM audit_log
        WHERE customer_id = ${customerId} AND action = 'customer.read' ORDER BY id`.pipe(Effect.orDie))

  it.effect("a get or list that served personal fields leaves an audit entry per customer: who, which fields, which request", () =>
    Effect.gen(function*() {
      const person = yield* fixture
      assert.deepStrictEqual(yield* readEntries(person.id), [])
      const get = yield* call("GET", `${customersPath}/${person.id}`, { role: "agent", headers: { "x-request-id": "read-get-1" } })
      assert.strictEqual(get.status, 200)
      const list = yield* call("GET", `${customersPath}?tag=${person.tag}&fields=id,name`, {
        role: "service",
        headers: { "x-request-id": "read-list-1" }
      })
      assert.strictEqual(list.status, 200)
      // Committed before each answer, in the order the reads were answered.
      assert.deepStrictEqual(yield* readEntries(person.id), [
        { actorRole: "agent", requestId: "read-get-1", fields: ["email", "pendingEmail", "name", "location"] },
        { actorRole: "service", requestId: "read-list-1", fields: ["name"] }
      ])
    }))

  it.effect("an analyst's read, which serves no personal field (a country names no one), is not audited as one", () =>
    Effect.gen(function*() {
      const person = yield* fixture
      yield* restGet("analyst", person.id)
      yield* restList("analyst", person)
      assert.deepStrictEqual(yield* readEntries(person.id), [])
    }))

  // --- Queries as oracles ------------------------------------------------------------------------

  const refusedForAnalysts = [
    { label: "a name or email search", query: "q=Field", parameter: "q" },
    { label: "a selection of the email", query: "fields=id,email", parameter: "fields" }
  ]
  for (const { label, parameter, query } of refusedForAnalysts) {
    it.effect(`analyst: ${label} is refused with 403 naming \`${parameter}\`, and nothing of the person leaks`, () =>
      Effect.gen(function*() {
        const person = yield* fixture
        const response = yield* call("GET", `${customersPath}?${query}&tag=${person.tag}`, { role: "analyst" })
        const problem = yield* expectProblem(response.clone(), 403, "/problems/field-not-visible")
        assert.strictEqual(problem.field, parameter)
        expectNoPersonalData(person, problem)
        assert.notInclude(JSON.stringify(problem), person.id)
      }))
  }

  it.effect("analyst over RPC: a name or email search is refused with FieldNotVisible naming `q`", () =>
    Effect.gen(function*() {
      const person = yield* fixture
      const failure = yield* withRpcClient((client) => Effect.flip(client.ListCustomers({ q: "Field", tag: person.tag })), "analyst")
      assert.strictEqual(failure._tag, "FieldNotVisible")
      if (failure._tag === "FieldNotVisible") assert.strictEqual(failure.field, "q")
    }))

  it.effect("analyst: filtering and sorting by what analysts see (country, createdAt) is answered", () =>
    Effect.gen(function*() {
      const person = yield* fixture
      const response = yield* call("GET", `${customersPath}?country=GB&sort=-createdAt&tag=${person.tag}`, { role: "analyst" })
      assert.strictEqual(response.status, 200)
    }))

  it.effect("agent: a search finds the person by the address they give", () =>
    Effect.gen(function*() {
      const person = yield* fixture
      const found = yield* call("GET", `${customersPath}?q=${encodeURIComponent(person.email)}`, { role: "agent" })
      assert.strictEqual(found.status, 200)
      const page = yield* json<{ readonly data: ReadonlyArray<Served> }>(found)
      assert.deepStrictEqual(page.data.map((customer) => customer.id), [person.id])
    }))

  it.effect("analyst: segment criteria on city or region are refused naming the node; on country accepted", () =>
    Effect.gen(function*() {
      const city = yield* call("POST", segmentsPath, {
        role: "analyst",
        body: dynamicSegment({ criteria: { kind: "all", criteria: [{ kind: "country", in: ["GB"] }, { kind: "city", in: ["Fieldham"] }] } })
      })
      assert.strictEqual((yield* expectProblem(city, 403, "/problems/field-not-visible")).field, "criteria.criteria.1.kind")
      const country = yield* call("POST", segmentsPath, {
        role: "analyst",
        body: dynamicSegment({ criteria: { kind: "country", in: ["GB"] } })
      })
      assert.strictEqual(country.status, 201)
    }))
})
