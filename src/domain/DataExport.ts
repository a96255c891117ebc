/**
 * Everything the service holds about a person, in one documented JSON document (GDPR art. 15 and 20):
 * docs/privacy.md ("The export") describes each part. Streamed, so its size is not bounded by memory.
 */
import { Schema } from "effect"
import { CustomerAnalytics } from "./Analytics.ts"
import { AuditEntryView } from "./Audit.ts"
import { ConsentRecord } from "./Consent.ts"
import { Timestamp } from "./Customer.ts"
import { ServedCustomer } from "./CustomerQuery.ts"
import { CustomerNotFound, Forbidden } from "./Errors.ts"
import { TrackedEvent } from "./Event.ts"
import { SegmentId } from "./SegmentCriteria.ts"

export const exportFormat = "cms-customer-export/v1"

export const SegmentStay = Schema.Struct({
  segmentId: SegmentId,
  name: Schema.NullOr(Schema.String).annotate({ description: "The segment's name; null once the segment was deleted" }),
  joinedAt: Timestamp,
  leftAt: Schema.NullOr(Timestamp).annotate({ description: "Null while the person is still a member" })
}).annotate({ identifier: "SegmentStay", description: "One period of membership of a segment" })
export type SegmentStay = typeof SegmentStay.Type

export const CustomerDataExport = Schema.Struct({
  format: Schema.Literal(exportFormat),
  exportedAt: Timestamp,
  customer: ServedCustomer.annotateKey({ description: "The profile as the exporting role sees it (Access.ts)" }),
  analytics: Schema.NullOr(CustomerAnalytics).annotate({
    description: "Null when the person withdrew consent to analytics: they are not profiled"
  }),
  consent: Schema.Array(ConsentRecord).annotate({ description: "Every consent choice recorded, newest first" }),
  segments: Schema.Array(SegmentStay).annotate({ description: "Every membership, current and past, oldest first" }),
  audit: Schema.Array(AuditEntryView).annotate({ description: "What was done to the person's data, newest first" }),
  events: Schema.Array(TrackedEvent).annotate({ description: "Every tracked event, newest first" })
}).annotate({
  identifier: "CustomerDataExport",
  description: "Everything held about one person, machine-readable (GDPR art. 15 and 20)"
})
export type CustomerDataExport = typeof CustomerDataExport.Type

export const ExportErrors = [CustomerNotFound, Forbidden] as const
