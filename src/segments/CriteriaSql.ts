/**
 * The criteria compiler: a criteria tree becomes one predicate over
 * `customers c`, reading the rollup tables (migrations/0005), for set-wise
 * calculation (`SELECT c.id FROM customers c WHERE <predicate>`): counts,
 * revenue and churn risk as sets of customers read once (`c.id IN (...)`),
 * recency and engagement through subqueries.
 *
 * Every value from the criteria is a bound parameter of the sql-pg template
 * (metadata paths too: `c.metadata #> $1::text[]`); nothing of the input
 * becomes SQL text. Each leaf is wrapped in COALESCE(..., FALSE), so a leaf
 * that meets missing data is false rather than SQL's unknown and the
 * combinators keep two-valued logic: the rule of CriteriaEval.ts.
 * Each expression mirrors, step by step, the arithmetic there.
 */
import type { Statement } from "effect/sql"
import { dayText } from "../analytics/Days.ts"
import { activeDaysAtHalf, eventsPerDayAtHalf, halfLifeDays, weights, windowDays } from "../analytics/Engagement.ts"
import type { RuleId } from "../domain/Rules.ts"
import {
  type Criterion,
  type LeafCriterion,
  profileConsentPurpose,
  type SegmentId,
  type Window
} from "../domain/SegmentCriteria.ts"
import { dayRangeOf, type EvaluationContext, expLimit, riskSteps, todayOf } from "./Evaluation.ts"
import { type LifetimeValueFactors, lifetimeValueModelOf, valueSteps } from "./LifetimeValue.ts"

export interface SqlEvaluationContext extends EvaluationContext {
  /** A predicate over `c`: the customer is a member of that segment. */
  readonly memberOf: (segmentId: SegmentId) => Statement.Fragment
  /** A predicate over `c`: the rules engine's rule matched the customer (the calculation stored its answers). */
  readonly ruleMatches: (ruleId: RuleId) => Statement.Fragment
  /** Per (x, T), the part of lifetime value SQL cannot afford per customer (LifetimeValue.ts lifetimeValueFactors). */
  readonly lifetimeValueFactors: LifetimeValueFactors
}

type Sql = Statement.Constructor

/** Day numbers (analytics/Days.ts) of a date column, as CustomerFacts.ts reads them. */
const dayNumberOf = (sql: Sql, column: Statement.Fragment) => sql`(${column} - DATE '1970-01-01')`

/** `column` (a date) within the window; dates compared as dates, so an index on the column can serve. */
const dateInWindow = (sql: Sql, column: Statement.Fragment, window: Window, today: number) => {
  const range = dayRangeOf(window, today)
  const bounds: Array<Statement.Fragment> = []
  if (range.from !== null) bounds.push(sql`${column} >= ${dayText(range.from)}::date`)
  if (range.to !== null) bounds.push(sql`${column} <= ${dayText(range.to)}::date`)
  return sql.and(bounds)
}

/**
 * The UTC day of `column` (a timestamptz) within the window, as a range of instants (midnight UTC of the first
 * day, up to midnight after the last), so that an index on the column can serve.
 */
const instantInWindow = (sql: Sql, column: Statement.Fragment, window: Window, today: number) => {
  const range = dayRangeOf(window, today)
  const midnight = (day: number) => `${dayText(day)}T00:00:00Z`
  const bounds: Array<Statement.Fragment> = []
  if (range.from !== null) bounds.push(sql`${column} >= ${midnight(range.from)}::timestamptz`)
  if (range.to !== null) bounds.push(sql`${column} < ${midnight(range.to + 1)}::timestamptz`)
  return sql.and(bounds)
}

/** `value` within the inclusive bounds; each bound is already a parameter fragment. */
const within = (
  sql: Sql,
  value: Statement.Fragment,
  atLeast: Statement.Fragment | undefined,
  atMost: Statement.Fragment | undefined
) => {
  const bounds: Array<Statement.Fragment> = []
  if (atLeast !== undefined) bounds.push(sql`${value} >= ${atLeast}`)
  if (atMost !== undefined) bounds.push(sql`${value} <= ${atMost}`)
  return sql.and(bounds)
}

/** Where a per-customer amount is read from: one row per customer, or rows to sum per customer. */
interface AmountSource {
  /** The table with its alias, e.g. `customer_daily_activity d`. */
  readonly rows: Statement.Fragment
  /** Its customer column, e.g. `d.customer_id`. */
  readonly customer: Statement.Fragment
  readonly where: ReadonlyArray<Statement.Fragment>
  /** The amount: a column of the one row, or an aggregate over the customer's rows (`grouped`). */
  readonly amount: Statement.Fragment
  readonly grouped: boolean
}

/** A column of the all-history rollup (`events`, `revenue`): one row per customer. */
const lifetimeRollup = (sql: Sql, column: "events" | "revenue"): AmountSource => ({
  rows: sql`customer_activity a`,
  customer: sql`a.customer_id`,
  where: [],
  amount: sql.literal(`a.${column}`),
  grouped: false
})

/** Events of one type over all history: one row per customer and type. */
const typeRollup = (sql: Sql, type: string): AmountSource => ({
  rows: sql`customer_type_activity t`,
  customer: sql`t.customer_id`,
  where: [sql`t.type = ${type}`],
  amount: sql`t.events`,
  grouped: false
})

/** A column of the daily rollup summed over the days (and types) `where` selects. */
const dailyRollup = (sql: Sql, column: "events" | "revenue", where: ReadonlyArray<Statement.Fragment>): AmountSource => ({
  rows: sql`customer_daily_activity d`,
  customer: sql`d.customer_id`,
  where,
  amount: sql.literal(`sum(d.${column})`),
  grouped: true
})

/**
 * The customers whose amount is within the bounds, as a set: `c.id IN (...)`, which the planner evaluates once
 * (a semi-join, or a hashed subplan under OR and NOT) where a correlated subquery probes the rollups once per
 * customer (at a million customers, seconds per leaf). A customer without rows has the amount 0, as the
 * in-memory evaluator counts it: when 0 is within the bounds, the leaf is "not among those outside them".
 */
const amountWithin = (
  sql: Sql,
  source: AmountSource,
  bounds: { readonly atLeast: number | undefined; readonly atMost: number | undefined },
  literal: (sql: Sql, value: number | undefined) => Statement.Fragment | undefined
) => {
  const zeroWithin = (bounds.atLeast === undefined || bounds.atLeast <= 0) &&
    (bounds.atMost === undefined || bounds.atMost >= 0)
  const test = within(sql, source.amount, literal(sql, bounds.atLeast), literal(sql, bounds.atMost))
  const selected = zeroWithin ? sql`NOT (${test})` : test
  const customers = source.grouped
    ? sql`SELECT ${source.customer} FROM ${source.rows} WHERE ${sql.and(source.where)}
        GROUP BY ${source.customer} HAVING ${selected}`
    : sql`SELECT ${source.customer} FROM ${source.rows} WHERE ${sql.and([...source.where, selected])}`
  return zeroWithin ? sql`c.id NOT IN (${customers})` : sql`c.id IN (${customers})`
}

const integer = (sql: Sql, value: number | undefined) => value === undefined ? undefined : sql`${value}`
// As text: a float8 parameter cast to numeric keeps only 15 significant digits.
const numeric = (sql: Sql, value: number | undefined) => value === undefined ? undefined : sql`${String(value)}::numeric`
const float = (sql: Sql, value: number | undefined) => value === undefined ? undefined : sql`${value}::float8`

const metadataPredicate = (sql: Sql, node: Extract<LeafCriterion, { readonly kind: "metadata" }>) => {
  const stored = sql`(c.metadata #> ${node.path}::text[])`
  const value = node.value
  const comparison = (operator: Statement.Fragment) =>
    // CASE, not AND: only CASE promises the cast is not attempted on a string.
    sql`CASE WHEN jsonb_typeof(${stored}) = 'number' THEN ${stored}::numeric ${operator} ${String(value)}::numeric END`
  switch (node.operator) {
    case "exists":
      return sql`jsonb_typeof(${stored}) <> 'null'`
    case "eq":
      return sql`${stored} = ${JSON.stringify(value)}::jsonb`
    case "in":
      return sql`${stored} = ANY(${(Array.isArray(value) ? value : []).map((item) => JSON.stringify(item))}::jsonb[])`
    case "lt":
      return comparison(sql.literal("<"))
    case "lte":
      return comparison(sql.literal("<="))
    case "gt":
      return comparison(sql.literal(">"))
    case "gte":
      return comparison(sql.literal(">="))
  }
}

/**
 * The customers whose churn risk (1 - P(alive), as Evaluation.ts churnRiskOf computes it) is within the
 * bounds, as a set read once from customer_activity; without a model (risk unknown) none.
 */
const churnRiskWithin = (
  sql: Sql,
  context: EvaluationContext,
  today: number,
  bounds: { readonly atLeast: number | undefined; readonly atMost: number | undefined }
) => {
  const model = context.churnModel
  if (model === null) return sql`FALSE`
  const x = sql`(a.purchase_days - 1)`
  const first = dayNumberOf(sql, sql`a.first_purchase_on`)
  const last = dayNumberOf(sql, sql`a.last_purchase_on`)
  const tX = sql`(${last} - ${first})::float8 / 7`
  const T = sql`greatest(0, ${today}::int - ${first})::float8 / 7`
  const alpha = sql`${model.alpha}::float8`
  const exponent = sql`ln(${model.a}::float8) - ln(${model.b}::float8 + ${x} - 1)
    + (${model.r}::float8 + ${x}) * ln((${alpha} + ${T}) / (${alpha} + ${tX}))`
  const risk = sql`1 - 1 / (1 + exp(greatest(${-expLimit}::float8, least(${expLimit}::float8, ${exponent}))))`
  const value = sql`CASE WHEN ${x} = 0 THEN 0::float8
    ELSE floor((${risk}) * ${riskSteps}::float8 + 0.5) / ${riskSteps}::float8 END`
  const readable = sql`a.purchase_days >= 1 AND a.first_purchase_on IS NOT NULL
    AND a.last_purchase_on >= a.first_purchase_on`
  // The CASE keeps the arithmetic off the histories it cannot read (ln of a negative number fails), whatever
  // order the planner evaluates the conditions in.
  return sql`c.id IN (SELECT a.customer_id FROM customer_activity a WHERE ${readable}
    AND CASE WHEN ${readable} THEN ${within(sql, value, float(sql, bounds.atLeast), float(sql, bounds.atMost))} ELSE FALSE END)`
}

/**
 * The customers whose predicted lifetime value (LifetimeValue.ts lifetimeValueOf) is within the bounds, as a
 * set read once from customer_activity joined to the (x, T) factors: spend (Gamma-Gamma, Clv.ts
 * conditionalExpectedSpend) × P(alive) (written as churn risk's, so no step can overflow) × factor, to the
 * ten-thousandth. Without a usable model, or for an (x, T) without a finite factor, none.
 */
const lifetimeValueWithin = (
  sql: Sql,
  context: SqlEvaluationContext,
  today: number,
  bounds: { readonly atLeast: number | undefined; readonly atMost: number | undefined }
) => {
  const model = lifetimeValueModelOf(context)
  if (model === null) return sql`FALSE`
  const { bgNbd, gammaGamma } = model
  const factors = context.lifetimeValueFactors
  const x = sql`(a.purchase_days - 1)`
  const first = dayNumberOf(sql, sql`a.first_purchase_on`)
  const last = dayNumberOf(sql, sql`a.last_purchase_on`)
  const tX = sql`(${last} - ${first})::float8 / 7`
  const T = sql`greatest(0, ${today}::int - ${first})::float8 / 7`
  const alpha = sql`${bgNbd.alpha}::float8`
  const exponent = sql`ln(${bgNbd.a}::float8) - ln(${bgNbd.b}::float8 + ${x} - 1)
    + (${bgNbd.r}::float8 + ${x}) * ln((${alpha} + ${T}) / (${alpha} + ${tX}))`
  const alive = sql`CASE WHEN ${x} = 0 THEN 1::float8
    ELSE 1 / (1 + exp(greatest(${-expLimit}::float8, least(${expLimit}::float8, ${exponent})))) END`
  const p = sql`${gammaGamma.p}::float8`
  const meanSpend = sql`CASE WHEN ${x} > 0 THEN a.repeat_revenue::float8 / ${x} ELSE 0::float8 END`
  const spend = sql`(${p} * (${gammaGamma.v}::float8 + ${x} * ${meanSpend})) / (${p} * ${x} + ${gammaGamma.q}::float8 - 1)`
  const value = sql`floor((${spend}) * (${alive}) * f.factor * ${valueSteps}::float8 + 0.5) / ${valueSteps}::float8`
  const readable = sql`a.purchase_days >= 1 AND a.first_purchase_on IS NOT NULL
    AND a.last_purchase_on >= a.first_purchase_on`
  return sql`c.id IN (SELECT a.customer_id FROM customer_activity a
    JOIN unnest(${factors.x}::int[], ${factors.days}::int[], ${factors.factor}::float8[]) AS f (x, days, factor)
      ON f.x = ${x} AND f.days = greatest(0, ${today}::int - ${first})
    WHERE ${readable}
    AND CASE WHEN ${readable} THEN ${within(sql, value, float(sql, bounds.atLeast), float(sql, bounds.atMost))} ELSE FALSE END)`
}

/**
 * The engagement score before rounding (analytics/Engagement.ts engagementOf): the score rounds half up, so
 * "score >= k" is "raw >= k - 0.5" and "score <= k" is "raw < k + 0.5".
 */
const engagementRaw = (sql: Sql, today: number) => {
  const decay = (day: Statement.Fragment) =>
    sql`power(2::float8, -greatest(0, ${today}::int - ${dayNumberOf(sql, day)})::float8 / ${halfLifeDays})`
  const recency = sql`coalesce((SELECT ${decay(sql`(a.last_seen_at AT TIME ZONE 'UTC')::date`)}
    FROM customer_activity a WHERE a.customer_id = c.id), 0::float8)`
  return sql`(SELECT 100 * (${weights.recency}::float8 * recency
        + ${weights.frequency}::float8 * (active / (active + ${activeDaysAtHalf}))
        + ${weights.intensity}::float8 * CASE WHEN active = 0 THEN 0::float8
            ELSE (events / active) / ((events / active) + ${eventsPerDayAtHalf}) END)
    FROM (SELECT coalesce(sum(weight), 0)::float8 AS active, coalesce(sum(weight * events), 0)::float8 AS events,
          ${recency} AS recency
        FROM (SELECT sum(d.events) AS events, ${decay(sql`d.day`)} AS weight
          FROM customer_daily_activity d
          WHERE d.customer_id = c.id AND d.day > ${dayText(today)}::date - ${windowDays}::int
          GROUP BY d.day HAVING sum(d.events) > 0) per_day) totals)`
}

const leafPredicate = (sql: Sql, node: LeafCriterion, context: SqlEvaluationContext): Statement.Fragment => {
  const today = todayOf(context)
  switch (node.kind) {
    case "age":
      return within(sql, sql`c.age`, integer(sql, node.atLeast), integer(sql, node.atMost))
    case "gender":
      return sql`c.gender = ANY(${node.in}::text[])`
    case "status":
      return sql`c.status = ANY(${node.in}::text[])`
    case "country":
      return sql`c.country = ANY(${node.in}::text[])`
    case "region":
      return sql`c.location ->> 'region' = ANY(${node.in}::text[])`
    case "city":
      return sql`c.location ->> 'city' = ANY(${node.in}::text[])`
    case "eventCount": {
      const bounds = { atLeast: node.atLeast, atMost: node.atMost }
      if (node.window !== undefined) {
        const where = [dateInWindow(sql, sql`d.day`, node.window, today)]
        if (node.type !== undefined) where.push(sql`d.type = ${node.type}`)
        return amountWithin(sql, dailyRollup(sql, "events", where), bounds, integer)
      }
      return amountWithin(
        sql,
        node.type !== undefined ? typeRollup(sql, node.type) : lifetimeRollup(sql, "events"),
        bounds,
        integer
      )
    }
    case "lastSeen":
      return node.type === undefined
        ? sql`EXISTS (SELECT 1 FROM customer_activity a WHERE a.customer_id = c.id
            AND ${instantInWindow(sql, sql`a.last_seen_at`, node.window, today)})`
        : sql`EXISTS (SELECT 1 FROM customer_type_activity t WHERE t.customer_id = c.id AND t.type = ${node.type}
            AND ${dateInWindow(sql, sql`t.last_on`, node.window, today)})`
    case "revenue": {
      const bounds = { atLeast: node.atLeast, atMost: node.atMost }
      return amountWithin(
        sql,
        node.window === undefined
          ? lifetimeRollup(sql, "revenue")
          : dailyRollup(sql, "revenue", [dateInWindow(sql, sql`d.day`, node.window, today)]),
        bounds,
        numeric
      )
    }
    case "churnRisk":
      return churnRiskWithin(sql, context, today, { atLeast: node.atLeast, atMost: node.atMost })
    case "lifetimeValue":
      return lifetimeValueWithin(sql, context, today, { atLeast: node.atLeast, atMost: node.atMost })
    case "engagementScore": {
      const raw = engagementRaw(sql, today)
      const bounds: Array<Statement.Fragment> = []
      if (node.atLeast !== undefined) bounds.push(sql`${raw} >= ${node.atLeast - 0.5}::float8`)
      if (node.atMost !== undefined) bounds.push(sql`${raw} < ${node.atMost + 0.5}::float8`)
      return sql.and(bounds)
    }
    case "tags":
      return node.match === "any" ? sql`c.tags && ${node.tags}::text[]` : sql`c.tags @> ${node.tags}::text[]`
    case "metadata":
      return metadataPredicate(sql, node)
    case "preference":
      return sql`c.preferences ->> ${node.setting} = ANY(${node.in}::text[])`
    case "preferenceFlag":
      return sql`c.preferences #> ${node.setting.split(".")}::text[] = ${JSON.stringify(node.is)}::jsonb`
    case "consent":
      return profileConsentPurpose(node.purpose)
        ? sql`c.consent -> ${node.purpose} = ${JSON.stringify(node.given)}::jsonb`
        : sql`EXISTS (SELECT 1 FROM customer_consents cc
            WHERE cc.customer_id = c.id AND cc.purpose = ${node.purpose} AND cc.status = 'granted') = ${node.given}`
    case "segment":
      return context.memberOf(node.segmentId)
    case "rule":
      return context.ruleMatches(node.ruleId)
  }
}

/** A calculation's work_mem by default (SEGMENT_CALCULATION_WORK_MEM). */
export const defaultCalculationWorkMem = "256MB"

/**
 * The settings the compiled query is meant to run under, for the rest of the transaction. Each set of customers
 * (`c.id IN (...)` under OR or NOT) is hashed once only when the planner expects it to fit in work_mem, and is
 * otherwise searched again for every customer. JIT compilation took a second of a three-second predicate at
 * 100,000 customers and saved nothing.
 */
export const calculationSettings = (sql: Sql, workMem: string) =>
  sql`SELECT set_config('work_mem', ${workMem}, true), set_config('jit', 'off', true)`

/** Membership of another segment as the calculation reads it: a current stay in the membership table. */
export const currentMemberOf = (sql: Sql) => (segmentId: SegmentId): Statement.Fragment =>
  sql`EXISTS (SELECT 1 FROM customer_segment_memberships other
    WHERE other.segment_id = ${segmentId} AND other.customer_id = c.id AND other.left_at IS NULL)`

/**
 * The live customers the criteria match, as the calculation selects them: one query shared with
 * `npm run bench` (load/segments.ts), which times its bare COUNT(*) beside the calculation.
 */
export const matchingCustomers = (
  sql: Sql,
  criteria: Criterion,
  context: EvaluationContext & Pick<SqlEvaluationContext, "ruleMatches" | "lifetimeValueFactors">
): Statement.Fragment =>
  sql`SELECT c.id FROM customers c WHERE c.status <> 'DELETED'
    AND ${criteriaPredicate(sql, criteria, { ...context, memberOf: currentMemberOf(sql) }, false)}`

/**
 * The criteria as a predicate over `customers c`: true or false for every customer, never NULL. Unless `total`
 * is false: then, for a WHERE clause only, it may be NULL where it would be false, and leaves outside any NOT
 * go without their COALESCE, so that the planner can use an index for them (`c.country = ANY(...)`) and join a
 * set of customers (`c.id IN (...)`) rather than probe it. The rows it selects are the same: AND and OR keep
 * "true" when an unknown becomes false (mapping unknown to false preserves both), and only NOT does not, so
 * every leaf under a NOT keeps its COALESCE.
 */
export const criteriaPredicate = (
  sql: Sql,
  criteria: Criterion,
  context: SqlEvaluationContext,
  total = true
): Statement.Fragment => {
  switch (criteria.kind) {
    case "all":
      return sql`(${sql.and(criteria.criteria.map((item) => criteriaPredicate(sql, item, context, total)))})`
    case "any":
      return sql`(${sql.or(criteria.criteria.map((item) => criteriaPredicate(sql, item, context, total)))})`
    case "not":
      return sql`(NOT ${criteriaPredicate(sql, criteria.criterion, context, true)})`
    default:
      return total
        ? sql`COALESCE((${leafPredicate(sql, criteria, context)}), FALSE)`
        : sql`(${leafPredicate(sql, criteria, context)})`
  }
}
