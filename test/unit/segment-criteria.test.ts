/**
 * The criteria language's schema: what it accepts, and that what it refuses
 * is refused with a message whose path points at the bad node, limits on
 * depth and size included (checked before decoding, so a hostile tree costs
 * nothing and cannot exhaust the stack).
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { maxCriteriaDepth, maxCriteriaNodes, SegmentCriteria } from "../../src/domain/SegmentCriteria.ts"

const decode = Schema.decodeUnknownResult(SegmentCriteria)

/** The failure message, or "" when the input was accepted. */
const refusal = (input: unknown) => {
  const result = decode(input)
  return Result.isFailure(result) ? result.failure.message : ""
}

const assertRefused = (input: unknown, message: string, path: string) => {
  const text = refusal(input)
  assert.include(text, message)
  assert.include(text, `at ${path}\n`.trimEnd())
}

const age = { kind: "age", atLeast: 18 }

describe("segment criteria schema", () => {
  it("accepts an example of every kind, combined", () => {
    const criteria = {
      kind: "all",
      criteria: [
        { kind: "age", atLeast: 18, atMost: 65 },
        { kind: "gender", in: ["FEMALE", "OTHER"] },
        { kind: "status", in: ["ACTIVE"] },
        { kind: "country", in: ["GB", "IE"] },
        { kind: "region", in: ["England"] },
        { kind: "city", in: ["London"] },
        { kind: "eventCount", type: "purchase", window: { lastDays: 30 }, atLeast: 3 },
        { kind: "eventCount", window: { from: "2026-01-01", to: "2026-01-31" }, atMost: 0 },
        { kind: "lastSeen", window: { lastDays: 90 } },
        { kind: "lastSeen", type: "purchase", window: { from: "2026-01-01" } },
        { kind: "revenue", atLeast: 100.25 },
        { kind: "revenue", window: { lastDays: 365 }, atLeast: 0.0001, atMost: 1000 },
        { kind: "churnRisk", atLeast: 0.7 },
        { kind: "engagementScore", atMost: 20 },
        { kind: "tags", match: "any", tags: ["vip", "beta"] },
        { kind: "metadata", path: ["plan", "seats"], operator: "gte", value: 10 },
        { kind: "metadata", path: ["source"], operator: "in", value: ["ads", "referral"] },
        { kind: "metadata", path: ["devices", "0"], operator: "exists" },
        { kind: "preference", setting: "language", in: ["en-GB"] },
        { kind: "preferenceFlag", setting: "notifications.email", is: true },
        { kind: "consent", purpose: "marketing", given: true },
        { kind: "any", criteria: [{ kind: "segment", segmentId: "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35" }, age] },
        { kind: "not", criterion: { kind: "tags", match: "all", tags: ["churned"] } }
      ]
    }
    assert.deepStrictEqual<unknown>(Schema.decodeUnknownSync(SegmentCriteria)(criteria), criteria)
  })

  it("refuses an unknown kind, naming the node", () => {
    assertRefused(
      { kind: "all", criteria: [age, { kind: "any", criteria: [{ kind: "shoeSize", atLeast: 9 }] }] },
      "a criterion kind: one of all, any, not, age",
      `["criteria"][1]["criteria"][0]["kind"]`
    )
    assertRefused({ kind: "not", criterion: "age" }, "a criterion kind", `["criterion"]["kind"]`)
  })

  it("refuses bad values at their path", () => {
    const inside = (node: unknown) => ({ kind: "all", criteria: [age, { kind: "not", criterion: node }] })
    const at = (field: string) => `["criteria"][1]["criterion"]["${field}"]`
    assertRefused(inside({ kind: "age", atLeast: 40, atMost: 30 }), "atMost not below atLeast", at("atMost"))
    assertRefused(inside({ kind: "age" }), "at least one of atLeast and atMost", `["criteria"][1]["criterion"]`)
    assertRefused(inside({ kind: "age", atLeast: 151 }), "between 0 and 150", at("atLeast"))
    assertRefused(inside({ kind: "gender", in: [] }), "length of at least 1", at("in"))
    assertRefused(inside({ kind: "country", in: ["XX"] }), "Expected", `${at("in")}[0]`)
    assertRefused(
      inside({ kind: "eventCount", window: { lastDays: 0 }, atLeast: 1 }),
      "between 1 and 3650",
      `${at("window")}["lastDays"]`
    )
    assertRefused(
      inside({ kind: "eventCount", window: { from: "2026-02-01", to: "2026-01-01" }, atLeast: 1 }),
      "to not before from",
      `${at("window")}["to"]`
    )
    assertRefused(inside({ kind: "lastSeen", window: { from: "2026-02-30" } }), "a calendar day", `${at("window")}["from"]`)
    assertRefused(inside({ kind: "revenue", atLeast: 0.00001 }), "at most 4 decimal places", at("atLeast"))
    assertRefused(inside({ kind: "churnRisk", atLeast: 1.5 }), "between 0 and 1", at("atLeast"))
    assertRefused(inside({ kind: "engagementScore", atLeast: 10.5 }), "integer", at("atLeast"))
    assertRefused(inside({ kind: "tags", match: "any", tags: ["Not A Tag"] }), "lower-case tag", `${at("tags")}[0]`)
    assertRefused(
      inside({ kind: "metadata", path: ["plan"], operator: "gt", value: "gold" }),
      "a number to compare with",
      at("value")
    )
    assertRefused(
      inside({ kind: "metadata", path: ["plan"], operator: "exists", value: 1 }),
      "no value with the operator exists",
      at("value")
    )
    assertRefused(inside({ kind: "metadata", path: ["-1"], operator: "exists" }), "not starting with '-'", `${at("path")}[0]`)
    assertRefused(inside({ kind: "metadata", path: [], operator: "exists" }), "length of at least 1", at("path"))
    assertRefused(inside({ kind: "segment", segmentId: "not-a-uuid" }), "UUID", at("segmentId"))
    assertRefused({ kind: "any", criteria: [] }, "length of at least 1", `["criteria"]`)
  })

  it("refuses criteria nested deeper than the limit, at the first node too deep", () => {
    let tree: unknown = age
    for (let level = 1; level < maxCriteriaDepth; level++) tree = { kind: "not", criterion: tree }
    assert.strictEqual(refusal(tree), "")
    const tooDeep = { kind: "all", criteria: [age, tree] }
    const path = `["criteria"][1]` + `["criterion"]`.repeat(maxCriteriaDepth - 1)
    assertRefused(tooDeep, `nested at most ${maxCriteriaDepth} levels deep`, path)
  })

  it("refuses a hostile depth without exhausting the stack", () => {
    let tree: unknown = age
    for (let level = 0; level < 100_000; level++) tree = { kind: "not", criterion: tree }
    assert.include(refusal(tree), `nested at most ${maxCriteriaDepth} levels deep`)
  })

  it("refuses more nodes than the limit, at the first node past it", () => {
    const leaves = (count: number) => ({ kind: "any", criteria: Array.from({ length: count }, () => age) })
    assert.strictEqual(refusal(leaves(maxCriteriaNodes - 1)), "")
    assertRefused(leaves(maxCriteriaNodes), `at most ${maxCriteriaNodes} nodes`, `["criteria"][${maxCriteriaNodes - 1}]`)
  })
})
