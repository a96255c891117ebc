/** Fleet analytics: the customer-lifetime-value model, fitted over the whole customer base. Domain schemas only. */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { ClvModel, FitClvModel } from "../domain/ClvModel.ts"
import { FitClvModelErrors, GetClvModelErrors } from "../domain/Errors.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"
import { JsonBody } from "./Transport.ts"

export const clvModelPath = "/api/v1/analytics/models/clv"

export class AnalyticsApi extends HttpApiGroup.make("analytics")
  .add(
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
          "once with the queued fit (202). One fit runs at a time across all service processes; poll GET " +
          `${clvModelPath} for the result. Purchase occasions are calendar days (UTC), times are in weeks.`
      })
    )
  )
  .middleware(Authentication)
  .annotateMerge(OpenApi.annotations({ title: "Analytics", description: "Models fitted over the whole customer base" }))
{}
