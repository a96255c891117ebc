/** The audit trail: a customer's entries, and verification of the whole chain. Admins only. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { AuditErrors, AuditVerification, CustomerAuditErrors, CustomerAuditPage, CustomerAuditQuery } from "../domain/Audit.ts"
import { CustomerId } from "../domain/Customer.ts"
import { documentQueryParameters } from "./QueryParameters.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"

export class AuditApi extends HttpApiGroup.make("audit")
  .add(
    HttpApiEndpoint.get("customerEntries", "/customers/:id/audit", {
      params: { id: CustomerId.annotate({ description: "The customer's id (a UUID)" }) },
      query: CustomerAuditQuery,
      success: CustomerAuditPage,
      error: CustomerAuditErrors
    }).middleware(Authorization).annotate(RequiredPermission, "audit:read").annotateMerge(OpenApi.annotations({
      summary: "A customer's audit trail",
      description: "Who did what to the customer, newest first, field names only (never values); kept after " +
        "the customer is erased, as the record of the erasure (404 only for an id no customer ever had). Pass `nextCursor` back as `cursor` for the next " +
        "page. Admins only."
    })).annotateMerge(documentQueryParameters(CustomerAuditQuery)),
    HttpApiEndpoint.get("verify", "/audit/verification", {
      success: AuditVerification,
      error: AuditErrors
    }).middleware(Authorization).annotate(RequiredPermission, "audit:read").annotateMerge(OpenApi.annotations({
      summary: "Verify the audit chain",
      description: "Walks the whole chain: every entry's signature and every link. `intact: false` names the " +
        "first position where an entry was altered, removed or the chain cut short (docs/audit.md). Admins only."
    }))
  )
  .middleware(Authentication)
  .prefix("/api/v1")
  .annotateMerge(OpenApi.annotations({
    title: "Audit",
    description: "The tamper-evident record of who did what: signed entries linked into one keyed hash chain"
  }))
{}
