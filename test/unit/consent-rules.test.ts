/** Consent's pure rules: the marketing objection, the profile's view, creation's entries, who records consent. */
import { assert, describe, it } from "@effect/vitest"
import { can } from "../../src/domain/Access.ts"
import {
  type ConsentChange,
  creationChanges,
  marketingObjectionBroken,
  profileConsentAfter
} from "../../src/domain/Consent.ts"
import { effectiveCriteria, purposesRequired } from "../../src/domain/Segment.ts"

const change = (purpose: string, status: "granted" | "withdrawn", legalBasis: ConsentChange["legalBasis"]): ConsentChange => ({
  purpose,
  status,
  legalBasis,
  source: "web-form",
  policyVersion: "1"
})

describe("the marketing objection (GDPR art. 21(3))", () => {
  it("after a withdrawal, only a grant on consent is allowed; the index of the first other grant is named", () => {
    const objected = new Map([["marketing", "withdrawn" as const]])
    assert.isUndefined(marketingObjectionBroken(objected, [change("marketing", "granted", "consent")]))
    assert.strictEqual(
      marketingObjectionBroken(objected, [
        change("analytics", "granted", "legitimate-interests"),
        change("marketing", "granted", "legitimate-interests")
      ]),
      1
    )
    assert.strictEqual(marketingObjectionBroken(objected, [change("marketing", "granted", "contract")]), 0)
  })

  it("before any objection, or for a withdrawal, any basis is allowed", () => {
    const granted = new Map([["marketing", "granted" as const]])
    assert.isUndefined(marketingObjectionBroken(granted, [change("marketing", "granted", "legitimate-interests")]))
    assert.isUndefined(marketingObjectionBroken(new Map(), [change("marketing", "granted", "legitimate-interests")]))
    const objected = new Map([["marketing", "withdrawn" as const]])
    assert.isUndefined(marketingObjectionBroken(objected, [change("marketing", "withdrawn", "legitimate-interests")]))
  })
})

describe("the profile's consent", () => {
  it("follows marketing and data-processing, and no other purpose", () => {
    const before = { marketing: true, dataProcessing: true }
    assert.deepStrictEqual(profileConsentAfter(before, [change("marketing", "withdrawn", "consent")]), {
      marketing: false,
      dataProcessing: true
    })
    assert.deepStrictEqual(profileConsentAfter(before, [change("analytics", "withdrawn", "consent")]), before)
    assert.deepStrictEqual(profileConsentAfter(before, [change("data-processing", "withdrawn", "consent")]), {
      marketing: true,
      dataProcessing: false
    })
  })

  it("becomes the first two entries at creation, a refusal recorded as a withdrawal", () => {
    assert.deepStrictEqual(
      creationChanges({ marketing: false, dataProcessing: true }).map((entry) => [entry.purpose, entry.status]),
      [["marketing", "withdrawn"], ["data-processing", "granted"]]
    )
  })
})

describe("segments requiring purposes", () => {
  const criteria = { kind: "tags", match: "any", tags: ["vip"] } as const

  it("require consent to each purpose besides their criteria; other segments are evaluated as defined", () => {
    assert.deepStrictEqual(effectiveCriteria(criteria, []), criteria)
    assert.deepStrictEqual(effectiveCriteria(criteria, ["custom:newsletter", "marketing"]), {
      kind: "all",
      criteria: [
        { kind: "consent", purpose: "custom:newsletter", given: true },
        { kind: "consent", purpose: "marketing", given: true },
        criteria
      ]
    })
  })

  it("marketing: true adds marketing to the purposes, false removes it; both sent must agree", () => {
    assert.deepStrictEqual(purposesRequired([], { marketing: true }), ["marketing"])
    assert.deepStrictEqual(purposesRequired(["analytics", "marketing"], { marketing: false }), ["analytics"])
    assert.deepStrictEqual(
      purposesRequired(["marketing"], { requiredPurposes: ["custom:surveys"] }),
      ["custom:surveys"]
    )
    assert.deepStrictEqual(
      purposesRequired([], { requiredPurposes: ["personalisation"], marketing: true }),
      ["marketing", "personalisation"]
    )
    assert.isUndefined(purposesRequired([], { requiredPurposes: ["marketing"], marketing: false }))
  })
})

describe("who records consent", () => {
  it("admins, agents and services; not analysts", () => {
    assert.deepStrictEqual(
      (["admin", "agent", "analyst", "service"] as const).map((role) => can(role, "consent:write")),
      [true, true, false, true]
    )
  })
})
