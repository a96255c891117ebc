/**
 * What both criteria evaluators share: the inputs of an evaluation besides
 * the customer (the instant, the churn model, segment membership) and the
 * arithmetic whose every step the SQL compiler mirrors, so that the two
 * cannot drift apart silently (the property test would see it).
 */
import { Clock, Effect, Option } from "effect"
import type { BgNbdParameters, GammaGammaParameters } from "../analytics/Clv.ts"
import { ClvModels } from "../analytics/ClvModels.ts"
import { dayNumber, dayOfInstant } from "../analytics/Days.ts"
import { windowDays } from "../analytics/Engagement.ts"
import type { RuleId } from "../domain/Rules.ts"
import type { Criterion, SegmentId, Window } from "../domain/SegmentCriteria.ts"

export interface EvaluationContext {
  /** The evaluation's instant (epoch milliseconds, from the Clock): windows and recency count from its UTC day. */
  readonly now: number
  /** The latest fitted BG/NBD model; null: no model yet, and churn risk is unknown for every customer. */
  readonly churnModel: BgNbdParameters | null
  /**
   * The latest fit's Gamma-Gamma spend model; null: none (no repeat buyers when it was fitted), and lifetime
   * value is unknown for every customer.
   */
  readonly spendModel: GammaGammaParameters | null
}

/**
 * An evaluation at the Clock's instant, under the latest fitted CLV model (none yet: churn risk and lifetime
 * value unknown).
 */
export const currentEvaluationContext: Effect.Effect<EvaluationContext, never, ClvModels> = Effect.gen(function*() {
  const now = yield* Clock.currentTimeMillis
  const latest = yield* Effect.option((yield* ClvModels).latest)
  const fitted = Option.getOrNull(latest)?.bgNbd ?? null
  const spend = Option.getOrNull(latest)?.gammaGamma ?? null
  return {
    now,
    churnModel: fitted === null ? null : { r: fitted.r, alpha: fitted.alpha, a: fitted.a, b: fitted.b },
    spendModel: spend === null ? null : { p: spend.p, q: spend.q, v: spend.v }
  }
})

/** Where one customer's membership of other segments comes from, for the in-memory evaluator. */
export interface MembershipLookup {
  readonly isMember: (segmentId: SegmentId) => boolean
}

/**
 * Whether the rules engine's rule matched one customer, for the in-memory evaluator: the engine's answer is an
 * input, as membership is (the calculation asks the engine; see RuleMatches.ts).
 */
export interface RuleOutcomes {
  readonly matches: (ruleId: RuleId) => boolean
}

/** UTC days as day numbers (Days.ts), both bounds included; null: open. */
export interface DayRange {
  readonly from: number | null
  readonly to: number | null
}

/**
 * `lastDays: N` is today and the N - 1 days before it, with no upper bound: an event stamped a little ahead
 * of the clock lands on a later day and still counts as recent, as in the analytics windows.
 */
export const dayRangeOf = (window: Window, today: number): DayRange =>
  "lastDays" in window
    ? { from: today - window.lastDays + 1, to: null }
    : {
      from: window.from === undefined ? null : dayNumber(window.from),
      to: window.to === undefined ? null : dayNumber(window.to)
    }

export const isInRange = (day: number, range: DayRange): boolean =>
  (range.from === null || day >= range.from) && (range.to === null || day <= range.to)

export const todayOf = (context: EvaluationContext): number => dayOfInstant(context.now)

/** Amounts are compared in ten-thousandths, exactly, as numeric(20, 4) holds them. */
export const moneyUnits = (amount: number): bigint => BigInt(Math.round(amount * 10_000))

/** `123.4500` (numeric as PostgreSQL prints it) -> 1234500n ten-thousandths. */
export const moneyUnitsOfText = (text: string): bigint => {
  const negative = text.startsWith("-")
  const [whole, fraction = ""] = (negative ? text.slice(1) : text).split(".")
  const units = BigInt(whole) * 10_000n + BigInt(fraction.padEnd(4, "0").slice(0, 4))
  return negative ? -units : units
}

/**
 * exp() arguments are kept within ±700: PostgreSQL raises an error where JavaScript answers Infinity or 0,
 * and e^700 already makes P(alive) 0 to 300 decimal places.
 */
export const expLimit = 700

/** The purchase summary churn risk reads, in UTC day numbers. */
export interface PurchaseSummary {
  readonly purchaseDays: number
  readonly firstPurchaseDay: number | null
  readonly lastPurchaseDay: number | null
}

/**
 * 1 - P(alive) under BG/NBD (Clv.ts probabilityAlive), with x, t_x and T as ClvScorer derives them (weeks),
 * written as 1 / (1 + exp(ln a - ln(b + x - 1) + (r + x) ln((α + T) / (α + t_x)))) so that no step can
 * overflow in PostgreSQL. Null (unknown) without a model or without a purchase.
 */
export const churnRiskOf = (
  model: BgNbdParameters | null,
  purchases: PurchaseSummary | null,
  today: number
): number | null => {
  if (model === null || purchases === null || purchases.purchaseDays < 1) return null
  const { firstPurchaseDay, lastPurchaseDay } = purchases
  // A last purchase before the first is not a history the model can read (and ln of it fails in SQL).
  if (firstPurchaseDay === null || lastPurchaseDay === null || lastPurchaseDay < firstPurchaseDay) return null
  const x = purchases.purchaseDays - 1
  if (x === 0) return 0
  const tX = (lastPurchaseDay - firstPurchaseDay) / 7
  const T = Math.max(0, today - firstPurchaseDay) / 7
  const exponent = Math.log(model.a) - Math.log(model.b + x - 1) +
    (model.r + x) * Math.log((model.alpha + T) / (model.alpha + tX))
  const alive = 1 / (1 + Math.exp(Math.max(-expLimit, Math.min(expLimit, exponent))))
  return toRiskPrecision(1 - alive)
}

/** Churn risk is compared to six decimals, so steps per million. */
export const riskSteps = 1_000_000

/**
 * Churn risk to six decimals, by the same float arithmetic in both evaluators (floor(r * 10^6 + 0.5) / 10^6):
 * PostgreSQL's ln and exp and JavaScript's may differ in the last bit, and a risk a bit either side of a
 * threshold (0.5 when the exponent is 0) would put a customer in a segment by one evaluator and not the other.
 */
export const toRiskPrecision = (risk: number) => Math.floor(risk * riskSteps + 0.5) / riskSteps

/**
 * Which of a customer's daily rollup rows (customer_daily_activity) the criteria read as of `today`: none, or
 * those from a day on (`from` null: every day) of some types (`types` null: every type). What the facts loader
 * needs to load, and no more.
 */
export type DailyRowsRead =
  | { readonly _tag: "None" }
  | { readonly _tag: "From"; readonly from: number | null; readonly types: ReadonlyArray<string> | null }

const readsNone: DailyRowsRead = { _tag: "None" }

const union = (left: DailyRowsRead, right: DailyRowsRead): DailyRowsRead =>
  left._tag === "None"
    ? right
    : right._tag === "None"
    ? left
    : {
      _tag: "From",
      from: left.from === null || right.from === null ? null : Math.min(left.from, right.from),
      types: left.types === null || right.types === null ? null : [...new Set([...left.types, ...right.types])]
    }

export const dailyRowsRead = (criteria: Criterion, today: number): DailyRowsRead => {
  switch (criteria.kind) {
    case "all":
    case "any":
      return criteria.criteria.reduce<DailyRowsRead>((read, item) => union(read, dailyRowsRead(item, today)), readsNone)
    case "not":
      return dailyRowsRead(criteria.criterion, today)
    case "eventCount":
      return criteria.window === undefined
        ? readsNone
        : {
          _tag: "From",
          from: dayRangeOf(criteria.window, today).from,
          types: criteria.type === undefined ? null : [criteria.type]
        }
    case "revenue":
      // Revenue counts every type's.
      return criteria.window === undefined
        ? readsNone
        : { _tag: "From", from: dayRangeOf(criteria.window, today).from, types: null }
    case "engagementScore":
      // The engagement window: the days after today - 365, every type.
      return { _tag: "From", from: today - windowDays + 1, types: null }
    default:
      return readsNone
  }
}

/** Every daily row: for callers that do not know the criteria yet. */
export const allDailyRows: DailyRowsRead = { _tag: "From", from: null, types: null }

export const dailyRowsReadByAll = (criteria: ReadonlyArray<Criterion>, today: number): DailyRowsRead =>
  criteria.reduce<DailyRowsRead>((read, item) => union(read, dailyRowsRead(item, today)), readsNone)
