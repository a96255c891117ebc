/**
 * Analytics over the whole customer base: fleet reports, cohort retention and the customer-lifetime-value
 * model fitted over every customer. Built only from domain schemas.
 */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { ClvModel, FitClvModel } from "../domain/ClvModel.ts"
import { FitClvModelErrors, FleetReportErrors, GetClvModelErrors } from "../domain/Errors.ts"
import { CohortReport, CohortReportQuery, FleetReport, FleetReportQuery } from "../domain/FleetReport.ts"
import { documentQueryParameters } from "./QueryParameters.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"
import { JsonBody } from "./Transport.ts"

export const analyticsPath = "/api/v1/analytics"
export const clvModelPath = `${analyticsPath}/models/clv`

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
    })).annotateMerge(documentQueryParameters(CohortReportQuery)),
    HttpApiEndpoint.get("getClvModel", clvModelPath, {
      success: ClvModel,
      error: GetClvModelErrors
    }).middleware(Authorization).annotate(RequiredPermission, "analytics:read").annotateMerge(
      OpenApi.annotations({
        summary: "The CLV model in force",
        description: "The latest successful fit: BG/NBD (purchase frequency, P(alive)) and Gamma-Gamma (spend) " +
          "parameters, the calibration period, how many customers it covered and when it ran. Fits run on a " +
          "schedule (CLV_FIT_INTERVAL_HOURS, daily by default) and on demand. Formulas: docs/analytics.md."
      })
    ),
    HttpApiEndpoint.post("fitClvModel", `${clvModelPath}/fit`, {
      // No body (read as null) is the same as {}: all history up to now.
      payload: [FitClvModel, Schema.Null],
      success: ClvModel.pipe(HttpApiSchema.status(202)),
      error: FitClvModelErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "analytics:write").annotateMerge(
      OpenApi.annotations({
        // The body may be left out, as the server reads it.
        transform: (operation) => ({ ...operation, requestBody: { ...operation.requestBody, required: false } }),
        summary: "Fit the CLV model",
        description: "Queues a fit over the calibration period (default: all history up to now) and answers at " +
          "once with the queued fit (202); while a fit of the same period is still queued, the request joins it " +
          "and is answered with that fit. One fit runs at a time across all service processes; poll GET " +
          `${clvModelPath} for the result. Purchase occasions are calendar days (UTC), times are in weeks.`
      })
    )
  )
  .middleware(Authentication)
  .annotateMerge(OpenApi.annotations({
    title: "Analytics",
    description: "Figures over the whole customer base, from the event rollups, and the models fitted over it"
  }))
{}
