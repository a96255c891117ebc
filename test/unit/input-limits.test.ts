/**
 * The pure rules that keep hostile input cheap and meaningful: RFC 3339
 * instants, JSON nesting, bounded validation answers, and the read-only
 * fields a PUT may echo.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, SchemaParser } from "effect"
import * as fc from "fast-check"
import type { Customer } from "../../src/domain/Customer.ts"
import { CreateCustomer } from "../../src/domain/Customer.ts"
import { changedReadOnlyField } from "../../src/domain/CustomerRules.ts"
import { isRfc3339Instant } from "../../src/domain/Instant.ts"
import { nestsDeeperThan } from "../../src/http/RequestPipeline.ts"
import { maxReportedIssues, requestInvalid } from "../../src/http/Validation.ts"

describe("RFC 3339 instants", () => {
  it("accept every instant from year 0001 to 9999 as toISOString writes it", () => {
    fc.assert(fc.property(
      fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true }),
      (date) => isRfc3339Instant(date.toISOString())
    ))
  })

  it("accept offsets, lower-case separators, and up to nine fractional digits", () => {
    for (const text of ["2026-12-01T10:00:00+05:30", "2026-12-01t10:00:00z", "2026-12-01T10:00:00.123456789-08:00"]) {
      assert.isTrue(isRfc3339Instant(text), text)
    }
  })

  it("refuse what lenient parsers read as some date", () => {
    const refused = [
      "1",
      "$1",
      "' OR '1'='1",
      "2001",
      "2026-01-31",
      "2026-01-31 10:00:00Z",
      "2026-01-31T10:00Z",
      "-271821-04-20T00:00:00Z",
      "+275760-09-13T00:00:00Z",
      "0000-01-01T00:00:00Z",
      "2023-02-29T00:00:00Z",
      "1900-02-29T00:00:00Z",
      "2026-04-31T00:00:00Z",
      "2026-12-01T24:00:00Z",
      "2026-12-01T10:00:00+16:00"
    ]
    for (const text of refused) assert.isFalse(isRfc3339Instant(text), text)
  })

  it("know leap years by the Gregorian rule", () => {
    assert.isTrue(isRfc3339Instant("2000-02-29T00:00:00Z"))
    assert.isTrue(isRfc3339Instant("2024-02-29T00:00:00Z"))
    assert.isFalse(isRfc3339Instant("2100-02-29T00:00:00Z"))
  })
})

describe("JSON nesting", () => {
  const depthOf = (value: unknown): number =>
    typeof value === "object" && value !== null ? 1 + Math.max(0, ...Object.values(value).map(depthOf)) : 0

  it("is measured on the text as JSON.parse would nest it, brackets inside strings aside", () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 12 }), fc.integer({ min: 0, max: 14 }), (value, max) => {
      const text = JSON.stringify(value)
      return nestsDeeperThan(text, max) === (depthOf(JSON.parse(text)) > max)
    }))
  })

  it("ignores brackets in strings, escaped quotes included", () => {
    assert.isFalse(nestsDeeperThan(JSON.stringify({ text: "[[[{{{\\\"[[[" }), 1))
  })
})

describe("invalid-request answers", () => {
  /** The issue of an input that must not decode. */
  const issueOf = (input: unknown) =>
    Result.getOrThrowWith(
      Result.flip(SchemaParser.decodeUnknownResult(CreateCustomer)(input, { errors: "all", onExcessProperty: "error" })),
      () => "the input decoded"
    )

  it(`name at most ${maxReportedIssues} issues however many there are`, () => {
    const problem = requestInvalid(
      issueOf({ email: "ada@example.com", name: "Ada", consent: { marketing: false, dataProcessing: true }, tags: Array(10_000).fill("X") }),
      ["payload"]
    )
    assert.strictEqual(problem.errors.length, maxReportedIssues)
    assert.include(problem.detail ?? "", "there are more")
  })

  it("name every issue when there are few", () => {
    const problem = requestInvalid(issueOf({ email: "nope", name: "", consent: { marketing: false } }), ["payload"])
    assert.sameMembers(problem.errors.map((entry) => entry.path.join(".")), [
      "payload.email",
      "payload.name",
      "payload.consent.dataProcessing"
    ])
    assert.notInclude(problem.detail ?? "", "there are more")
  })

  it("cut messages listing long literal unions", () => {
    const problem = requestInvalid(
      issueOf({ email: "ada@example.com", name: "Ada", consent: { marketing: false, dataProcessing: true }, location: { country: "XX" } }),
      ["payload"]
    )
    for (const entry of problem.errors) assert.isAtMost(entry.message.length, 301)
  })
})

describe("read-only fields echoed by a PUT", () => {
  const stored: Customer = {
    id: "0196f4a4-1c2d-7a3b-8c4d-5e6f70819203" as Customer["id"],
    email: "ada@example.com",
    emailVerified: false,
    pendingEmail: "ada@new.example.com",
    name: "Ada",
    age: null,
    gender: null,
    location: null,
    preferences: {},
    tags: [],
    metadata: {},
    consent: { marketing: false, dataProcessing: true },
    status: "ACTIVE",
    version: 3,
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-02-01T00:00:00.000Z",
    lastActivity: "2026-03-01T00:00:00.000Z"
  }

  it("pass when equal to the stored values (instants by value, emails by case-insensitive address)", () => {
    assert.isUndefined(changedReadOnlyField(stored, {
      id: stored.id,
      emailVerified: false,
      pendingEmail: "ADA@new.example.com",
      consent: { marketing: false, dataProcessing: true },
      createdAt: "2026-01-01T00:00:00Z",
      updatedAt: "2026-02-01T01:00:00+01:00",
      lastActivity: stored.lastActivity
    }))
  })

  it("pass when absent", () => {
    assert.isUndefined(changedReadOnlyField(stored, {}))
  })

  it("name the first that differs", () => {
    assert.strictEqual(changedReadOnlyField(stored, { emailVerified: true }), "emailVerified")
    assert.strictEqual(changedReadOnlyField(stored, { pendingEmail: null }), "pendingEmail")
    assert.strictEqual(changedReadOnlyField({ ...stored, pendingEmail: null }, { pendingEmail: "x@example.com" }), "pendingEmail")
    assert.strictEqual(changedReadOnlyField(stored, { consent: { marketing: true, dataProcessing: true } }), "consent")
    assert.strictEqual(changedReadOnlyField(stored, { createdAt: "2026-01-01T00:00:00.001Z" }), "createdAt")
  })
})
