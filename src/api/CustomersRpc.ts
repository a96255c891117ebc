/**
 * The customer operations as typed RPC for other services: the same domain
 * schemas and errors as the REST endpoints.
 *
 * Over HTTP (POST /api/v1/rpc, Effect RPC's JSON serialization) one request
 * may carry a batch of calls: at most `maxCallsPerRequest`, asking for at most
 * `maxCustomersPerRequest` customers in all (a list counts its `limit`, 50 by
 * default), so one answer is never larger than one REST page of 500. Calls of
 * a batch run a few at a time. Credentials and X-Request-Id travel as HTTP
 * headers only; a call's own `headers` are ignored.
 */
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"
import { CreateCustomer, Customer, CustomerId, IdempotencyKey, PatchCustomer, VerificationToken } from "../domain/Customer.ts"
import { CustomerPage, defaultPageSize, ListCustomersQuery } from "../domain/CustomerQuery.ts"
import {
  CreateCustomerErrors,
  DeleteCustomerErrors,
  GetCustomerErrors,
  ListCustomersErrors,
  UpdateCustomerErrors,
  VerifyEmailErrors
} from "../domain/Errors.ts"
import { RequiredPermission, RpcAuthentication } from "./Security.ts"

export const maxCallsPerRequest = 20
export const maxCustomersPerRequest = 500

/** How many customers a call can answer with, counted against `maxCustomersPerRequest`. */
export const customersRequested = (tag: string, payload: unknown): number =>
  tag === "ListCustomers" ? (payload as ListCustomersQuery).limit ?? defaultPageSize : 1

const ExpectedVersion = Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))

export class CustomersRpc extends RpcGroup.make(
  Rpc.make("GetCustomer", {
    payload: { id: CustomerId },
    success: Customer,
    error: Schema.Union(GetCustomerErrors)
  }),
  Rpc.make("ListCustomers", {
    payload: ListCustomersQuery,
    success: CustomerPage,
    error: Schema.Union(ListCustomersErrors)
  }),
  Rpc.make("CreateCustomer", {
    payload: { input: CreateCustomer, idempotencyKey: Schema.optionalKey(IdempotencyKey) },
    success: Customer,
    error: Schema.Union(CreateCustomerErrors)
  }).annotate(RequiredPermission, "customers:write"),
  Rpc.make("UpdateCustomer", {
    payload: { id: CustomerId, patch: PatchCustomer, expectedVersion: ExpectedVersion },
    success: Customer,
    error: Schema.Union(UpdateCustomerErrors)
  }).annotate(RequiredPermission, "customers:write"),
  Rpc.make("DeleteCustomer", {
    payload: { id: CustomerId, expectedVersion: ExpectedVersion },
    error: Schema.Union(DeleteCustomerErrors)
  }).annotate(RequiredPermission, "customers:delete"),
  Rpc.make("VerifyCustomerEmail", {
    payload: { id: CustomerId, token: VerificationToken },
    success: Customer,
    error: Schema.Union(VerifyEmailErrors)
  }).annotate(RequiredPermission, "customers:write")
).middleware(RpcAuthentication) {}
