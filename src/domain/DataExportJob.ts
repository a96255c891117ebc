/**
 * An asynchronous data export (GDPR art. 15 and 20, for large exports): a job the worker runs in the
 * background, whose document (the same CustomerDataExport as the synchronous export) is downloaded through
 * a link that expires. docs/privacy.md ("The export").
 */
import { Schema } from "effect"
import { HttpApiError } from "effect/http-api"
import { CustomerId, Timestamp } from "./Customer.ts"
import { CustomerNotFound, Forbidden } from "./Errors.ts"

export const DataExportJobId = Schema.String.check(Schema.isUUID()).annotate({
  identifier: "DataExportJobId",
  description: "The export job's id (a UUID)"
})

/** The download link's token: base64url of an HMAC-SHA256 (43 characters). */
export const ExportLinkToken = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(100)).annotate({
  description: "The token of the job's download link"
})

export const DataExportJob = Schema.Struct({
  id: DataExportJobId,
  customerId: CustomerId,
  status: Schema.Literals(["queued", "running", "done", "failed", "expired"]).annotate({
    description: "`expired`: the download window passed and the stored document was deleted"
  }),
  requestedAt: Timestamp,
  completedAt: Schema.NullOr(Timestamp),
  expiresAt: Schema.NullOr(Timestamp).annotate({ description: "When the download link stops working (once done)" }),
  size: Schema.NullOr(Schema.Int).annotate({ description: "The document's size in bytes (once done)" }),
  download: Schema.NullOr(Schema.String).annotate({
    description: "The document's download path while the job is done and unexpired; it still needs the " +
      "caller's credentials and `privacy:export`"
  })
}).annotate({
  identifier: "DataExportJob",
  description: "An asynchronous export of everything held about a customer"
})
export type DataExportJob = typeof DataExportJob.Type

export class DataExportNotFound extends HttpApiError.Problem<DataExportNotFound>()("DataExportNotFound", {
  type: "/problems/data-export-not-found",
  status: 404,
  title: "No such data export, or the link is not one of ours"
}, { exportId: Schema.String }) {}

export class ExportLinkExpired extends HttpApiError.Problem<ExportLinkExpired>()("ExportLinkExpired", {
  type: "/problems/export-link-expired",
  status: 410,
  title: "The export's download link has expired; request a new export"
}, { exportId: Schema.String }) {}

export class ExportNotReady extends HttpApiError.Problem<ExportNotReady>()("ExportNotReady", {
  type: "/problems/export-not-ready",
  status: 409,
  title: "The export is not done (see its status)"
}, { exportId: Schema.String, jobStatus: Schema.String }) {}

export const RequestExportErrors = [CustomerNotFound, Forbidden] as const
export const GetExportErrors = [DataExportNotFound, Forbidden] as const
export const DownloadExportErrors = [DataExportNotFound, ExportLinkExpired, ExportNotReady, Forbidden] as const
