/**
 * Fleet analytics: the customer-lifetime-value model fitted over the whole customer base (BG/NBD for purchase
 * frequency and P(alive), Gamma-Gamma for spend; formulas in docs/analytics.md).
 */
import { Schema } from "effect"
import { Timestamp } from "./Customer.ts"
import { InstantText } from "./Instant.ts"

export const ClvModelId = Schema.String.check(Schema.isUUID()).pipe(Schema.brand("ClvModelId")).annotate({
  description: "The fit's id"
})
export type ClvModelId = typeof ClvModelId.Type

/** What POST .../models/clv/fit may name: the calibration period, all history up to now by default. */
export const FitClvModel = Schema.Struct({
  from: Schema.optionalKey(InstantText.annotate({
    description: "Start of the calibration period: purchase days from this instant's UTC day on. Default: all history"
  })),
  to: Schema.optionalKey(InstantText.annotate({
    description: "End of the calibration period (exclusive): purchase days that start before it count, and " +
      "customers' ages (T) run to the last of those days. Default: now. Not in the future"
  }))
}).annotate({
  identifier: "FitClvModel",
  examples: [{ from: "1997-01-01T00:00:00Z", to: "1997-10-01T00:00:00Z" }]
})
export type FitClvModel = typeof FitClvModel.Type

const Positive = Schema.Finite.annotate({ description: "Fitted by maximum likelihood", readOnly: true })

export const BgNbdFit = Schema.Struct({
  r: Positive,
  alpha: Positive.annotate({ description: "Scale of the purchase-rate distribution, in weeks" }),
  a: Positive,
  b: Positive,
  logLikelihood: Schema.Finite
}).annotate({
  identifier: "BgNbdFit",
  description: "BG/NBD (Fader, Hardie & Lee 2005): purchase rates ~ Gamma(r, alpha), dropout ~ Beta(a, b); weeks"
})

export const GammaGammaFit = Schema.Struct({
  p: Positive,
  q: Positive,
  v: Positive,
  logLikelihood: Schema.Finite
}).annotate({
  identifier: "GammaGammaFit",
  description: "Gamma-Gamma (Fader, Hardie & Lee 2005): spend per purchase, over the repeat buyers"
})

export const ClvModelStatus = Schema.Literals(["queued", "running", "succeeded", "failed"])
export type ClvModelStatus = typeof ClvModelStatus.Type

/** A fit, from its request to its parameters (or why it failed). */
export const ClvModel = Schema.Struct({
  id: ClvModelId,
  status: ClvModelStatus,
  trigger: Schema.Literals(["requested", "scheduled"]),
  period: Schema.Struct({
    from: Schema.NullOr(Timestamp).annotate({ description: "Null: from the first purchase on record" }),
    to: Timestamp
  }),
  customers: Schema.NullOr(Schema.Int).annotate({ description: "Customers with a purchase in the period" }),
  repeatCustomers: Schema.NullOr(Schema.Int).annotate({
    description: "Of them, those who purchased again on a later day (the Gamma-Gamma sample)"
  }),
  bgNbd: Schema.NullOr(BgNbdFit),
  gammaGamma: Schema.NullOr(GammaGammaFit).annotate({ description: "Null also when there was no repeat buyer" }),
  requestedAt: Timestamp,
  startedAt: Schema.NullOr(Timestamp),
  finishedAt: Schema.NullOr(Timestamp),
  durationMs: Schema.NullOr(Schema.Finite).annotate({ description: "From start to finish of the fit" }),
  error: Schema.NullOr(Schema.String).annotate({ description: "Why a failed fit failed" })
}).annotate({ identifier: "ClvModel" })
export type ClvModel = typeof ClvModel.Type
