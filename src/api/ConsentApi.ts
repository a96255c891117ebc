/** Consent per purpose under /api/v1/customers/:id/consent, built only from domain schemas. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { ChangeConsent, ConsentHistoryPage, ConsentHistoryQuery, CustomerConsent } from "../domain/Consent.ts"
import { CustomerId } from "../domain/Customer.ts"
import { ChangeConsentErrors, ConsentHistoryErrors, GetConsentErrors } from "../domain/Errors.ts"
import { documentQueryParameters } from "./QueryParameters.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"
import { JsonBody } from "./Transport.ts"

const params = { id: CustomerId.annotate({ description: "The customer's id (a UUID)" }) }

export class ConsentApi extends HttpApiGroup.make("consent")
  .add(
    HttpApiEndpoint.get("getConsent", "/:id/consent", {
      params,
      success: CustomerConsent,
      error: GetConsentErrors
    }).annotateMerge(OpenApi.annotations({
      summary: "A customer's consent",
      description: "The latest choice per purpose. Every role reads it: check it before messaging or profiling."
    })),
    HttpApiEndpoint.put("changeConsent", "/:id/consent", {
      params,
      payload: ChangeConsent,
      success: CustomerConsent,
      error: ChangeConsentErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "consent:write").annotateMerge(
      OpenApi.annotations({
        summary: "Record consent choices",
        description: "Grants and withdrawals of one or more purposes in one call, each appended to the history. " +
          "A withdrawal takes effect at once: no marketing segment or webhook for marketing, no analytics. " +
          "Once marketing was withdrawn (or refused at creation) only `legalBasis: consent` grants it again " +
          "(GDPR art. 21(3)): 422 `marketing-objection` otherwise. The customer's `consent` follows marketing " +
          "and data-processing; its version moves and `customer.consent-changed` is published. Admins, agents " +
          "and services."
      })
    ),
    HttpApiEndpoint.get("consentHistory", "/:id/consent/history", {
      params,
      query: ConsentHistoryQuery,
      success: ConsentHistoryPage,
      error: ConsentHistoryErrors
    }).annotateMerge(OpenApi.annotations({
      summary: "A customer's consent history",
      description: "Every choice ever recorded, newest first, never changed or removed. Pass `nextCursor` back " +
        "as `cursor` for the next page."
    })).annotateMerge(documentQueryParameters(ConsentHistoryQuery))
  )
  .middleware(Authentication)
  .prefix("/api/v1/customers")
  .annotateMerge(OpenApi.annotations({
    title: "Consent",
    description: "What each person agreed to, per purpose, with its full history"
  }))
{}
