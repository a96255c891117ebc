import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result, Schema } from "effect"
import { CreateCustomer, Customer, Metadata, PatchCustomer } from "../../src/domain/Customer.ts"
import { CustomerView, ListCustomersQuery } from "../../src/domain/CustomerQuery.ts"

const decodeCreate = Schema.decodeUnknownResult(CreateCustomer)
const decodeQuery = Schema.decodeUnknownResult(ListCustomersQuery)

const valid = {
  email: "ada@example.com",
  name: "Ada Lovelace",
  consent: { marketing: false, dataProcessing: true }
}

const accepts = (input: unknown) => assert.isTrue(Result.isSuccess(decodeCreate(input)), JSON.stringify(input))
const refuses = (input: unknown) => assert.isTrue(Result.isFailure(decodeCreate(input)), JSON.stringify(input))

describe("a new customer", () => {
  it("needs only email, name and stated consent", () => accepts(valid))

  it("must state both consents", () => {
    refuses({ ...valid, consent: { dataProcessing: true } })
    refuses({ ...valid, consent: undefined })
  })

  it("takes a practical email address", () => {
    accepts({ ...valid, email: "first.last+tag@sub.example.co.uk" })
    for (const email of ["plain", "a@b", "a@-b.com", "a b@example.com", `${"x".repeat(65)}@example.com`]) {
      refuses({ ...valid, email })
    }
  })

  it("takes ages 0 to 150 in whole years", () => {
    accepts({ ...valid, age: 0 })
    accepts({ ...valid, age: 150 })
    refuses({ ...valid, age: 151 })
    refuses({ ...valid, age: -1 })
    refuses({ ...valid, age: 30.5 })
  })

  it("takes ISO countries and IANA time zones only", () => {
    accepts({ ...valid, location: { country: "PT", city: "Lisboa", timezone: "Europe/Lisbon" } })
    accepts({ ...valid, location: { country: "US", timezone: "UTC" } })
    refuses({ ...valid, location: { country: "XX" } })
    refuses({ ...valid, location: { country: "pt" } })
    refuses({ ...valid, location: { country: "PT", timezone: "Mars/Olympus" } })
  })

  it("takes known currencies and language tags in preferences", () => {
    accepts({ ...valid, preferences: { language: "pt-BR", currency: "EUR", timezone: "Europe/Berlin" } })
    refuses({ ...valid, preferences: { currency: "XYZ1" } })
    refuses({ ...valid, preferences: { language: "english" } })
  })

  it("takes at most 50 distinct lower-case tags", () => {
    accepts({ ...valid, tags: ["vip", "b2b:eu", "plan-pro"] })
    refuses({ ...valid, tags: ["VIP"] })
    refuses({ ...valid, tags: ["vip", "vip"] })
    refuses({ ...valid, tags: Array.from({ length: 51 }, (_, i) => `t${i}`) })
  })

  it("refuses a name with surrounding spaces or none at all", () => {
    refuses({ ...valid, name: " Ada" })
    refuses({ ...valid, name: "" })
  })

  it("may not start as SUSPENDED or DELETED", () => {
    accepts({ ...valid, status: "INACTIVE" })
    refuses({ ...valid, status: "SUSPENDED" })
    refuses({ ...valid, status: "DELETED" })
  })
})

describe("metadata", () => {
  const decode = Schema.decodeUnknownResult(Metadata)

  it("holds JSON under well-formed keys", () => {
    assert.isTrue(Result.isSuccess(decode({ plan: "pro", seats: 3, devices: [{ os: "ios" }] })))
    assert.isTrue(Result.isFailure(decode({ "bad key": 1 })))
  })

  it("is bounded in keys and size", () => {
    assert.isTrue(Result.isFailure(decode(Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])))))
    assert.isTrue(Result.isFailure(decode({ blob: "x".repeat(17_000) })))
  })
})

describe("a patch", () => {
  it("may clear optional fields with null but not the name", () => {
    const decode = Schema.decodeUnknownResult(PatchCustomer)
    assert.isTrue(Result.isSuccess(decode({ age: null, location: null, gender: null })))
    assert.isTrue(Result.isFailure(decode({ name: null })))
    assert.isTrue(Result.isFailure(decode({ status: "DELETED" })))
  })
})

describe("the list query", () => {
  it("parses numbers, instants and the field list from text", () => {
    const query = decodeQuery({ minAge: "18", limit: "20", createdAfter: "2026-01-01T00:00:00Z", fields: "id, email" })
    assert.isTrue(Result.isSuccess(query))
    if (Result.isSuccess(query)) {
      assert.strictEqual(query.success.minAge, 18)
      assert.strictEqual(query.success.limit, 20)
      assert.deepStrictEqual(query.success.fields, ["id", "email"])
    }
  })

  it("encodes back to the text a client sends", () => {
    const encoded = Schema.encodeSync(ListCustomersQuery)({ fields: ["id", "email"], limit: 20, minAge: 18 })
    assert.deepStrictEqual(encoded, { fields: "id,email", limit: "20", minAge: "18" })
  })

  it("offers each sort ascending and descending, nothing else", () => {
    assert.isTrue(Result.isSuccess(decodeQuery({ sort: "-lastActivity" })))
    assert.isTrue(Result.isFailure(decodeQuery({ sort: "age; DROP TABLE customers" })))
  })

  it("bounds the page size and the search text", () => {
    assert.isTrue(Result.isFailure(decodeQuery({ limit: "0" })))
    assert.isTrue(Result.isFailure(decodeQuery({ limit: "501" })))
    assert.isTrue(Result.isFailure(decodeQuery({ q: "a" })))
    assert.isTrue(Result.isFailure(decodeQuery({ q: "ab\u0000" })))
    assert.isTrue(Result.isFailure(decodeQuery({ fields: "id,password" })))
  })
})

describe("customers as stored", () => {
  it.effect.prop("every valid customer encodes and decodes to itself, and its view too", [Customer], ([customer]) =>
    Effect.gen(function*() {
      const encoded = yield* Schema.encodeEffect(Customer)(customer)
      const decoded = yield* Schema.decodeUnknownEffect(Customer)(encoded)
      assert.deepStrictEqual(decoded, customer)
      const view = yield* Effect.exit(Schema.decodeUnknownEffect(CustomerView)(encoded))
      assert.isTrue(Exit.isSuccess(view))
    }), { arbitrary: { runs: 50 } })
})

describe("time zones", () => {
  it("accept today's IANA names as well as ICU's older ones", () => {
    for (const timezone of ["Asia/Kolkata", "Asia/Calcutta", "Europe/Kyiv", "Europe/Kiev", "America/Nuuk", "UTC"]) {
      accepts({ ...valid, location: { country: "IN", timezone } })
    }
  })
})
