/**
 * The document is exact: a client validating against it accepts what the
 * server accepts and refuses what the server refuses. Each case is a request
 * value at the edge of a rule; the document's verdict (Ajv on its schema)
 * must equal the server's (the schema the API decodes with). The one rule
 * JSON Schema cannot state, metadata's 16 KiB size, is named in its
 * description and left out here.
 */
import { assert, describe, it } from "@effect/vitest"
import { Exit, Schema } from "effect"
import { openApiDocument } from "../../src/api/Documentation.ts"
import { IssueApiKey, ListApiKeysQuery } from "../../src/domain/ApiKey.ts"
import { CreateCustomer, PatchCustomer, VerifyEmail } from "../../src/domain/Customer.ts"
import { ListCustomersQuery } from "../../src/domain/CustomerQuery.ts"
import {
  CreateDestination,
  DeadLettersQuery,
  ListDestinationsQuery,
  ReplayDeadLetters,
  UpdateDestination
} from "../../src/domain/Destination.ts"
import { CohortReportQuery, FleetReportQuery } from "../../src/domain/FleetReport.ts"
import { ChangeSegmentMembers, CreateSegment, ListSegmentsQuery, UpdateSegment } from "../../src/domain/Segment.ts"
import { makeValidator } from "../support/OpenApi.ts"

const document = openApiDocument()
const validate = makeValidator(document)

type JsonSchema = Record<string, unknown>
const operation = (path: string, method: string) =>
  (document.paths[path] as Record<string, {
    readonly requestBody?: { readonly content: Record<string, { readonly schema: JsonSchema }> }
    readonly parameters: ReadonlyArray<
      { readonly name: string; readonly in: string; readonly schema: JsonSchema; readonly explode?: boolean }
    >
  }>)[method]

const bodySchema = (path: string, method: string) =>
  operation(path, method).requestBody!.content["application/json"].schema

// As the API decodes requests (HttpApi.ParseOptions in src/api/Api.ts).
const serverAccepts = (schema: Schema.Top) => {
  const decode = Schema.decodeUnknownExit(schema as Schema.Codec<unknown, unknown>, { onExcessProperty: "error" })
  return (value: unknown) => Exit.isSuccess(decode(value))
}

/** Both sides give the same verdict for every case; the message lists the cases where they differ. */
const agree = (documented: JsonSchema, server: (value: unknown) => boolean, cases: ReadonlyArray<unknown>) => {
  const disagreements = cases.flatMap((value) => {
    const client = validate(documented, value).length === 0
    return client === server(value) ? [] : [`${JSON.stringify(value).slice(0, 120)}: document ${client}, server ${!client}`]
  })
  assert.deepStrictEqual(disagreements, [])
}

const consent = { marketing: false, dataProcessing: true }
const customer = { email: "ada@example.com", name: "Ada Lovelace", consent }
const nested = (depth: number): unknown => depth === 0 ? "leaf" : { level: nested(depth - 1) }
const emoji = "\u{1F600}"

describe("the request bodies the document describes are the ones the server accepts", () => {
  const create = bodySchema("/api/v1/customers", "post")
  const accepts = serverAccepts(CreateCustomer)

  it("tags: lower case, 1-64 characters, at most 50, no duplicates", () =>
    agree(create, accepts, [
      ["vip"],
      ["VIP"],
      ["Vip"],
      ["a".repeat(64)],
      ["a".repeat(65)],
      ["_vip"],
      ["newsletter:weekly"],
      ["vip", "vip"],
      Array.from({ length: 50 }, (_, i) => `t${i}`),
      Array.from({ length: 51 }, (_, i) => `t${i}`)
    ].map((tags) => ({ ...customer, tags }))))

  it("preferences.language: a BCP 47 tag", () =>
    agree(create, accepts, ["en", "pt-BR", "zh-Hant-TW", "english", "EN", "en_GB", "en-gb", ""].map((language) => ({
      ...customer,
      preferences: { language }
    }))))

  it("metadata: key pattern, 100 keys, value types and depth, storable text", () =>
    agree(create, accepts, [
      { source: "form" },
      { "1st": 1 },
      { a_b: true, "a.b": null, "a-b": 1.5 },
      { ["k".repeat(64)]: 1 },
      { ["k".repeat(65)]: 1 },
      Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])),
      Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])),
      { list: [1, "two", [3, { four: 4 }]] },
      { device: nested(8) },
      { device: nested(9) },
      { text: "nul\u0000" },
      { text: "lone \ud800" },
      { text: `paired ${emoji}` },
      { nested: { "bad\u0000key": 1 } }
    ].map((metadata) => ({ ...customer, metadata }))))

  it("name, city and postal code: trimmed storable text counted in characters", () =>
    agree(create, accepts, [
      { ...customer, name: emoji.repeat(255) },
      { ...customer, name: emoji.repeat(256) },
      { ...customer, name: " Ada" },
      { ...customer, name: "" },
      { ...customer, name: "Ada\u0000" },
      { ...customer, name: "Ada \ud800" },
      { ...customer, location: { country: "GB", city: emoji.repeat(120) } },
      { ...customer, location: { country: "GB", city: emoji.repeat(121) } },
      { ...customer, location: { country: "GB", postalCode: "x".repeat(21) } },
      { ...customer, location: { country: "gb" } }
    ]))

  it("email: the published pattern, 254 characters", () =>
    agree(create, accepts, [
      "ada@example.com",
      "ada@example",
      "a.b+c@mail.example.org",
      "ada @example.com",
      `${"a".repeat(64)}@example.com`,
      `${"a".repeat(65)}@example.com`,
      `a@${"b".repeat(63)}.com`,
      `a@${"b".repeat(61)}.${"c".repeat(61)}.${"d".repeat(61)}.${"e".repeat(61)}.com`
    ].map((email) => ({ ...customer, email }))))

  it("age, status, consent and unknown fields", () =>
    agree(create, accepts, [
      { ...customer, age: 0 },
      { ...customer, age: 150 },
      { ...customer, age: 151 },
      { ...customer, age: -1 },
      { ...customer, age: 30.5 },
      { ...customer, status: "SUSPENDED" },
      { ...customer, consent: { marketing: false } },
      { ...customer, nickname: "Ada" },
      { email: "ada@example.com", name: "Ada" }
    ]))

  it("patch: null clears optional fields, not required ones", () =>
    agree(bodySchema("/api/v1/customers/{id}", "patch"), serverAccepts(PatchCustomer), [
      { age: null, location: null },
      { name: null },
      { version: 0 },
      { version: 1 },
      { status: "DELETED" },
      {}
    ]))

  it("verification token: 16 to 128 characters", () =>
    agree(
      bodySchema("/api/v1/customers/{id}/email/verify", "post"),
      serverAccepts(VerifyEmail),
      ["x".repeat(15), "x".repeat(16), emoji.repeat(16), "x".repeat(128), "x".repeat(129)].map((token) => ({ token }))
    ))

  it("API key issue: name and lifetime", () =>
    agree(bodySchema("/api/v1/api-keys", "post"), serverAccepts(IssueApiKey), [
      { name: "billing", role: "service" },
      { name: "", role: "service" },
      { name: emoji.repeat(100), role: "agent" },
      { name: emoji.repeat(101), role: "agent" },
      { name: "billing", role: "root" },
      { name: "billing", role: "service", expiresInDays: 0 },
      { name: "billing", role: "service", expiresInDays: 365 },
      { name: "billing", role: "service", expiresInDays: 366 }
    ]))
})

describe("the segment bodies the document describes are the ones the server accepts", () => {
  const country = { kind: "country", in: ["GB"] }
  const nest = (depth: number): unknown => depth === 1 ? country : { kind: "not", criterion: nest(depth - 1) }

  it("create: a dynamic segment with criteria, a manual one without; names and descriptions", () =>
    agree(bodySchema("/api/v1/customers/segments", "post"), serverAccepts(CreateSegment), [
      { name: "Buyers", type: "dynamic", criteria: country },
      { name: "Buyers", type: "dynamic" },
      { name: "Buyers", type: "manual" },
      { name: "Buyers", type: "manual", criteria: country },
      { name: "Buyers", type: "static" },
      { name: " Buyers", type: "manual" },
      { name: "", type: "manual" },
      { name: emoji.repeat(255), type: "manual" },
      { name: emoji.repeat(256), type: "manual" },
      { name: "Buyers", type: "manual", description: "x".repeat(2000) },
      { name: "Buyers", type: "manual", description: "x".repeat(2001) },
      { name: "Buyers", type: "manual", owner: "marketing" }
    ]))

  it("criteria: node kinds, fields, ranges and combinators", () =>
    agree(bodySchema("/api/v1/customers/segments", "post"), serverAccepts(CreateSegment), [
      country,
      { kind: "country", in: [] },
      { kind: "country", in: ["gb"] },
      { kind: "horoscope" },
      { kind: "age", atLeast: 18 },
      { kind: "age", atLeast: 18, atMost: 151 },
      { kind: "all", criteria: [] },
      { kind: "any", criteria: [country, { kind: "tags", match: "all", tags: ["vip"] }] },
      { kind: "not", criterion: country },
      { kind: "eventCount", type: "purchase", window: { lastDays: 30 }, atLeast: 3 },
      { kind: "eventCount", window: { lastDays: 0 }, atLeast: 3 },
      { kind: "metadata", path: ["plan", "seats"], operator: "gte", value: 10 },
      { kind: "segment", segmentId: "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35" },
      { kind: "segment", segmentId: "segments" },
      { kind: "country", in: ["GB"], exact: true },
      nest(10)
    ].map((criteria) => ({ name: "Buyers", type: "dynamic", criteria }))))

  it("update: partial, nullable description, no type", () =>
    agree(bodySchema("/api/v1/customers/segments/{id}", "patch"), serverAccepts(UpdateSegment), [
      {},
      { name: "Renamed" },
      { name: null },
      { description: null },
      { criteria: country },
      { type: "manual" },
      { version: 0 },
      { version: 2 }
    ]))

  it("bulk membership: 1 to 10,000 distinct customer ids", () => {
    const ids = (count: number) => Array.from({ length: count }, () => crypto.randomUUID())
    const segmentId = "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d36"
    const [one] = ids(1)
    agree(bodySchema("/api/v1/customers/bulk/segments", "post"), serverAccepts(ChangeSegmentMembers), [
      { segmentId, action: "add", customerIds: [one] },
      { segmentId, action: "remove", customerIds: ids(10_000) },
      { segmentId, action: "add", customerIds: ids(10_001) },
      { segmentId, action: "add", customerIds: [] },
      { segmentId, action: "add", customerIds: [one, one] },
      { segmentId, action: "add", customerIds: ["not-a-uuid"] },
      { segmentId, action: "replace", customerIds: [one] }
    ])
  })
})

describe("the destination bodies the document describes are the ones the server accepts", () => {
  const url = "https://hooks.example.com/segments"
  const segmentId = "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d36"

  it("create: a name, an http(s) URL of up to 2,048 characters, an optional segment and enabled flag", () =>
    agree(bodySchema("/api/v1/destinations", "post"), serverAccepts(CreateDestination), [
      { name: "CRM", url },
      { name: "CRM", url: "HTTP://hooks.example.com" },
      { name: "CRM", url: "ftp://hooks.example.com" },
      { name: "CRM", url: "https://" },
      { name: "CRM", url: "https://hooks example.com" },
      { name: "CRM", url: `https://h.example/${"a".repeat(2048 - 18)}` },
      { name: "CRM", url: `https://h.example/${"a".repeat(2048 - 17)}` },
      { name: "CRM", url: `https://h.example/${emoji.repeat(2048 - 18)}` },
      { name: "", url },
      { name: "CRM", url, segmentId },
      { name: "CRM", url, segmentId: null },
      { name: "CRM", url, segmentId: "segments" },
      { name: "CRM", url, enabled: false },
      { name: "CRM", url, secret: "whsec_mine" }
    ]))

  it("update: partial", () =>
    agree(bodySchema("/api/v1/destinations/{id}", "patch"), serverAccepts(UpdateDestination), [
      {},
      { enabled: true },
      { url: "ftp://hooks.example.com" },
      { segmentId: null },
      { name: null }
    ]))

  it("replay: every dead letter, or 1 to 1,000 ids", () =>
    agree(bodySchema("/api/v1/destinations/{id}/dead-letters/replay", "post"), serverAccepts(ReplayDeadLetters), [
      {},
      { ids: [segmentId] },
      { ids: [] },
      { ids: ["not-a-uuid"] },
      { ids: Array.from({ length: 1001 }, () => crypto.randomUUID()) }
    ]))
})

/**
 * A query value as a client writes it from the document: an integer in
 * decimal, a list joined with commas (explode: false), anything else as it is.
 */
const queryAgree = (path: string, query: Schema.Top, name: string, values: ReadonlyArray<unknown>) => {
  const parameter = operation(path, "get").parameters.find((entry) => entry.name === name)!
  const accepts = serverAccepts(query)
  const serialise = (value: unknown) => Array.isArray(value) ? value.join(",") : String(value)
  const disagreements = values.flatMap((value) => {
    const client = validate(parameter.schema, value).length === 0
    const server = accepts({ [name]: serialise(value) })
    return client === server ? [] : [`${name}=${serialise(value)}: document ${client}, server ${server}`]
  })
  assert.deepStrictEqual(disagreements, [])
}

describe("the query parameters the document describes are the ones the server accepts", () => {
  it("limit: an integer from 1 to 500", () =>
    queryAgree("/api/v1/customers", ListCustomersQuery, "limit", [0, 1, 500, 501, -3, 2.5]))

  it("minAge and maxAge: integers from 0 to 150", () => {
    queryAgree("/api/v1/customers", ListCustomersQuery, "minAge", [-1, 0, 150, 151, 20.5])
    queryAgree("/api/v1/customers", ListCustomersQuery, "maxAge", [-1, 0, 150, 151])
  })

  it("fields: a comma-separated list of customer field names", () =>
    queryAgree("/api/v1/customers", ListCustomersQuery, "fields", [["id"], ["id", "email", "name"], ["id", "nope"], [
      "password"
    ]]))

  it("date filters: RFC 3339 date-times from year 0001", () =>
    queryAgree("/api/v1/customers", ListCustomersQuery, "createdAfter", [
      "2026-01-31T09:30:00Z",
      "2026-01-31T09:30:00.123456789+01:00",
      "2026-01-31t09:30:00z",
      "2026-02-30T00:00:00Z",
      "2024-02-29T00:00:00Z",
      "2026-01-31",
      "2026-01-31T09:30:00",
      "0000-01-01T00:00:00Z",
      "0001-01-01T00:00:00Z",
      "2026-01-31T24:00:00Z",
      "2026-01-31T09:30:00+16:00",
      "1"
    ]))

  it("q: 2 to 100 storable characters", () =>
    queryAgree("/api/v1/customers", ListCustomersQuery, "q", ["a", "ad", emoji.repeat(2), "x".repeat(100), "x".repeat(101), "a\u0000"]))

  it("tag and country", () => {
    queryAgree("/api/v1/customers", ListCustomersQuery, "tag", ["vip", "VIP", "a".repeat(65)])
    queryAgree("/api/v1/customers", ListCustomersQuery, "country", ["GB", "gb", "XX"])
  })

  it("segments: limit from 1 to 200, a sort and a type", () => {
    queryAgree("/api/v1/customers/segments", ListSegmentsQuery, "limit", [0, 1, 200, 201, 2.5])
    queryAgree("/api/v1/customers/segments", ListSegmentsQuery, "sort", ["name", "-createdAt", "updatedAt"])
    queryAgree("/api/v1/customers/segments", ListSegmentsQuery, "type", ["manual", "dynamic", "static"])
  })

  it("destinations and dead letters: limit from 1 to 100", () => {
    queryAgree("/api/v1/destinations", ListDestinationsQuery, "limit", [0, 1, 100, 101, 2.5])
    queryAgree("/api/v1/destinations/{id}/dead-letters", DeadLettersQuery, "limit", [0, 1, 100, 101])
  })

  it("API keys: limit from 1 to 100", () =>
    queryAgree("/api/v1/api-keys", ListApiKeysQuery, "limit", [0, 1, 100, 101]))

  it("fleet reports: a period, and calendar dates from 1900", () => {
    queryAgree("/api/v1/analytics/fleet", FleetReportQuery, "period", ["day", "week", "month", "year", "Day"])
    for (const name of ["from", "to"]) {
      queryAgree("/api/v1/analytics/cohorts", CohortReportQuery, name, [
        "2026-01-31",
        "2024-02-29",
        "2026-02-29",
        "2026-04-31",
        "1900-01-01",
        "1899-12-31",
        "2026-1-31",
        "2026-01-31T00:00:00Z",
        "20260131"
      ])
    }
  })
})
