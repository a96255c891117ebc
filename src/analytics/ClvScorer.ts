/**
 * Lifetime value, P(alive) and expected purchases of one customer from its
 * repeat-purchase summary: the port the fitted BG/NBD + Gamma-Gamma model
 * plugs into. Until a model is fitted the answer says so instead of guessing.
 */
import { Context, Effect, Layer } from "effect"
import type { Clv } from "../domain/Analytics.ts"
import { conditionalExpectedPurchases, conditionalExpectedSpend, customerLifetimeValue, probabilityAlive } from "./Clv.ts"
import { ClvModels } from "./ClvModels.ts"

/**
 * The horizon of expected purchases and lifetime value: a year, as twelve months of 4.345 weeks (the segment
 * criterion `lifetimeValue` reads the same figure).
 */
export const horizonMonths = 12
const horizonDays = 365
const daysPerWeek = 7

/**
 * The summary the models read (Fader, Hardie & Lee 2005), in days, purchase occasions being UTC days with a
 * purchase: `x` repeat purchase days (all but the first), `tx` days from the first to the last purchase day,
 * `T` days from the first purchase day to today, `meanRepeatSpend` revenue per repeat day (null when x = 0).
 */
export interface RepeatPurchaseSummary {
  readonly x: number
  readonly tx: number
  readonly T: number
  readonly meanRepeatSpend: number | null
}

export class ClvScorer extends Context.Service<ClvScorer, {
  /** Called for customers with at least one purchase day only. */
  score(summary: RepeatPurchaseSummary): Effect.Effect<Clv>
}>()("cms/analytics/ClvScorer") {
  /** No model fitted yet: every customer's prediction is absent, with that reason. */
  static readonly noModel = Layer.succeed(
    ClvScorer,
    ClvScorer.of({
      score: () =>
        Effect.succeed({
          status: "unavailable",
          reason: "no-model-fitted",
          detail: "No CLV model has been fitted over the customer base yet"
        })
    })
  )

  /**
   * The latest successful fit over the customer base (re-read at most once a minute, so a refit applies
   * within a minute in every process). The models are in weeks; the summary is in days.
   */
  static readonly fitted = Layer.effect(
    ClvScorer,
    Effect.gen(function*() {
      const models = yield* ClvModels
      const latest = yield* Effect.cachedWithTTL(Effect.option(models.latest), "1 minute")
      return ClvScorer.of({
        score: (summary) =>
          Effect.map(latest, (found): Clv => {
            if (found._tag === "None" || found.value.bgNbd === null || found.value.gammaGamma === null) {
              return {
                status: "unavailable",
                reason: "no-model-fitted",
                detail: found._tag === "None"
                  ? "No CLV model has been fitted over the customer base yet"
                  : "The latest fit had no repeat buyers to fit spend on"
              }
            }
            const { bgNbd, finishedAt, gammaGamma } = found.value
            const x = summary.x
            const tX = summary.tx / daysPerWeek
            const T = summary.T / daysPerWeek
            const meanSpend = summary.meanRepeatSpend ?? 0
            const alive = probabilityAlive(bgNbd, x, tX, T)
            const expectedPurchases = conditionalExpectedPurchases(bgNbd, horizonDays / daysPerWeek, x, tX, T)
            const expectedAverageSpend = conditionalExpectedSpend(gammaGamma, x, meanSpend)
            const lifetimeValue = customerLifetimeValue(bgNbd, gammaGamma, { x, tX, T, meanSpend }, {
              months: horizonMonths
            })
            // Outside the series' range, or a spend model without a finite mean (q <= 1): no figure beats a wrong one.
            if (![alive, expectedPurchases, expectedAverageSpend, lifetimeValue].every(Number.isFinite)) {
              return {
                status: "unavailable",
                reason: "model-cannot-score",
                detail: "The fitted model gives no finite figure for this purchase history"
              }
            }
            return {
              status: "scored",
              probabilityAlive: alive,
              churnRisk: 1 - alive,
              horizonDays,
              expectedPurchases,
              expectedAverageSpend,
              lifetimeValue,
              modelFittedAt: finishedAt ?? found.value.requestedAt
            }
          })
      })
    })
  )
}
