/**
 * Predicted lifetime value as the `lifetimeValue` criterion reads it: the
 * figure GET /customers/:id/analytics reports (BG/NBD + Gamma-Gamma over
 * ClvScorer's twelve months, Clv.ts customerLifetimeValue), to the
 * ten-thousandth.
 *
 * In memory it is that very function. In SQL the one part PostgreSQL cannot
 * afford per customer, the hypergeometric series (12 per customer), depends
 * on x and T alone (Clv.ts discountedPurchasesIfAlive): the set-wise caller
 * reads the distinct (x, T) pairs of the customers once, computes the factor
 * of each here, and passes the table as bound arrays; the compiled predicate
 * multiplies spend × P(alive) × factor, the product the in-memory side forms.
 */
import { Effect } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import {
  type BgNbdParameters,
  customerLifetimeValue,
  discountedPurchasesIfAlive,
  type GammaGammaParameters
} from "../analytics/Clv.ts"
import { horizonMonths } from "../analytics/ClvScorer.ts"
import type { Criterion } from "../domain/SegmentCriteria.ts"
import { type EvaluationContext, type PurchaseSummary, todayOf } from "./Evaluation.ts"
import { leavesOf } from "./CriteriaReferences.ts"

const daysPerWeek = 7

export interface LifetimeValueModel {
  readonly bgNbd: BgNbdParameters
  readonly gammaGamma: GammaGammaParameters
}

/**
 * Both fitted models, when the spend model has a finite population mean (q > 1): otherwise the expected spend
 * is no mean at all, and lifetime value is unknown for every customer.
 */
export const lifetimeValueModelOf = (context: EvaluationContext): LifetimeValueModel | null =>
  context.churnModel === null || context.spendModel === null || !(context.spendModel.q > 1)
    ? null
    : { bgNbd: context.churnModel, gammaGamma: context.spendModel }

/** Lifetime value is compared to the ten-thousandth, rounded half up by the same float arithmetic in both evaluators. */
export const valueSteps = 10_000
export const toValuePrecision = (value: number) => Math.floor(value * valueSteps + 0.5) / valueSteps

/** A purchase history the models can read: a purchase day, and a last purchase day not before the first. */
const readable = (purchases: PurchaseSummary | null) =>
  purchases !== null && purchases.purchaseDays >= 1 && purchases.firstPurchaseDay !== null &&
  purchases.lastPurchaseDay !== null && purchases.lastPurchaseDay >= purchases.firstPurchaseDay

/**
 * The customer's predicted lifetime value, to the ten-thousandth; null (unknown) without a usable model,
 * without a readable purchase history, or where the model gives no finite figure (as ClvScorer says so).
 */
export const lifetimeValueOf = (
  context: EvaluationContext,
  purchases: (PurchaseSummary & { readonly repeatRevenue: number }) | null,
  today: number
): number | null => {
  const model = lifetimeValueModelOf(context)
  if (model === null || purchases === null || !readable(purchases)) return null
  const first = purchases.firstPurchaseDay ?? today
  const x = purchases.purchaseDays - 1
  const value = customerLifetimeValue(model.bgNbd, model.gammaGamma, {
    x,
    tX: ((purchases.lastPurchaseDay ?? first) - first) / daysPerWeek,
    T: Math.max(0, today - first) / daysPerWeek,
    meanSpend: x > 0 ? purchases.repeatRevenue / x : 0
  }, { months: horizonMonths })
  return Number.isFinite(value) ? toValuePrecision(value) : null
}

/**
 * The discounted purchases if alive (Clv.ts discountedPurchasesIfAlive) per (x, T in days), as three parallel
 * arrays for `unnest`: pairs whose factor is not finite are left out (their customers' value is unknown).
 */
export interface LifetimeValueFactors {
  readonly x: ReadonlyArray<number>
  readonly days: ReadonlyArray<number>
  readonly factor: ReadonlyArray<number>
}

export const noLifetimeValueFactors: LifetimeValueFactors = { x: [], days: [], factor: [] }

const readsLifetimeValue = (criteria: Criterion): boolean =>
  leavesOf(criteria).some((leaf) => leaf.kind === "lifetimeValue")

/**
 * The factors of every (x, T) among the customers' readable purchase histories at the context's day, read in
 * one statement; nothing when no criteria read lifetime value or no usable model is fitted. A history that
 * moves between this read and the predicate's (a fold commits) is not in the table and reads as unknown: the
 * fold queued the customer for real-time membership (EvaluationQueue.ts), which settles it in memory.
 */
export const lifetimeValueFactors = (
  sql: SqlClient.SqlClient,
  criteria: ReadonlyArray<Criterion>,
  context: EvaluationContext
): Effect.Effect<LifetimeValueFactors, SqlError.SqlError> =>
  Effect.gen(function*() {
    const model = lifetimeValueModelOf(context)
    if (model === null || !criteria.some(readsLifetimeValue)) return noLifetimeValueFactors
    const today = todayOf(context)
    const pairs = yield* sql<{ readonly x: number; readonly days: number }>`SELECT DISTINCT
        a.purchase_days - 1 AS x, greatest(0, ${today}::int - (a.first_purchase_on - DATE '1970-01-01')) AS days
      FROM customer_activity a
      WHERE a.purchase_days >= 1 AND a.first_purchase_on IS NOT NULL AND a.last_purchase_on >= a.first_purchase_on`
    const x: Array<number> = []
    const days: Array<number> = []
    const factor: Array<number> = []
    for (const pair of pairs) {
      const value = discountedPurchasesIfAlive(model.bgNbd, pair.x, pair.days / daysPerWeek, { months: horizonMonths })
      if (!Number.isFinite(value)) continue
      x.push(pair.x)
      days.push(pair.days)
      factor.push(value)
    }
    return { x, days, factor }
  }).pipe(Effect.withSpan("LifetimeValue.factors"))
