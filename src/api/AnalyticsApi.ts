/** Analytics over the whole customer base: fleet reports and cohort retention. Built only from domain schemas. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { FleetReportErrors } from "../domain/Errors.ts"
import { CohortReport, CohortReportQuery, FleetReport, FleetReportQuery } from "../domain/FleetReport.ts"
import { documentQueryParameters } from "./QueryParameters.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"

export const analyticsPath = "/api/v1/analytics"

const fromRollups = "Read from rollups kept up to date as events are folded (usually within a second of their " +
  "commit), so a report costs the same whatever the number of events. Days, weeks and months are UTC."

export class AnalyticsApi extends HttpApiGroup.make("analytics")
  .add(
    HttpApiEndpoint.get("fleetReport", `${analyticsPath}/fleet`, {
      query: FleetReportQuery,
      success: FleetReport,
      error: FleetReportErrors
    }).middleware(Authorization).annotate(RequiredPermission, "analytics:read").annotateMerge(OpenApi.annotations({
      summary: "Fleet report: new and active customers, events and revenue per period",
      description: `Whole periods covering from to to. ${fromRollups} Active customers are distinct within ` +
        "each period; revenue is in the reporting currency."
    })).annotateMerge(documentQueryParameters(FleetReportQuery)),
    HttpApiEndpoint.get("cohortRetention", `${analyticsPath}/cohorts`, {
      query: CohortReportQuery,
      success: CohortReport,
      error: FleetReportErrors
    }).middleware(Authorization).annotate(RequiredPermission, "analytics:read").annotateMerge(OpenApi.annotations({
      summary: "Retention by monthly signup cohort",
      description: "Customers grouped by the month they were created in (from to to), and for each month since " +
        `how many of them were active. ${fromRollups}`
    })).annotateMerge(documentQueryParameters(CohortReportQuery))
  )
  .middleware(Authentication)
  .annotateMerge(OpenApi.annotations({
    title: "Analytics",
    description: "Figures over the whole customer base, from the event rollups"
  }))
{}
