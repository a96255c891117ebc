/**
 * Properties of POST /api/v1/customers over generated inputs, against the
 * running service: any valid CreateCustomer comes back from GET unchanged,
 * and any input broken in one place is refused without writing anything.
 */
import { assert, layer } from "@effect/vitest"
import { Arbitrary, Effect, Schema } from "effect"
import { CreateCustomer } from "../../src/domain/Customer.ts"
import { type CustomerBody, customersPath, emptyOptionalFields, uniqueEmail } from "../support/Customers.ts"
import { testServiceWithDatabase, writeCounts } from "../support/Database.ts"
import { call } from "../support/Http.ts"
import { json, TestService } from "../support/TestService.ts"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/** Bounded so each property finishes in seconds; every run creates (or tries to create) one customer. */
const runs = { timeout: 60_000, arbitrary: { runs: 40 } }

/** A generated input made creatable: consent given and an address no other run uses. */
const creatable = (input: CreateCustomer): { readonly [key: string]: Json } =>
  JSON.parse(JSON.stringify({ ...input, email: uniqueEmail("prop"), consent: { ...input.consent, dataProcessing: true } }))

/** What a customer shows for a field the input left out. */
const defaults: Record<string, Json> = { ...emptyOptionalFields, status: "ACTIVE" }

/** One way to break an otherwise valid input; `n` is a generated number the mutation may use. */
const Mutation = Schema.Literals([
  "age-too-old",
  "age-negative",
  "age-as-string",
  "age-fractional",
  "unknown-field",
  "name-as-number",
  "name-empty",
  "email-without-at",
  "country-unknown",
  "timezone-unknown",
  "tags-as-string",
  "tag-upper-case",
  "consent-missing",
  "consent-refused",
  "status-deleted",
  "metadata-as-array"
])
type Mutation = typeof Mutation.Type

const mutate = (valid: { readonly [key: string]: Json }, mutation: Mutation, n: number): Record<string, unknown> => {
  const broken: Record<string, unknown> = { ...valid }
  switch (mutation) {
    case "age-too-old":
      broken.age = 151 + n
      break
    case "age-negative":
      broken.age = -1 - n
      break
    case "age-as-string":
      broken.age = String(n % 151)
      break
    case "age-fractional":
      broken.age = (n % 150) + 0.5
      break
    case "unknown-field":
      broken[`unknown_${n}`] = n
      break
    case "name-as-number":
      broken.name = n
      break
    case "name-empty":
      broken.name = ""
      break
    case "email-without-at":
      broken.email = String(valid.email).replace("@", "")
      break
    case "country-unknown":
      broken.location = { country: ["XX", "ZZ", "QQ", "AA", "gb"][n % 5] }
      break
    case "timezone-unknown":
      broken.location = { country: "GB", timezone: `Nowhere/Place_${n}` }
      break
    case "tags-as-string":
      broken.tags = `tag${n}`
      break
    case "tag-upper-case":
      broken.tags = [`Tag${n}`]
      break
    case "consent-missing":
      delete broken.consent
      break
    case "consent-refused":
      broken.consent = { marketing: n % 2 === 0, dataProcessing: false }
      break
    case "status-deleted":
      broken.status = "DELETED"
      break
    case "metadata-as-array":
      broken.metadata = [n]
      break
  }
  return broken
}

layer(testServiceWithDatabase(), { excludeTestServices: true })("customer round trip (property)", (it) => {
  it.effect.prop(
    "any valid customer created is read back with the same fields unchanged",
    { input: Arbitrary.schema(CreateCustomer) },
    ({ input }) =>
      Effect.gen(function*() {
        const { request } = yield* TestService
        const sent = creatable(input)
        const created = yield* call("POST", customersPath, { body: sent })
        const createdText = yield* Effect.promise(() => created.text())
        assert.strictEqual(created.status, 201, createdText)
        const id = (JSON.parse(createdText) as CustomerBody).id

        const read = yield* request(`${customersPath}/${id}`)
        assert.strictEqual(read.status, 200)
        const customer = yield* json<Record<string, unknown>>(read)
        assert.deepStrictEqual(customer, JSON.parse(createdText))
        for (const [field, value] of Object.entries(sent)) {
          assert.deepStrictEqual(customer[field], value, `field ${field} changed`)
        }
        for (const [field, value] of Object.entries(defaults)) {
          if (!(field in sent)) assert.deepStrictEqual(customer[field], value, `default of ${field}`)
        }
        assert.strictEqual(customer.version, 1)
        assert.strictEqual(customer.emailVerified, false)
      }),
    runs
  )

  it.effect.prop(
    "any valid input broken in one place is refused with 4xx and writes nothing",
    {
      input: Arbitrary.schema(CreateCustomer),
      mutation: Arbitrary.schema(Mutation),
      n: Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000 })))
    },
    ({ input, mutation, n }) =>
      Effect.gen(function*() {
        const before = yield* writeCounts
        const response = yield* call("POST", customersPath, { body: mutate(creatable(input), mutation, n) })
        const text = yield* Effect.promise(() => response.text())
        assert.isAtLeast(response.status, 400, text)
        assert.isBelow(response.status, 500, text)
        assert.match(response.headers.get("content-type") ?? "", /^application\/problem\+json/)
        const problem = JSON.parse(text) as { readonly type: string }
        assert.strictEqual(
          problem.type,
          mutation === "consent-refused" ? "/problems/consent-required" : "/problems/invalid-request"
        )
        assert.deepStrictEqual(yield* writeCounts, before)
      }),
    runs
  )
})
