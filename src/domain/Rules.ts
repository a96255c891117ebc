/**
 * The rules engine's contract (docs/rules-engine.md) as schemas: what the
 * service sends it and what it expects back. Shared by the client
 * (src/platform/RulesEngine.ts) and the criteria's `rule` leaf.
 */
import { Schema } from "effect"

/** 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit: safe in a URL path as it is. */
export const RuleId = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/u, {
    expected: "a rule id of 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
  })
).pipe(Schema.brand("RuleId")).annotate({ description: "A rule's id in the rules engine" })
export type RuleId = typeof RuleId.Type

/** GET /v1/rules/{ruleId}: extra fields are ignored. */
export const Rule = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  version: Schema.Int
})
export type Rule = typeof Rule.Type

/** What a rule may read of a customer: no contact details, no free text, no metadata (docs/rules-engine.md). */
export const RuleFacts = Schema.Struct({
  age: Schema.NullOr(Schema.Int),
  gender: Schema.NullOr(Schema.String),
  status: Schema.String,
  country: Schema.NullOr(Schema.String),
  tags: Schema.Array(Schema.String),
  events: Schema.Int,
  /** In the reporting currency, as an exact decimal. */
  revenue: Schema.String,
  purchaseDays: Schema.Int,
  /** The UTC day last seen, YYYY-MM-DD. */
  lastSeenOn: Schema.NullOr(Schema.String)
})
export type RuleFacts = typeof RuleFacts.Type

/** Customers per evaluate request the engine accepts at most. */
export const maxEvaluateBatch = 1000

export const RuleSubject = Schema.Struct({ id: Schema.String, facts: RuleFacts })
export type RuleSubject = typeof RuleSubject.Type

export const EvaluateRequest = Schema.Struct({
  customers: Schema.Array(RuleSubject).check(Schema.isMinLength(1), Schema.isMaxLength(maxEvaluateBatch))
})

export const EvaluateResponse = Schema.Struct({
  results: Schema.Array(Schema.Struct({ id: Schema.String, matches: Schema.Boolean }))
})
