/**
 * The in-memory criteria evaluator: does one customer, as its facts show
 * it, meet the criteria at the context's instant? It must answer exactly as
 * the SQL compiler's predicate (CriteriaSql.ts) does for the same rows; the
 * property test in test/property/segment-evaluators.test.ts holds the two
 * together. Missing data (docs/segments.md): a leaf that needs a value the
 * customer does not have is false, and `not` of it is true. Membership of
 * other segments and the rules engine's outcomes are inputs.
 */
import { engagementOf } from "../analytics/Engagement.ts"
import { type Criterion, type LeafCriterion, type MetadataScalar, profileConsentPurpose } from "../domain/SegmentCriteria.ts"
import type { CustomerFacts } from "./CustomerFacts.ts"
import { lifetimeValueOf } from "./LifetimeValue.ts"
import {
  churnRiskOf,
  dayRangeOf,
  type EvaluationContext,
  isInRange,
  type MembershipLookup,
  moneyUnits,
  type RuleOutcomes,
  todayOf
} from "./Evaluation.ts"

const isWithin = (value: number | bigint, atLeast: number | bigint | undefined, atMost: number | bigint | undefined) =>
  (atLeast === undefined || value >= atLeast) && (atMost === undefined || value <= atMost)

const isPlainObject = (value: unknown): value is { readonly [key: string]: unknown } =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** PostgreSQL's `jsonb #> text[]`: a key of an object, a digit index of an array, nothing inside a scalar. */
export const valueAtPath = (root: unknown, path: ReadonlyArray<string>): unknown => {
  let current = root
  for (const step of path) {
    if (Array.isArray(current)) {
      current = /^[0-9]+$/.test(step) ? current[Number(step)] : undefined
    } else if (isPlainObject(current)) {
      current = Object.hasOwn(current, step) ? current[step] : undefined
    } else {
      return undefined
    }
    if (current === undefined) return undefined
  }
  return current
}

/** jsonb equality of a stored value with a scalar: same JSON type, equal value (numbers by value). */
const jsonEquals = (stored: unknown, value: MetadataScalar) => typeof stored === typeof value && stored === value

const metadataMatches = (node: Extract<LeafCriterion, { readonly kind: "metadata" }>, facts: CustomerFacts) => {
  const stored = valueAtPath(facts.metadata, node.path)
  const value = node.value
  switch (node.operator) {
    case "exists":
      return stored !== undefined && stored !== null
    case "eq":
      return value !== undefined && typeof value !== "object" && jsonEquals(stored, value)
    case "in":
      return Array.isArray(value) && value.some((item) => jsonEquals(stored, item))
    default: {
      if (typeof stored !== "number" || typeof value !== "number") return false
      switch (node.operator) {
        case "lt":
          return stored < value
        case "lte":
          return stored <= value
        case "gt":
          return stored > value
        case "gte":
          return stored >= value
      }
    }
  }
}

const leafMatches = (
  node: LeafCriterion,
  facts: CustomerFacts,
  context: EvaluationContext,
  membership: MembershipLookup,
  rules: RuleOutcomes
): boolean => {
  const today = todayOf(context)
  switch (node.kind) {
    case "age":
      return facts.age !== null && isWithin(facts.age, node.atLeast, node.atMost)
    case "gender":
      return facts.gender !== null && node.in.includes(facts.gender)
    case "status":
      return node.in.includes(facts.status)
    case "country":
      return facts.location !== null && node.in.includes(facts.location.country)
    case "region":
      return facts.location?.region !== undefined && node.in.includes(facts.location.region)
    case "city":
      return facts.location?.city !== undefined && node.in.includes(facts.location.city)
    case "eventCount": {
      let events: number
      if (node.window !== undefined) {
        const range = dayRangeOf(node.window, today)
        events = 0
        for (const day of facts.days) {
          if ((node.type === undefined || day.type === node.type) && isInRange(day.day, range)) events += day.events
        }
      } else if (node.type !== undefined) {
        events = facts.types.find((row) => row.type === node.type)?.events ?? 0
      } else {
        events = facts.activity?.events ?? 0
      }
      return isWithin(events, node.atLeast, node.atMost)
    }
    case "lastSeen": {
      const lastDay = node.type === undefined
        ? facts.activity?.lastSeenDay
        : facts.types.find((row) => row.type === node.type)?.lastDay
      return lastDay !== undefined && isInRange(lastDay, dayRangeOf(node.window, today))
    }
    case "revenue": {
      let revenue: bigint
      if (node.window === undefined) {
        revenue = facts.activity?.revenue ?? 0n
      } else {
        const range = dayRangeOf(node.window, today)
        revenue = 0n
        for (const day of facts.days) if (isInRange(day.day, range)) revenue += day.revenue
      }
      return isWithin(
        revenue,
        node.atLeast === undefined ? undefined : moneyUnits(node.atLeast),
        node.atMost === undefined ? undefined : moneyUnits(node.atMost)
      )
    }
    case "churnRisk": {
      const risk = churnRiskOf(context.churnModel, facts.activity, today)
      return risk !== null && isWithin(risk, node.atLeast, node.atMost)
    }
    case "lifetimeValue": {
      const value = lifetimeValueOf(context, facts.activity, today)
      return value !== null && isWithin(value, node.atLeast, node.atMost)
    }
    case "engagementScore": {
      // As the analytics endpoint scores it: events per day (all types) over the engagement window.
      const perDay = new Map<number, number>()
      for (const day of facts.days) perDay.set(day.day, (perDay.get(day.day) ?? 0) + day.events)
      const days = [...perDay].map(([day, events]) => ({ ageDays: today - day, events }))
      const lastSeenDay = facts.activity?.lastSeenDay
      const { score } = engagementOf(days, lastSeenDay === undefined ? null : Math.max(0, today - lastSeenDay))
      return isWithin(score, node.atLeast, node.atMost)
    }
    case "tags":
      return node.match === "any"
        ? node.tags.some((tag) => facts.tags.includes(tag))
        : node.tags.every((tag) => facts.tags.includes(tag))
    case "metadata":
      return metadataMatches(node, facts)
    case "preference": {
      const value = facts.preferences[node.setting]
      return typeof value === "string" && node.in.includes(value)
    }
    case "preferenceFlag":
      return valueAtPath(facts.preferences, node.setting.split(".")) === node.is
    case "consent":
      return profileConsentPurpose(node.purpose)
        ? facts.consent[node.purpose] === node.given
        : facts.grantedPurposes.includes(node.purpose) === node.given
    case "segment":
      return membership.isMember(node.segmentId)
    case "rule":
      return rules.matches(node.ruleId)
  }
}

/** Whether the customer meets the criteria. */
export const evaluate = (
  criteria: Criterion,
  facts: CustomerFacts,
  context: EvaluationContext,
  membership: MembershipLookup,
  rules: RuleOutcomes
): boolean => {
  switch (criteria.kind) {
    case "all":
      return criteria.criteria.every((item) => evaluate(item, facts, context, membership, rules))
    case "any":
      return criteria.criteria.some((item) => evaluate(item, facts, context, membership, rules))
    case "not":
      return !evaluate(criteria.criterion, facts, context, membership, rules)
    default:
      return leafMatches(criteria, facts, context, membership, rules)
  }
}
