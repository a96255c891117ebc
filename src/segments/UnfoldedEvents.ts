/**
 * Committed events the rollup fold has not reached yet, added to a customer's
 * facts exactly as the fold (src/events/RollupFolder.ts) will add them to the
 * rollups: so that real-time membership decides on tracked events as soon as
 * they are committed, not a fold later (under 10,000 events/s the fold ran up
 * to 71 batches behind: a 3.4 s join p95). The facts then read as they will
 * once those events are folded; the fold's own re-evaluation finds nothing left
 * to move.
 */
import { dayOfInstant } from "../analytics/Days.ts"
import type { Criterion } from "../domain/SegmentCriteria.ts"
import type { CustomerFacts, DayFacts, TypeFacts } from "./CustomerFacts.ts"
import { type DailyRowsRead, moneyUnits } from "./Evaluation.ts"
import { leavesOf } from "./CriteriaReferences.ts"

/** An event as the fold reads it: its UTC day, and its revenue in the reporting currency (0 in another). */
export interface UnfoldedEvent {
  readonly type: string
  /** Epoch milliseconds. */
  readonly occurredAt: number
  /** Ten-thousandths of the reporting currency, as the fold's `reporting_revenue`. */
  readonly reportingRevenue: bigint
}

/** The fold's `reporting_revenue`: the revenue when in the reporting currency (or none named), else 0. */
export const reportingRevenueOf = (
  revenue: number | null,
  currency: string | null,
  reportingCurrency: string
): bigint => revenue === null || (currency !== null && currency !== reportingCurrency) ? 0n : moneyUnits(revenue)

/** A customer's purchase rows (customer_daily_activity, type `purchase`, every day): what the fold recomputes the purchase summary from. */
export interface PurchaseRow {
  readonly day: number
  readonly revenue: bigint
}

const unitsToNumber = (units: bigint) => Number(units) / 10_000

/**
 * The facts once `events` are folded in. `purchases` must be every purchase row of the customer (before these
 * events) when any of them is a purchase: the fold recomputes the purchase summary from all of them. Daily rows
 * are added where `days` says the facts were loaded with.
 */
export const withUnfolded = (
  facts: CustomerFacts,
  events: ReadonlyArray<UnfoldedEvent>,
  purchases: ReadonlyArray<PurchaseRow>,
  days: DailyRowsRead
): CustomerFacts => {
  if (events.length === 0) return facts
  let lastSeenDay = facts.activity?.lastSeenDay ?? Number.NEGATIVE_INFINITY
  let eventCount = facts.activity?.events ?? 0
  let revenue = facts.activity?.revenue ?? 0n
  const types = new Map<string, TypeFacts>(facts.types.map((row) => [row.type, row]))
  const daily = new Map<string, DayFacts>()
  const purchaseDays = new Map<number, bigint>(purchases.map((row) => [row.day, row.revenue]))
  let bought = false
  for (const event of events) {
    const day = dayOfInstant(event.occurredAt)
    lastSeenDay = Math.max(lastSeenDay, day)
    eventCount += 1
    revenue += event.reportingRevenue
    const type = types.get(event.type)
    types.set(event.type, {
      type: event.type,
      events: (type?.events ?? 0) + 1,
      lastDay: Math.max(type?.lastDay ?? day, day)
    })
    const read = days._tag === "From" && (days.from === null || day >= days.from) &&
      (days.types === null || days.types.includes(event.type))
    if (read) {
      // Rows of their own: the evaluator sums a day's rows, so a day already loaded need not be found.
      const key = `${day}/${event.type}`
      const row = daily.get(key)
      daily.set(key, {
        day,
        type: event.type,
        events: (row?.events ?? 0) + 1,
        revenue: (row?.revenue ?? 0n) + event.reportingRevenue
      })
    }
    if (event.type === "purchase") {
      bought = true
      purchaseDays.set(day, (purchaseDays.get(day) ?? 0n) + event.reportingRevenue)
    }
  }
  const before = facts.activity
  let purchaseSummary = {
    purchaseDays: before?.purchaseDays ?? 0,
    firstPurchaseDay: before?.firstPurchaseDay ?? null,
    lastPurchaseDay: before?.lastPurchaseDay ?? null,
    repeatRevenue: before?.repeatRevenue ?? 0
  }
  if (bought) {
    // As the fold's UPDATE: count of purchase days, first and last, and the revenue after the first day.
    const ordered = [...purchaseDays].sort(([left], [right]) => left - right)
    const total = ordered.reduce((sum, [, amount]) => sum + amount, 0n)
    purchaseSummary = {
      purchaseDays: ordered.length,
      firstPurchaseDay: ordered[0][0],
      lastPurchaseDay: ordered[ordered.length - 1][0],
      repeatRevenue: unitsToNumber(total - ordered[0][1])
    }
  }
  return {
    ...facts,
    activity: { lastSeenDay, events: eventCount, revenue, ...purchaseSummary },
    types: [...types.values()],
    days: [...facts.days, ...daily.values()]
  }
}

/**
 * The event types whose events can move a customer in or out of a segment with these criteria (as
 * EvaluationQueue's JSON paths read them): `"every"` when a criterion reads events of any type.
 */
export const eventTypesRead = (criteria: Criterion): ReadonlySet<string> | "every" => {
  const types = new Set<string>()
  let every = false
  for (const leaf of leavesOf(criteria)) {
    switch (leaf.kind) {
      case "eventCount":
      case "lastSeen":
        if (leaf.type === undefined) every = true
        else types.add(leaf.type)
        break
      case "churnRisk":
      case "lifetimeValue":
        types.add("purchase")
        break
      case "revenue":
      case "engagementScore":
        every = true
        break
    }
  }
  return every ? "every" : types
}
