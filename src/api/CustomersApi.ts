/** The customer endpoints under /api/v1/customers, built only from domain schemas. */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import {
  CreateCustomer,
  Customer,
  CustomerId,
  IdempotencyKey,
  PatchCustomer,
  ReplaceCustomer,
  VerifyEmail
} from "../domain/Customer.ts"
import { CustomerPage, ListCustomersQuery } from "../domain/CustomerQuery.ts"
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
import { Authentication } from "./Security.ts"

const idParam = { id: CustomerId }
const IfMatch = { "if-match": Schema.optionalKey(Schema.String.check(Schema.isMaxLength(64))) }

export class CustomersApi extends HttpApiGroup.make("customers")
  .add(
    HttpApiEndpoint.get("list", "/", {
      query: ListCustomersQuery,
      success: CustomerPage,
      error: ListCustomersErrors
    }),
    HttpApiEndpoint.post("create", "/", {
      payload: CreateCustomer,
      headers: { "idempotency-key": Schema.optionalKey(IdempotencyKey) },
      success: Customer.pipe(HttpApiSchema.status(201)),
      error: CreateCustomerErrors
    }),
    HttpApiEndpoint.get("get", "/:id", {
      params: idParam,
      success: Customer,
      error: GetCustomerErrors
    }),
    HttpApiEndpoint.put("replace", "/:id", {
      params: idParam,
      headers: IfMatch,
      payload: ReplaceCustomer,
      success: Customer,
      error: [...ReplaceCustomerErrors, PreconditionRequired]
    }),
    HttpApiEndpoint.patch("patch", "/:id", {
      params: idParam,
      headers: IfMatch,
      payload: PatchCustomer,
      success: Customer,
      error: [...UpdateCustomerErrors, PreconditionRequired]
    }),
    HttpApiEndpoint.delete("delete", "/:id", {
      params: idParam,
      headers: IfMatch,
      success: HttpApiSchema.NoContent,
      error: [...DeleteCustomerErrors, PreconditionRequired]
    }),
    HttpApiEndpoint.post("verifyEmail", "/:id/email/verify", {
      params: idParam,
      payload: VerifyEmail,
      success: Customer,
      error: VerifyEmailErrors
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1/customers")
  .annotateMerge(OpenApi.annotations({
    title: "Customers",
    description: "Customer profiles: the system of record"
  }))
{}
