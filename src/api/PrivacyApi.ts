/** The data subject's rights: export of everything held about a person (consent and erasure join it). */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { CustomerId } from "../domain/Customer.ts"
import { CustomerDataExport, ExportErrors } from "../domain/DataExport.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"

export class PrivacyApi extends HttpApiGroup.make("privacy")
  .add(
    HttpApiEndpoint.get("exportData", "/:id/data", {
      params: { id: CustomerId.annotate({ description: "The customer's id (a UUID)" }) },
      success: CustomerDataExport,
      error: ExportErrors
    }).middleware(Authorization).annotate(RequiredPermission, "privacy:export").annotateMerge(OpenApi.annotations({
      summary: "Export everything held about a customer",
      description: "GDPR art. 15 and 20: the profile, analytics, every segment stay, the audit trail about the " +
        "person and every tracked event, as one JSON document (docs/privacy.md), streamed: its size is not " +
        "bounded by the server's memory. The export itself is audited. Admins and agents."
    }))
  )
  .middleware(Authentication)
  .prefix("/api/v1/customers")
  .annotateMerge(OpenApi.annotations({
    title: "Privacy",
    description: "The rights of the people whose data this is"
  }))
{}
