/**
 * RFM scores: where a customer's last purchase day, purchase days and revenue
 * fall among the quintile breakpoints of the customer base (computed apart by
 * RfmBreakpoints), and the segment its recency and frequency name.
 */
import type { Rfm, RfmSegment } from "../domain/Analytics.ts"
import { dayNumber } from "./Days.ts"

/** The 20th, 40th, 60th and 80th percentiles of each measure over customers with purchases. */
export interface RfmBreakpoints {
  readonly customers: number
  readonly recency: ReadonlyArray<string>
  readonly frequency: ReadonlyArray<number>
  readonly monetary: ReadonlyArray<number>
  readonly computedAt: string
}

/** 1 plus the number of breakpoints the value is above: the lowest fifth scores 1, the highest 5. Ties score low. */
export const quintileScore = (value: number, breakpoints: ReadonlyArray<number>): number =>
  1 + breakpoints.reduce((above, breakpoint) => value > breakpoint ? above + 1 : above, 0)

/** The common recency x frequency grid (R rows 1-5, F columns 1-5). */
const grid: ReadonlyArray<ReadonlyArray<RfmSegment>> = [
  ["hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose"],
  ["hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose"],
  ["about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"],
  ["promising", "potential_loyalist", "potential_loyalist", "loyal", "loyal"],
  ["new", "potential_loyalist", "potential_loyalist", "champions", "champions"]
]

export const segmentOf = (recency: number, frequency: number): RfmSegment => grid[recency - 1][frequency - 1]

export interface PurchaseTotals {
  readonly purchaseDays: number
  readonly lastPurchaseOn: string | null
  readonly revenue: number
}

export const rfmOf = (purchases: PurchaseTotals, breakpoints: RfmBreakpoints | null, today: number): Rfm => {
  if (purchases.purchaseDays === 0 || purchases.lastPurchaseOn === null) {
    return { status: "unavailable", reason: "no-purchases", detail: "RFM ranks customers with at least one purchase" }
  }
  if (breakpoints === null) {
    return {
      status: "unavailable",
      reason: "not-ranked-yet",
      detail: "The quintiles of the customer base have not been computed yet"
    }
  }
  const lastPurchase = dayNumber(purchases.lastPurchaseOn)
  const recency = quintileScore(lastPurchase, breakpoints.recency.map(dayNumber))
  const frequency = quintileScore(purchases.purchaseDays, breakpoints.frequency)
  return {
    status: "scored",
    recency: { lastPurchaseOn: purchases.lastPurchaseOn, days: Math.max(0, today - lastPurchase), score: recency },
    frequency: { purchaseDays: purchases.purchaseDays, score: frequency },
    monetary: { revenue: purchases.revenue, score: quintileScore(purchases.revenue, breakpoints.monetary) },
    segment: segmentOf(recency, frequency),
    rankedCustomers: breakpoints.customers,
    breakpointsComputedAt: breakpoints.computedAt
  }
}
