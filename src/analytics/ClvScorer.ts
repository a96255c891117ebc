/**
 * Lifetime value, P(alive) and expected purchases of one customer from its
 * repeat-purchase summary: the port the fitted BG/NBD + Gamma-Gamma model
 * plugs into. Until a model is fitted the answer says so instead of guessing.
 */
import { Context, Effect, Layer } from "effect"
import type { Clv } from "../domain/Analytics.ts"

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
}
