/** What a customer's behaviour comes to: figures and insights. Built only from domain schemas. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { CustomerAnalytics, CustomerInsights } from "../domain/Analytics.ts"
import { CustomerId } from "../domain/Customer.ts"
import { CustomerAnalyticsErrors } from "../domain/Errors.ts"
import { customersPath } from "./CustomersApi.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"

const params = { id: CustomerId.annotate({ description: "The customer's id (a UUID)" }) }

const freshness = "Read from rollups kept up to date as events are committed (a few rows per customer, however " +
  "many events it has). An unknown or erased customer is a 404; a customer without events has zeros."

export class CustomerAnalyticsApi extends HttpApiGroup.make("customerAnalytics")
  .add(
    HttpApiEndpoint.get("analytics", `${customersPath}/:id/analytics`, {
      params,
      success: CustomerAnalytics,
      error: CustomerAnalyticsErrors
    }).middleware(Authorization).annotate(RequiredPermission, "analytics:read").annotateMerge(
      OpenApi.annotations({
        summary: "A customer's analytics",
        description: "Event counts per type, first and last seen, sessions, revenue (reporting currency and " +
          "per currency), RFM quintile scores, an engagement score with exponential decay, and lifetime value, " +
          `P(alive) and churn risk once a CLV model is fitted. ${freshness}`
      })
    ),
    HttpApiEndpoint.get("insights", `${customersPath}/:id/insights`, {
      params,
      success: CustomerInsights,
      error: CustomerAnalyticsErrors
    }).middleware(Authorization).annotate(RequiredPermission, "analytics:read").annotateMerge(
      OpenApi.annotations({
        summary: "A customer's insights",
        description: "Behaviour patterns (preferred hours and days, channels, purchase cadence, activity " +
          "trend), risk factors and next-best-action recommendations, each with its reason and the figures " +
          "behind it. A customer who withdrew consent to analytics is not profiled: 409 " +
          "`analytics-consent-withdrawn`. One who withdrew consent to personalisation gets no recommendations " +
          "(an empty list, `recommendationsWithheld: personalisation-consent-withdrawn`); patterns and risk " +
          `factors are still served. ${freshness}`
      })
    )
  )
  .middleware(Authentication)
  .annotateMerge(OpenApi.annotations({
    title: "Customer analytics",
    description: "Scores, predictions and recommendations derived from tracked events"
  }))
{}
