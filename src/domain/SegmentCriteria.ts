/**
 * The segment criteria language: a tree of leaf criteria (profile fields,
 * event rollups, model scores, custom data, other segments) combined with
 * all / any / not. Two evaluators read it and must agree on every customer:
 * src/segments/CriteriaSql.ts (set-wise, in PostgreSQL) and
 * src/segments/CriteriaEval.ts (one customer, in memory). docs/segments.md
 * states the meaning of each node, the rule for missing data and the limits.
 */
import { Schema, SchemaTransformation } from "effect"
import { ConsentPurpose } from "./Consent.ts"
import { Age, CustomerStatus, Gender, isStorableText, Tag } from "./Customer.ts"
import { EventType } from "./Event.ts"
import { CountryCode } from "./Reference.ts"
import { RuleId } from "./Rules.ts"

/** Combinators nest at most this deep: the root is at depth 1. */
export const maxCriteriaDepth = 10
/** Nodes (leaves and combinators) in one criteria tree. */
export const maxCriteriaNodes = 200
/** Values in one list (`in`, `tags`, ...). */
export const maxListValues = 100
/** The longest relative window, in days (ten years). */
export const maxWindowDays = 3650
/** Thresholds on money: at most this large, to the ten-thousandth (the rollups' numeric(20, 4)). */
export const maxMoney = 1e11

export const SegmentId = Schema.String.check(Schema.isUUID()).pipe(Schema.brand("SegmentId"))
export type SegmentId = typeof SegmentId.Type

const listOf = <S extends Schema.Top>(item: S) =>
  Schema.Array(item).check(Schema.isMinLength(1), Schema.isMaxLength(maxListValues))

const ShortText = Schema.String.check(isStorableText, Schema.isNonEmpty(), Schema.isMaxCodePoints(120))

/**
 * `atLeast` and `atMost`, both inclusive; at least one given, and not crossed. The check is on the node so
 * that its message points at the node.
 */
const rangeOf = <S extends Schema.Top & { readonly Type: number }>(value: S) => ({
  atLeast: Schema.optionalKey(value),
  atMost: Schema.optionalKey(value)
})
const boundedRange = Schema.makeFilter(
  (node: { readonly atLeast?: number; readonly atMost?: number }) =>
    node.atLeast === undefined && node.atMost === undefined
      ? "at least one of atLeast and atMost"
      : node.atLeast !== undefined && node.atMost !== undefined && node.atLeast > node.atMost
      ? { path: ["atMost"], issue: "atMost not below atLeast" }
      : undefined
)

/** A UTC calendar day, `2026-03-15`: the rollups count in whole UTC days. */
export const Day = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}$/u, { expected: "a day as YYYY-MM-DD" }),
  Schema.makeFilter((text: string) => {
    const parsed = new Date(`${text}T00:00:00Z`)
    return (!Number.isNaN(parsed.getTime()) && parsed.toISOString().startsWith(text) && text >= "1970-01-01") ||
      "a calendar day from 1970-01-01 on"
  })
).annotate({ identifier: "Day" })

/** The last N UTC days, today included: today - N + 1 and later (an event stamped a little ahead of the clock counts). */
export const RelativeWindow = Schema.Struct({
  lastDays: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: maxWindowDays }))
}).annotate({ identifier: "RelativeWindow" })

/** UTC days from `from` to `to`, both included; either may be left open. */
export const AbsoluteWindow = Schema.Struct({
  from: Schema.optionalKey(Day),
  to: Schema.optionalKey(Day)
}).check(Schema.makeFilter((window) =>
  window.from === undefined && window.to === undefined
    ? "at least one of from and to"
    : window.from !== undefined && window.to !== undefined && window.from > window.to
    ? { path: ["to"], issue: "to not before from" }
    : undefined
)).annotate({ identifier: "AbsoluteWindow" })

export const Window = Schema.Union([RelativeWindow, AbsoluteWindow]).annotate({ identifier: "Window" })
export type Window = typeof Window.Type

const EventCount = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1e9 }))

/** An amount in the reporting currency, to the ten-thousandth, so that both evaluators compare it exactly. */
export const Money = Schema.Finite.check(
  Schema.isBetween({ minimum: -maxMoney, maximum: maxMoney }),
  Schema.makeFilter((amount: number) =>
    Math.round(amount * 10_000) / 10_000 === amount || "an amount with at most 4 decimal places"
  )
).annotate({ identifier: "Money" })

const Probability = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))
const Score = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 }))

// ----- demographic -----------------------------------------------------------------------------------------

export const AgeCriterion = Schema.Struct({
  kind: Schema.Literal("age"),
  atLeast: Schema.optionalKey(Age),
  atMost: Schema.optionalKey(Age)
}).check(boundedRange).annotate({ identifier: "AgeCriterion", description: "Age in years, bounds included" })

export const GenderCriterion = Schema.Struct({
  kind: Schema.Literal("gender"),
  in: listOf(Gender)
}).annotate({ identifier: "GenderCriterion" })

export const StatusCriterion = Schema.Struct({
  kind: Schema.Literal("status"),
  in: listOf(CustomerStatus)
}).annotate({ identifier: "StatusCriterion" })

// ----- geographic ------------------------------------------------------------------------------------------

export const CountryCriterion = Schema.Struct({
  kind: Schema.Literal("country"),
  in: listOf(CountryCode)
}).annotate({ identifier: "CountryCriterion" })

/** Region and city match the stored text exactly (letter case included): they are free text on the profile. */
export const RegionCriterion = Schema.Struct({
  kind: Schema.Literal("region"),
  in: listOf(ShortText)
}).annotate({ identifier: "RegionCriterion" })

export const CityCriterion = Schema.Struct({
  kind: Schema.Literal("city"),
  in: listOf(ShortText)
}).annotate({ identifier: "CityCriterion" })

// ----- behavioural (event rollups and models) --------------------------------------------------------------

/** Events (of one type, or of every type) over a window, or over all history when no window is given. */
export const EventCountCriterion = Schema.Struct({
  kind: Schema.Literal("eventCount"),
  type: Schema.optionalKey(EventType),
  window: Schema.optionalKey(Window),
  ...rangeOf(EventCount)
}).check(boundedRange).annotate({
  identifier: "EventCountCriterion",
  examples: [{ kind: "eventCount", type: "purchase", window: { lastDays: 30 }, atLeast: 3 }]
})

/** The UTC day of the customer's last event (of one type, or of any) falls in the window. */
export const LastSeenCriterion = Schema.Struct({
  kind: Schema.Literal("lastSeen"),
  type: Schema.optionalKey(EventType),
  window: Window
}).annotate({ identifier: "LastSeenCriterion" })

/** Revenue in the reporting currency over a window, or over all history when no window is given. */
export const RevenueCriterion = Schema.Struct({
  kind: Schema.Literal("revenue"),
  window: Schema.optionalKey(Window),
  ...rangeOf(Money)
}).check(boundedRange).annotate({ identifier: "RevenueCriterion" })

/** 1 - P(alive) under the latest fitted BG/NBD model; unknown without a model or without a purchase. */
export const ChurnRiskCriterion = Schema.Struct({
  kind: Schema.Literal("churnRisk"),
  ...rangeOf(Probability)
}).check(boundedRange).annotate({ identifier: "ChurnRiskCriterion" })

/**
 * Predicted lifetime value over the next twelve months (BG/NBD + Gamma-Gamma of the latest fit), in the reporting
 * currency: the figure GET /customers/:id/analytics reports as `clv.lifetimeValue`. Unknown without a fitted
 * model, without a purchase, or where the model gives no figure.
 */
export const LifetimeValueCriterion = Schema.Struct({
  kind: Schema.Literal("lifetimeValue"),
  ...rangeOf(Money)
}).check(boundedRange).annotate({
  identifier: "LifetimeValueCriterion",
  examples: [{ kind: "lifetimeValue", atLeast: 500 }]
})

/** The engagement score (docs/engagement.md), 0-100, as the analytics endpoint reports it. */
export const EngagementScoreCriterion = Schema.Struct({
  kind: Schema.Literal("engagementScore"),
  ...rangeOf(Score)
}).check(boundedRange).annotate({ identifier: "EngagementScoreCriterion" })

// ----- custom ----------------------------------------------------------------------------------------------

export const TagsCriterion = Schema.Struct({
  kind: Schema.Literal("tags"),
  match: Schema.Literals(["any", "all"]),
  tags: listOf(Tag)
}).annotate({ identifier: "TagsCriterion", description: "The customer has any (or all) of the tags" })

/**
 * A step into metadata: a key of an object, or the index (digits) of an array. No leading '-', so that a
 * step never reads as PostgreSQL's index from the end of an array.
 */
const PathStep = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/u, {
    expected: "a key or array index of 1-64 letters, digits, '_', '.', ':' or '-', not starting with '-'"
  })
)
export const MetadataPath = Schema.Array(PathStep).check(Schema.isMinLength(1), Schema.isMaxLength(8))

const MetadataScalar = Schema.Union([
  Schema.String.check(isStorableText, Schema.isMaxCodePoints(1000)),
  Schema.Finite,
  Schema.Boolean
])
export type MetadataScalar = typeof MetadataScalar.Type

export const MetadataOperator = Schema.Literals(["exists", "eq", "in", "lt", "lte", "gt", "gte"])
export type MetadataOperator = typeof MetadataOperator.Type

/**
 * The value at a metadata path: `exists` (present and not JSON null), `eq` / `in` (equal as JSON values:
 * same type, numbers by value), `lt` ... `gte` (numbers only; any other value there does not match).
 */
export const MetadataCriterion = Schema.Struct({
  kind: Schema.Literal("metadata"),
  path: MetadataPath,
  operator: MetadataOperator,
  value: Schema.optionalKey(Schema.Union([MetadataScalar, listOf(MetadataScalar)]))
}).check(Schema.makeFilter((node) => {
  const value = node.value
  switch (node.operator) {
    case "exists":
      return value === undefined || { path: ["value"], issue: "no value with the operator exists" }
    case "eq":
      return (value !== undefined && !Array.isArray(value)) ||
        { path: ["value"], issue: "a string, number or boolean to compare with" }
    case "in":
      return Array.isArray(value) || { path: ["value"], issue: "a list of strings, numbers or booleans" }
    default:
      return typeof value === "number" || { path: ["value"], issue: "a number to compare with" }
  }
})).annotate({
  identifier: "MetadataCriterion",
  examples: [{ kind: "metadata", path: ["plan", "seats"], operator: "gte", value: 10 }]
})

export const PreferenceCriterion = Schema.Struct({
  kind: Schema.Literal("preference"),
  setting: Schema.Literals(["language", "currency", "timezone"]),
  in: listOf(ShortText)
}).annotate({ identifier: "PreferenceCriterion", description: "A text preference equals one of the values" })

export const preferenceFlags = [
  "notifications.email",
  "notifications.sms",
  "notifications.push",
  "privacy.profileVisible",
  "privacy.shareDataWithPartners",
  "privacy.personalisedRecommendations"
] as const

export const PreferenceFlagCriterion = Schema.Struct({
  kind: Schema.Literal("preferenceFlag"),
  setting: Schema.Literals(preferenceFlags),
  is: Schema.Boolean
}).annotate({ identifier: "PreferenceFlagCriterion" })

/**
 * The customer's current consent to a purpose: `marketing` and `dataProcessing` read the profile's `consent`;
 * any other purpose (`data-processing` included, which agrees with it) its latest entry. `given`: granted.
 */
export const ConsentCriterion = Schema.Struct({
  kind: Schema.Literal("consent"),
  purpose: Schema.Union([Schema.Literals(["marketing", "dataProcessing"]), ConsentPurpose]).annotate({
    description: "`marketing` or `dataProcessing` (the profile's consent), or any consent purpose: " +
      "`data-processing`, `analytics`, `personalisation`, `third-party-sharing`, `custom:<slug>`"
  }),
  given: Schema.Boolean.annotate({ description: "true: granted now; false: withdrawn or never recorded" })
}).annotate({ identifier: "ConsentCriterion" })

/** The purposes the profile's `consent` holds, by their criterion names. */
export const profileConsentPurpose = (purpose: string): purpose is "marketing" | "dataProcessing" =>
  purpose === "marketing" || purpose === "dataProcessing"

// ----- other segments --------------------------------------------------------------------------------------

export const SegmentCriterion = Schema.Struct({
  kind: Schema.Literal("segment"),
  segmentId: SegmentId
}).annotate({ identifier: "SegmentCriterion", description: "The customer is a member of another segment" })

// ----- external rules --------------------------------------------------------------------------------------

/**
 * The customer matches a rule of the external rules engine (docs/rules-engine.md): the id is checked with the
 * engine when the criteria are stored, and the engine evaluates the rule when the segment is calculated.
 */
export const RuleCriterion = Schema.Struct({
  kind: Schema.Literal("rule"),
  ruleId: RuleId
}).annotate({
  identifier: "RuleCriterion",
  description: "The customer matches a rule of the rules engine",
  examples: [{ kind: "rule", ruleId: RuleId.make("vip-gb") }]
})

export const LeafCriterion = Schema.Union([
  AgeCriterion,
  GenderCriterion,
  StatusCriterion,
  CountryCriterion,
  RegionCriterion,
  CityCriterion,
  EventCountCriterion,
  LastSeenCriterion,
  RevenueCriterion,
  ChurnRiskCriterion,
  LifetimeValueCriterion,
  EngagementScoreCriterion,
  TagsCriterion,
  MetadataCriterion,
  PreferenceCriterion,
  PreferenceFlagCriterion,
  ConsentCriterion,
  SegmentCriterion,
  RuleCriterion
])
export type LeafCriterion = typeof LeafCriterion.Type

// ----- combinators -----------------------------------------------------------------------------------------

export interface AllCriterion {
  readonly kind: "all"
  readonly criteria: ReadonlyArray<Criterion>
}
export interface AnyCriterion {
  readonly kind: "any"
  readonly criteria: ReadonlyArray<Criterion>
}
export interface NotCriterion {
  readonly kind: "not"
  readonly criterion: Criterion
}
export type Criterion = AllCriterion | AnyCriterion | NotCriterion | LeafCriterion
export type CriterionEncoded =
  | typeof LeafCriterion.Encoded
  | { readonly kind: "all" | "any"; readonly criteria: ReadonlyArray<CriterionEncoded> }
  | { readonly kind: "not"; readonly criterion: CriterionEncoded }

const child = Schema.suspend((): Schema.Codec<Criterion, CriterionEncoded> => CriterionNode)
const children = Schema.Array(child).check(Schema.isMinLength(1))

const CriterionNode: Schema.Codec<Criterion, CriterionEncoded> = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("all"), criteria: children }).annotate({ identifier: "AllCriterion" }),
  Schema.Struct({ kind: Schema.Literal("any"), criteria: children }).annotate({ identifier: "AnyCriterion" }),
  Schema.Struct({ kind: Schema.Literal("not"), criterion: child }).annotate({ identifier: "NotCriterion" }),
  ...LeafCriterion.members
]).annotate({ identifier: "Criterion", description: "A criteria node: a leaf, or all / any / not of nodes" })

const criterionKinds: ReadonlySet<string> = new Set([
  "all",
  "any",
  "not",
  ...LeafCriterion.members.map((member) => member.fields.kind.literal)
])

/** The child nodes of a node as it came in, each with its path below the node. */
const childrenOf = (node: unknown): ReadonlyArray<readonly [ReadonlyArray<PropertyKey>, unknown]> => {
  if (typeof node !== "object" || node === null) return []
  const { criteria, criterion, kind } = node as { kind?: unknown; criteria?: unknown; criterion?: unknown }
  if ((kind === "all" || kind === "any") && Array.isArray(criteria)) {
    return criteria.map((item, index) => [["criteria", index], item] as const)
  }
  if (kind === "not" && criterion !== undefined) return [[["criterion"], criterion]]
  return []
}

/**
 * Depth and size, checked on the input before the tree is decoded, so a hostile tree is refused before any
 * work proportional to it: the message points at the first node past the limit (in document order).
 */
const withinLimits = Schema.makeFilter((input: unknown): Schema.FilterOutput => {
  let nodes = 0
  const visit = (node: unknown, path: ReadonlyArray<PropertyKey>, depth: number): Schema.FilterIssue | undefined => {
    nodes += 1
    if (nodes > maxCriteriaNodes) return { path, issue: `at most ${maxCriteriaNodes} nodes in a criteria tree` }
    if (depth > maxCriteriaDepth) return { path, issue: `criteria nested at most ${maxCriteriaDepth} levels deep` }
    const kind = typeof node === "object" && node !== null ? (node as { readonly kind?: unknown }).kind : undefined
    // One clear message instead of the union's list of every node it is not.
    if (typeof kind !== "string" || !criterionKinds.has(kind)) {
      return { path: [...path, "kind"], issue: `a criterion kind: one of ${[...criterionKinds].join(", ")}` }
    }
    for (const [step, item] of childrenOf(node)) {
      const issue = visit(item, [...path, ...step], depth + 1)
      if (issue !== undefined) return issue
    }
    return undefined
  }
  return visit(input, [], 1)
}, {
  // The input is decoded from `unknown` (the limits come first), so the document states the tree it must be.
  representation: {
    id: "cms/criteriaLimits",
    payload: { maxCriteriaDepth, maxCriteriaNodes },
    schemas: [Schema.toEncoded(CriterionNode).ast]
  },
  toJsonSchema: ({ schemas: [node] }) => ({
    ...node,
    description: `A criteria tree: at most ${maxCriteriaNodes} nodes, nested at most ${maxCriteriaDepth} levels deep`
  })
}).abort()

/** The criteria of a segment: one node, usually `all` or `any`, within the depth and size limits. */
/**
 * Any input, as JSON is itself: unlike `Schema.Unknown` (whose JSON codec becomes `Schema.Json`, dropping
 * the checks and walking the whole value), it keeps `withinLimits`, so the document states the tree it must be.
 */
const CriteriaInput = Schema.declare((_input: unknown): _input is unknown => true, {
  expected: "a criteria tree",
  toCodecJson: () => undefined
})

export const SegmentCriteria = CriteriaInput.check(withinLimits).pipe(
  Schema.decodeTo(CriterionNode, SchemaTransformation.passthrough({ strict: false }))
).annotate({ identifier: "SegmentCriteria" })
export const CriterionSchema = CriterionNode
