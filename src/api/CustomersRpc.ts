/**
 * The customer operations as typed RPC for other services: the same domain
 * schemas and errors as the REST endpoints.
 */
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"
import { CreateCustomer, Customer, CustomerId, PatchCustomer } from "../domain/Customer.ts"
import { CustomerPage, ListCustomersQuery } from "../domain/CustomerQuery.ts"
import {
  CreateCustomerErrors,
  DeleteCustomerErrors,
  GetCustomerErrors,
  ListCustomersErrors,
  UpdateCustomerErrors,
  VerifyEmailErrors
} from "../domain/Errors.ts"
import { RpcAuthentication } from "./Security.ts"

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
    payload: { input: CreateCustomer, idempotencyKey: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(255))) },
    success: Customer,
    error: Schema.Union(CreateCustomerErrors)
  }),
  Rpc.make("UpdateCustomer", {
    payload: { id: CustomerId, patch: PatchCustomer, expectedVersion: ExpectedVersion },
    success: Customer,
    error: Schema.Union(UpdateCustomerErrors)
  }),
  Rpc.make("DeleteCustomer", {
    payload: { id: CustomerId, expectedVersion: ExpectedVersion },
    error: Schema.Union(DeleteCustomerErrors)
  }),
  Rpc.make("VerifyCustomerEmail", {
    payload: { id: CustomerId, token: Schema.String.check(Schema.isMinLength(16), Schema.isMaxLength(128)) },
    success: Customer,
    error: Schema.Union(VerifyEmailErrors)
  })
).middleware(RpcAuthentication) {}
