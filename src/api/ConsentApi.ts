/** Consent per purpose under /api/v1/customers/:id/consent, built only from domain schemas. */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { ChangeConsent, ConsentHistoryPage, ConsentHistoryQuery, CustomerConsent } from "../domain/Consent.ts"
import { CustomerId } from "../domain/Customer.ts"
import { ChangeConsentErrors, ConsentHistoryErrors, GetConsentErrors } from "../domain/Errors.ts"
import { documentQueryParameters } from "./QueryParameters.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"
import { JsonBody } from "./Transport.ts"
import { IfMatch } from "./Versioning.ts"

const params = { id: CustomerId.annotate({ description: "The customer's id (a UUID)" }) }

/** The consent's `version` is the customer's: one tag guards both, as one entity serialises both. */
const ConsentETag = Schema.String.check(Schema.isPattern(/^"v[0-9]{1,9}"$/u)).annotate({
  description: "The customer's version as an entity tag (the customer's own ETag): send it back as If-Match to " +
    "record choices against the consent you read only."
})

const ConsentWithETag = HttpApiSchema.WithHeaders(CustomerConsent, { etag: ConsentETag })

export class ConsentApi extends HttpApiGroup.make("consent")
  .add(
    HttpApiEndpoint.get("getConsent", "/:id/consent", {
      params,
      success: ConsentWithETag,
      error: GetConsentErrors
    }).annotateMerge(OpenApi.annotations({
      summary: "A customer's consent",
      description: "The latest choice per purpose, with the customer's version as ETag. Every role reads it: " +
        "check it before messaging or profiling. Each read is in the audit trail (`customer.consent.read`): " +
        "a person's choices are personal data."
    })),
    HttpApiEndpoint.put("changeConsent", "/:id/consent", {
      params,
      headers: IfMatch,
      payload: ChangeConsent,
      success: ConsentWithETag,
      error: ChangeConsentErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "consent:write").annotateMerge(
      OpenApi.annotations({
        summary: "Record consent choices",
        description: "Grants and withdrawals of one or more purposes in one call, each appended to the history. " +
          "A withdrawal takes effect at once: no marketing segment or webhook for marketing, no analytics. " +
          "Once marketing was withdrawn (or refused at creation) only `legalBasis: consent` grants it again " +
          "(GDPR art. 21(3)): 422 `marketing-objection` otherwise. The customer's `consent` follows marketing " +
          "and data-processing; its version moves and `customer.consent-changed` is published. If-Match (the " +
          "ETag of GET) is optional: a stale one answers 412 and records nothing, so a preference centre never " +
          "overwrites a choice made meanwhile. Admins, agents and services."
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
        "as `cursor` for the next page. Each read is in the audit trail (`customer.consent.read`)."
    })).annotateMerge(documentQueryParameters(ConsentHistoryQuery))
  )
  .middleware(Authentication)
  .prefix("/api/v1/customers")
  .annotateMerge(OpenApi.annotations({
    title: "Consent",
    description: "What each person agreed to, per purpose, with its full history"
  }))
{}
