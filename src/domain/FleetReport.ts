/**
 * Fleet reporting: new and active customers, events and revenue per day,
 * ISO week or month, and retention by monthly signup cohort, all in UTC and
 * read from the rollups.
 */
import { Schema } from "effect"
import { CurrencyCode } from "./Reference.ts"

export const ReportPeriod = Schema.Literals(["day", "week", "month"]).annotate({
  identifier: "ReportPeriod",
  description: "A UTC calendar day, an ISO week (from Monday) or a calendar month"
})
export type ReportPeriod = typeof ReportPeriod.Type

const datePattern = /^(19|[2-9]\d)\d{2}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/u

/** `2026-01-31`: a real calendar date from 1900 on. */
export const CalendarDate = Schema.String.check(
  Schema.isPattern(datePattern, { expected: "a calendar date such as '2026-01-31', from 1900" }),
  Schema.makeFilter((text: string) => {
    const [year, month, day] = text.split("-").map(Number)
    return day <= new Date(Date.UTC(year, month, 0)).getUTCDate() || "a day that exists in its month"
  }, { toJsonSchema: () => ({ format: "date" }) })
).annotate({ identifier: "CalendarDate", format: "date" })
export type CalendarDate = typeof CalendarDate.Type

/** The longest window a report covers: about ten years (3,660 days a day, 523 weeks, 121 months). */
export const maxWindowDays = 3_660

const daysBetween = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 86_400_000

/** `from` not after `to`, and at most maxWindowDays apart, named on `to`. */
const window = Schema.makeFilter((query: { readonly from?: string; readonly to?: string }) =>
  query.from === undefined || query.to === undefined ||
  (query.from > query.to
    ? { path: ["to"], issue: "not before from" }
    : daysBetween(query.from, query.to) <= maxWindowDays ||
      { path: ["to"], issue: `at most ${maxWindowDays} days after from` })
)

const windowFields = {
  from: Schema.optionalKey(CalendarDate.annotate({
    description: "The first day reported (its whole period is); by default 30 days, 12 weeks or 12 months back"
  })),
  to: Schema.optionalKey(CalendarDate.annotate({
    description: `The last day reported (its whole period is), today (UTC) by default; at most ${maxWindowDays} days after from`
  }))
}

export const FleetReportQuery = Schema.Struct({
  period: Schema.optionalKey(ReportPeriod.annotate({ description: "The period figures are given per; day by default" })),
  ...windowFields
}).check(window).annotate({ identifier: "FleetReportQuery" })
export type FleetReportQuery = typeof FleetReportQuery.Type

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const FleetPeriod = Schema.Struct({
  periodStart: CalendarDate.annotate({ description: "The period's first day" }),
  newCustomers: Count.annotate({ description: "Customers created in the period (erased ones included)" }),
  activeCustomers: Count.annotate({ description: "Distinct customers with at least one event in the period" }),
  events: Count.annotate({ description: "Events that occurred in the period" }),
  revenue: Schema.Finite.annotate({ description: "Their revenue in the reporting currency" })
}).annotate({ identifier: "FleetPeriod" })
export type FleetPeriod = typeof FleetPeriod.Type

export const FleetReport = Schema.Struct({
  period: ReportPeriod,
  from: CalendarDate.annotate({ description: "The first period's first day" }),
  to: CalendarDate.annotate({ description: "The last period's last day" }),
  currency: CurrencyCode.annotate({ description: "The reporting currency; revenue in other currencies is not in it" }),
  periods: Schema.Array(FleetPeriod).annotate({ description: "Every period of the window, oldest first, empty ones too" })
}).annotate({ identifier: "FleetReport" })
export type FleetReport = typeof FleetReport.Type

export const CohortReportQuery = Schema.Struct(windowFields).check(window).annotate({ identifier: "CohortReportQuery" })
export type CohortReportQuery = typeof CohortReportQuery.Type

export const CohortMonth = Schema.Struct({
  month: CalendarDate.annotate({ description: "The month's first day" }),
  monthsSinceSignup: Count,
  activeCustomers: Count.annotate({ description: "Customers of the cohort with at least one event in the month" }),
  retention: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 })).annotate({
    description: "activeCustomers / the cohort's customers (0 for an empty cohort)"
  })
}).annotate({ identifier: "CohortMonth" })
export type CohortMonth = typeof CohortMonth.Type

export const Cohort = Schema.Struct({
  cohortMonth: CalendarDate.annotate({ description: "The signup month's first day" }),
  customers: Count.annotate({ description: "Customers created in the month (erased ones included)" }),
  months: Schema.Array(CohortMonth).annotate({
    description: "From the signup month to the current month. Activity before signup (imported history) is not retention and is left out."
  })
}).annotate({ identifier: "Cohort" })
export type Cohort = typeof Cohort.Type

export const CohortReport = Schema.Struct({
  from: CalendarDate.annotate({ description: "The first cohort's month" }),
  to: CalendarDate.annotate({ description: "The last cohort's month" }),
  cohorts: Schema.Array(Cohort).annotate({ description: "Every month of the window, oldest first, empty ones too" })
}).annotate({ identifier: "CohortReport" })
export type CohortReport = typeof CohortReport.Type
