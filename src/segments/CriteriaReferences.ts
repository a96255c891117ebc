/**
 * Where criteria name things outside the customer's own data (other
 * segments, rules of the rules engine) or read personal fields, each node
 * with its path (for messages that point at it).
 */
import type { RuleId } from "../domain/Rules.ts"
import type { Criterion, LeafCriterion, SegmentId } from "../domain/SegmentCriteria.ts"

export type Path = ReadonlyArray<string | number>

/** Every leaf of a tree with its path from the segment's fields (`["criteria", "criteria", 0]`). */
const leavesWithPaths = (
  criteria: Criterion,
  path: Path = ["criteria"]
): ReadonlyArray<{ readonly leaf: LeafCriterion; readonly path: Path }> => {
  switch (criteria.kind) {
    case "all":
    case "any":
      return criteria.criteria.flatMap((child, index) => leavesWithPaths(child, [...path, "criteria", index]))
    case "not":
      return leavesWithPaths(criteria.criterion, [...path, "criterion"])
    default:
      return [{ leaf: criteria, path }]
  }
}

/** Every leaf of a tree, left to right: what readers of criteria switch over, the combinators walked once here. */
export const leavesOf = (criteria: Criterion): ReadonlyArray<LeafCriterion> =>
  leavesWithPaths(criteria).map(({ leaf }) => leaf)

/** Every `segment` node with the path of its `segmentId`. */
export const segmentReferences = (
  criteria: Criterion
): ReadonlyArray<{ readonly segmentId: SegmentId; readonly path: Path }> =>
  leavesWithPaths(criteria).flatMap(({ leaf, path }) =>
    leaf.kind === "segment" ? [{ segmentId: leaf.segmentId, path: [...path, "segmentId"] }] : []
  )

/** Every `rule` node with the path of its `ruleId`. */
export const ruleReferences = (criteria: Criterion): ReadonlyArray<{ readonly ruleId: RuleId; readonly path: Path }> =>
  leavesWithPaths(criteria).flatMap(({ leaf, path }) =>
    leaf.kind === "rule" ? [{ ruleId: leaf.ruleId, path: [...path, "ruleId"] }] : []
  )

/** The distinct rules the criteria name, in order of first appearance. */
export const rulesNamed = (criteria: Criterion): ReadonlyArray<RuleId> => [
  ...new Set(ruleReferences(criteria).map((reference) => reference.ruleId))
]

/**
 * Every node reading a personal field beyond what every role sees (region and city read `location` whole, a
 * country only its country), with the path of its `kind`: a segment on such a field tells its author who lives
 * there once its members' ids are read, so only a role that sees the field may define one (Access.ts).
 */
export const personalFieldReferences = (
  criteria: Criterion
): ReadonlyArray<{ readonly field: "location"; readonly path: Path }> =>
  leavesWithPaths(criteria).flatMap(({ leaf, path }) =>
    leaf.kind === "region" || leaf.kind === "city" ? [{ field: "location" as const, path: [...path, "kind"] }] : []
  )
