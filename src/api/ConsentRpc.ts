/** Consent as typed RPC: the same domain schemas and errors as the REST endpoints (ConsentApi.ts). */
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"
import { ChangeConsent, ConsentHistoryPage, ConsentHistoryQuery, CustomerConsent } from "../domain/Consent.ts"
import { CustomerId } from "../domain/Customer.ts"
import { ChangeConsentErrors, ConsentHistoryErrors, GetConsentErrors } from "../domain/Errors.ts"
import { RequiredPermission, RpcAuthentication } from "./Security.ts"
import { ExpectedVersion } from "./Versioning.ts"

export class ConsentRpc extends RpcGroup.make(
  Rpc.make("GetCustomerConsent", {
    payload: { id: CustomerId },
    success: CustomerConsent,
    error: Schema.Union(GetConsentErrors)
  }),
  Rpc.make("ChangeCustomerConsent", {
    // The version the change is based on (REST's If-Match): the customer's, as GetCustomerConsent answers it.
    payload: { id: CustomerId, ...ChangeConsent.fields, expectedVersion: ExpectedVersion },
    success: CustomerConsent,
    error: Schema.Union(ChangeConsentErrors)
  }).annotate(RequiredPermission, "consent:write"),
  Rpc.make("ListCustomerConsentHistory", {
    payload: { id: CustomerId, ...ConsentHistoryQuery.fields },
    success: ConsentHistoryPage,
    error: Schema.Union(ConsentHistoryErrors)
  })
).middleware(RpcAuthentication) {}
