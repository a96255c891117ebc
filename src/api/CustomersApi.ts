/** The customer endpoints under /api/v1/customers, built only from domain schemas. */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import {
  CreateCustomer,
  CustomerId,
  IdempotencyKey,
  PatchCustomer,
  ReplaceCustomer,
  VerifyEmail
} from "../domain/Customer.ts"
import { CustomerPage, ListCustomersQuery, ServedCustomer } from "../domain/CustomerQuery.ts"
import {
  CreateCustomerErrors,
  DeleteCustomerErrors,
  GetCustomerErrors,
  ListCustomersErrors,
  PreconditionRequired,
  ReplaceCustomerErrors,
  UpdateCustomerErrors,
  VerifyEmailErrors
} from "../domain/Errors.ts"
import { documentQueryParameters } from "./QueryParameters.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"
import { JsonBody } from "./Transport.ts"
import { IfMatch } from "./Versioning.ts"

export const customersPath = "/api/v1/customers"

const idParam = {
  id: CustomerId.annotate({
    description: "The customer's id (a UUID)",
    examples: [CustomerId.make("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35")]
  })
}

/** `"v<version>"`: the customer's version as an entity tag, for If-Match. */
export const ETag = Schema.String.check(Schema.isPattern(/^"v[0-9]{1,9}"$/u)).annotate({
  description: "The customer's version as an entity tag; send it back as If-Match to change this version only."
})

const CustomerWithETag = HttpApiSchema.WithHeaders(ServedCustomer, { etag: ETag })

const Created = HttpApiSchema.WithHeaders(ServedCustomer, {
  etag: ETag,
  location: Schema.String.check(Schema.isPattern(/^\/api\/v1\/customers\/[0-9a-f-]{36}$/u)).annotate({
    description: "Where the new customer lives"
  }),
  "idempotent-replayed": Schema.optionalKey(Schema.Literal("true").annotate({
    description: "Present when this is the stored answer to an earlier request with the same Idempotency-Key"
  }))
}).pipe(HttpApiSchema.status(201))

const documented = (summary: string, description: string) =>
  OpenApi.annotations({ summary, description })

export class CustomersApi extends HttpApiGroup.make("customers")
  .add(
    HttpApiEndpoint.get("list", "/", {
      query: ListCustomersQuery,
      success: CustomerPage,
      error: ListCustomersErrors
    }).annotateMerge(documented(
      "List customers",
      "Filters combine with AND. Pages are keyset-paginated: pass `nextCursor` back as `cursor`, with the same " +
        "`sort`, until it is null. `total` counts every match exactly up to 10,000 and is the planner's estimate " +
        "beyond (`totalIsEstimate`). Each customer shows the fields the caller's role sees; a `q`, `sort`, " +
        "`fields` or filter on a field the role does not see (for `sort`: see whole) is refused with 403 " +
        "`/problems/field-not-visible` naming the parameter."
    )).annotateMerge(documentQueryParameters(ListCustomersQuery)),
    HttpApiEndpoint.post("create", "/", {
      payload: CreateCustomer,
      headers: { "idempotency-key": Schema.optionalKey(IdempotencyKey) },
      success: Created,
      error: CreateCustomerErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "customers:write").annotateMerge(documented(
      "Create a customer",
      "`consent.marketing` and `consent.dataProcessing` must be stated, and data processing must be granted. " +
        "Emails are unique regardless of letter case. The customer starts with version 1."
    )),
    HttpApiEndpoint.get("get", "/:id", {
      params: idParam,
      success: CustomerWithETag,
      error: GetCustomerErrors
    }).annotateMerge(documented(
      "Read a customer",
      "A deleted customer is not found (404): its personal data is erased. The personal fields (email, " +
        "pendingEmail, name, location) are served as the caller's role sees them: whole, masked, reduced or absent."
    )),
    HttpApiEndpoint.put("replace", "/:id", {
      params: idParam,
      headers: IfMatch,
      payload: ReplaceCustomer,
      success: CustomerWithETag,
      error: [...ReplaceCustomerErrors, PreconditionRequired]
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "customers:write").annotateMerge(documented(
      "Replace a customer",
      "Replaces every mutable field: an optional field left out is cleared. The body may be the representation " +
        "GET answered: read-only fields equal to the stored ones are ignored, different ones are a 422 naming " +
        "the field. The version it is based on is required, as If-Match or `version` (428 without; 412 when " +
        "stale). A new email is held as `pendingEmail` until verified."
    )),
    HttpApiEndpoint.patch("patch", "/:id", {
      params: idParam,
      headers: IfMatch,
      payload: PatchCustomer,
      success: CustomerWithETag,
      error: UpdateCustomerErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "customers:write").annotateMerge(documented(
      "Change some fields of a customer",
      "Only the fields sent change, `null` clears one, and an object (location, preferences, metadata) is " +
        "replaced whole: this is not JSON Merge Patch, so the body is `application/json`. If-Match or `version` " +
        "is optional (412 when stale)."
    )),
    HttpApiEndpoint.delete("delete", "/:id", {
      params: idParam,
      headers: IfMatch,
      success: HttpApiSchema.NoContent,
      error: DeleteCustomerErrors
    }).middleware(Authorization).annotate(RequiredPermission, "customers:delete").annotateMerge(documented(
      "Erase a customer",
      "Erases the person's data and marks the profile DELETED, as `DELETE /api/v1/customers/{id}/data` does: " +
        "the steps after (JetStream purge, the `customer.erased` event) are tracked at " +
        "`GET /api/v1/customers/{id}/erasure`. The address is suppressed: creating it again is refused (409) " +
        "until an admin lifts it."
    )),
    HttpApiEndpoint.post("verifyEmail", "/:id/email/verify", {
      params: idParam,
      payload: VerifyEmail,
      success: CustomerWithETag,
      error: VerifyEmailErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "customers:write").annotateMerge(documented(
      "Confirm an email change",
      "With the token from the `customers.<id>.email-verification-requested` event, the pending email " +
        "becomes the customer's email."
    ))
  )
  .middleware(Authentication)
  .prefix(customersPath)
  .annotateMerge(OpenApi.annotations({
    title: "Customers",
    description: "Customer profiles: the system of record"
  }))
{}
