/** The data subject's rights: export of everything held about a person, erasure and anonymisation. */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { CustomerId } from "../domain/Customer.ts"
import { ServedCustomer } from "../domain/CustomerQuery.ts"
import { CustomerDataExport, ExportErrors } from "../domain/DataExport.ts"
import {
  DataExportJob,
  DataExportJobId,
  DownloadExportErrors,
  ExportLinkToken,
  GetExportErrors,
  RequestExportErrors
} from "../domain/DataExportJob.ts"
import {
  AnonymizeCustomerErrors,
  EraseCustomerDataErrors,
  ErasureReason,
  ErasureRequest,
  GetErasureErrors,
  LiftSuppression,
  LiftSuppressionErrors
} from "../domain/Erasure.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"
import { JsonBody } from "./Transport.ts"

const params = { id: CustomerId.annotate({ description: "The customer's id (a UUID)" }) }

export const AnonymizeCustomer = Schema.Struct({
  reason: Schema.optionalKey(ErasureReason.annotate({ description: "Why (a legal ground or a ticket), audited" }))
}).annotate({ identifier: "AnonymizeCustomer" })

export class PrivacyApi extends HttpApiGroup.make("privacy")
  .add(
    HttpApiEndpoint.get("exportData", "/:id/data", {
      params,
      success: CustomerDataExport,
      error: ExportErrors
    }).middleware(Authorization).annotate(RequiredPermission, "privacy:export").annotateMerge(OpenApi.annotations({
      summary: "Export everything held about a customer",
      description: "GDPR art. 15 and 20: the profile, analytics, every segment stay, the audit trail about the " +
        "person and every tracked event, as one JSON document (docs/privacy.md), streamed: its size is not " +
        "bounded by the server's memory. The export itself is audited. Admins and agents."
    })),
    HttpApiEndpoint.post("requestExport", "/:id/data/exports", {
      params,
      success: DataExportJob.pipe(HttpApiSchema.status(202)),
      error: RequestExportErrors
    }).middleware(Authorization).annotate(RequiredPermission, "privacy:export").annotateMerge(OpenApi.annotations({
      summary: "Export everything held about a customer, in the background",
      description: "The same document as `GET /api/v1/customers/{id}/data`, with the requesting role's view, " +
        "written by a background job for large exports. Poll `GET /api/v1/data-exports/{exportId}`; once `done` " +
        "it carries a download link that expires (EXPORT_LINK_TTL_MINUTES, 60 by default). Audited. Admins and agents."
    })),
    HttpApiEndpoint.delete("eraseData", "/:id/data", {
      params,
      success: ErasureRequest.pipe(HttpApiSchema.status(202)),
      error: EraseCustomerDataErrors
    }).middleware(Authorization).annotate(RequiredPermission, "customers:delete").annotateMerge(OpenApi.annotations({
      summary: "Erase everything held about a customer",
      description: "GDPR art. 17. The profile, events, rollups, memberships and queued work are gone when this " +
        "answers; the steps after (data key, JetStream purge, the `customer.erased` event) follow within " +
        "seconds and are tracked by the request answered here (also at `GET /api/v1/customers/{id}/erasure`). " +
        "The address is suppressed: creating it again is refused until an admin lifts it. Asked again, the " +
        "same request is answered. Admins and agents."
    })),
    HttpApiEndpoint.get("getErasure", "/:id/erasure", {
      params,
      success: ErasureRequest,
      error: GetErasureErrors
    }).middleware(Authorization).annotate(RequiredPermission, "privacy:export").annotateMerge(OpenApi.annotations({
      summary: "How a customer's erasure is going",
      description: "Each step's state, attempts and last failure; `overdue` past the 30-day deadline. Admins and agents."
    })),
    HttpApiEndpoint.post("anonymize", "/:id/anonymize", {
      params,
      payload: AnonymizeCustomer,
      success: ServedCustomer,
      error: AnonymizeCustomerErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "privacy:anonymize")
      .annotateMerge(OpenApi.annotations({
        summary: "Anonymise a customer",
        description: "Irreversibly replaces the identifying fields (email, pending email, name, location but its " +
          "country), drops metadata and coarsens the age to its decade, while events, rollups and analytics stay " +
          "(docs/privacy.md). The customer stays (not DELETED). Audited; publishes `customer.anonymized`. A " +
          "customer already anonymous is answered as it is, nothing written. Admins and agents."
      }))
  )
  .middleware(Authentication)
  .prefix("/api/v1/customers")
  .annotateMerge(OpenApi.annotations({
    title: "Privacy",
    description: "The rights of the people whose data this is"
  }))
{}

const exportParams = { id: DataExportJobId }

export class DataExportsApi extends HttpApiGroup.make("dataExports")
  .add(
    HttpApiEndpoint.get("getExport", "/:id", {
      params: exportParams,
      success: DataExportJob,
      error: GetExportErrors
    }).middleware(Authorization).annotate(RequiredPermission, "privacy:export").annotateMerge(OpenApi.annotations({
      summary: "How an asynchronous export is going",
      description: "Its status; once `done`, its size, expiry and download link. Admins and agents."
    })),
    HttpApiEndpoint.get("download", "/:id/download/:token", {
      params: { ...exportParams, token: ExportLinkToken },
      success: CustomerDataExport,
      error: DownloadExportErrors
    }).middleware(Authorization).annotate(RequiredPermission, "privacy:export").annotateMerge(OpenApi.annotations({
      summary: "Download an export's document",
      description: "The link from the job's status, streamed. It also needs the caller's credentials: a leaked " +
        "link alone opens nothing. 410 once expired (the document is deleted then), 409 until done, 404 for an " +
        "unknown job or token. Each download is audited. Admins and agents."
    }))
  )
  .middleware(Authentication)
  .prefix("/api/v1/data-exports")
  .annotateMerge(OpenApi.annotations({
    title: "Data exports",
    description: "Asynchronous exports of everything held about a customer, downloaded through expiring links"
  }))
{}

export class SuppressionsApi extends HttpApiGroup.make("suppressions")
  .add(
    HttpApiEndpoint.post("lift", "/lift", {
      payload: LiftSuppression,
      success: HttpApiSchema.NoContent,
      error: LiftSuppressionErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "privacy:lift-suppression")
      .annotateMerge(OpenApi.annotations({
        summary: "Lift an erased identity's suppression",
        description: "An erased person's address is kept as a keyed hash and creating it again is refused " +
          "(409 identity-suppressed). This lets it be created again, e.g. when the person signs up anew; " +
          "audited with the reason. Admins, with a user's token (not an API key)."
      }))
  )
  .middleware(Authentication)
  .prefix("/api/v1/suppressions")
  .annotateMerge(OpenApi.annotations({
    title: "Suppressions",
    description: "Erased identities kept as keyed hashes so they are not re-created"
  }))
{}
