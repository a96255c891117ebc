/**
 * Which segments a customer's change can move (real-time membership,
 * src/segments/RealtimeMembership.ts): by what their criteria read, through
 * the segments that name them, evaluated named segments first.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Criterion, SegmentId } from "../../src/domain/SegmentCriteria.ts"
import { affectedBy, criteriaReads, dependencyOrder } from "../../src/segments/RealtimeMembership.ts"

const id = (name: string) => name as SegmentId
const definition = (name: string, criteria: Criterion) => ({ id: id(name), criteria, reads: criteriaReads(criteria) })

const country: Criterion = { kind: "country", in: ["GB"] }
const buyers: Criterion = { kind: "eventCount", type: "purchase", window: { lastDays: 30 }, atLeast: 3 }
const memberOf = (name: string): Criterion => ({ kind: "segment", segmentId: id(name) })

describe("real-time membership: what a change can move", () => {
  it("reads profile fields, rollups and named segments anywhere in the tree", () => {
    const reads = criteriaReads({ kind: "any", criteria: [{ kind: "not", criterion: buyers }, memberOf("a")] })
    assert.deepStrictEqual(reads, { profile: false, events: true, segments: [id("a")], inMemory: true })
    assert.deepStrictEqual(criteriaReads(country), { profile: true, events: false, segments: [], inMemory: true })
  })

  it("a profile change moves the segments reading the profile and those naming them, at any depth; not the others", () => {
    const segments = [
      definition("uk", country),
      definition("buyers", buyers),
      definition("uk-of", memberOf("uk")),
      definition("uk-of-of", { kind: "all", criteria: [memberOf("uk-of"), buyers] }),
      definition("buyers-of", memberOf("buyers"))
    ]
    assert.deepStrictEqual([...affectedBy("profile", segments)].sort(), ["uk", "uk-of", "uk-of-of"])
    assert.deepStrictEqual([...affectedBy("events", segments)].sort(), ["buyers", "buyers-of", "uk-of-of"])
  })

  it("orders named segments before the segments naming them", () => {
    const order = dependencyOrder([
      definition("c", { kind: "all", criteria: [memberOf("b"), memberOf("a")] }),
      definition("b", memberOf("a")),
      definition("a", country)
    ]).map((item) => item.id)
    assert.deepStrictEqual(order, ["a", "b", "c"])
  })
})
