/** The customer endpoints under /api/v1/customers, built only from domain schemas. */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { CreateCustomer, Customer, CustomerId, PatchCustomer, ReplaceCustomer, VerifyEmail } from "../domain/Customer.ts"
import { CustomerPage, ListCustomersQuery } from "../domain/CustomerQuery.ts"
import {
  ConsentRequired,
  CustomerNotFound,
  EmailAlreadyExists,
  Forbidden,
  IdempotencyKeyReused,
  InvalidCursor,
  InvalidStatusTransition,
  InvalidVerificationToken,
  PreconditionRequired,
  Unavailable,
  VersionConflict
} from "../domain/Errors.ts"
import { Authentication } from "./Security.ts"

const idParam = { id: CustomerId }
const IfMatch = { "if-match": Schema.optionalKey(Schema.String.check(Schema.isMaxLength(64))) }
const updateErrors = [
  CustomerNotFound,
  VersionConflict,
  PreconditionRequired,
  EmailAlreadyExists,
  InvalidStatusTransition,
  Forbidden,
  Unavailable
]

export class CustomersApi extends HttpApiGroup.make("customers")
  .add(
    HttpApiEndpoint.get("list", "/", {
      query: ListCustomersQuery,
      success: CustomerPage,
      error: [InvalidCursor, Forbidden]
    }),
    HttpApiEndpoint.post("create", "/", {
      payload: CreateCustomer,
      headers: {
        "idempotency-key": Schema.optionalKey(
          Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(255))
        )
      },
      success: Customer.pipe(HttpApiSchema.status(201)),
      error: [EmailAlreadyExists, ConsentRequired, IdempotencyKeyReused, Forbidden, Unavailable]
    }),
    HttpApiEndpoint.get("get", "/:id", {
      params: idParam,
      success: Customer,
      error: [CustomerNotFound, Forbidden]
    }),
    HttpApiEndpoint.put("replace", "/:id", {
      params: idParam,
      headers: IfMatch,
      payload: ReplaceCustomer,
      success: Customer,
      error: updateErrors
    }),
    HttpApiEndpoint.patch("patch", "/:id", {
      params: idParam,
      headers: IfMatch,
      payload: PatchCustomer,
      success: Customer,
      error: updateErrors
    }),
    HttpApiEndpoint.delete("delete", "/:id", {
      params: idParam,
      headers: IfMatch,
      success: HttpApiSchema.NoContent,
      error: [CustomerNotFound, VersionConflict, PreconditionRequired, Forbidden, Unavailable]
    }),
    HttpApiEndpoint.post("verifyEmail", "/:id/email/verify", {
      params: idParam,
      payload: VerifyEmail,
      success: Customer,
      error: [CustomerNotFound, InvalidVerificationToken, EmailAlreadyExists, Forbidden, Unavailable]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1/customers")
  .annotateMerge(OpenApi.annotations({
    title: "Customers",
    description: "Customer profiles: the system of record"
  }))
{}
