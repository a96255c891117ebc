/**
 * Typed clients for other TypeScript services: the RPC client (one round trip
 * per call, errors decoded into the domain's classes) and the REST client
 * generated from the same API definition. Imports only api/ and domain/.
 */
import { Context, Layer } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { RpcClient, RpcSerialization } from "effect/rpc"
import type { RpcClientError, RpcGroup } from "effect/rpc"
import { Api } from "../api/Api.ts"
import { CustomersRpc } from "../api/CustomersRpc.ts"

export { Api } from "../api/Api.ts"
export { CustomersRpc } from "../api/CustomersRpc.ts"
export * from "../domain/Analytics.ts"
export * from "../domain/ClvModel.ts"
export * from "../domain/Customer.ts"
export * from "../domain/CustomerEvents.ts"
export * from "../domain/CustomerQuery.ts"
export * from "../domain/Destination.ts"
export * from "../domain/Errors.ts"
export * from "../domain/Erasure.ts"
export * from "../domain/Event.ts"
export * from "../domain/FleetReport.ts"
export * from "../domain/Segment.ts"
export * from "../domain/SegmentCalculation.ts"
export * from "../domain/SegmentEvents.ts"
export {
  type Criterion,
  type CriterionEncoded,
  CriterionSchema,
  maxCriteriaDepth,
  maxCriteriaNodes,
  SegmentCriteria
} from "../domain/SegmentCriteria.ts"
export { RuleId } from "../domain/Rules.ts"
export * from "../domain/TrackingPlan.ts"

export type Credentials = { readonly bearer: string } | { readonly apiKey: string }

export interface ClientOptions {
  /** The service's origin, e.g. `http://customers.internal:8080`. */
  readonly baseUrl: string
  readonly credentials: Credentials
  /** Sent with every call, e.g. `{ "x-request-id": id }` to correlate logs and audit rows. */
  readonly headers?: Record<string, string>
}

const authenticate = ({ credentials, headers = {} }: ClientOptions) =>
(request: HttpClientRequest.HttpClientRequest) => {
  const withHeaders = HttpClientRequest.setHeaders(request, headers)
  return "bearer" in credentials
    ? HttpClientRequest.bearerToken(withHeaders, credentials.bearer)
    : HttpClientRequest.setHeader(withHeaders, "x-api-key", credentials.apiKey)
}

export class CustomerRpcClient extends Context.Service<
  CustomerRpcClient,
  RpcClient.RpcClient<RpcGroup.Rpcs<typeof CustomersRpc>, RpcClientError.RpcClientError>
>()("cms/client/CustomerRpcClient") {
  static readonly layer = (options: ClientOptions) =>
    Layer.effect(CustomerRpcClient, RpcClient.make(CustomersRpc)).pipe(
      Layer.provide(RpcClient.layerProtocolHttp({
        url: new URL("/api/v1/rpc", options.baseUrl).href,
        transformClient: HttpClient.mapRequest(authenticate(options))
      })),
      Layer.provide([RpcSerialization.layerJson, FetchHttpClient.layer])
    )
}

export class CustomerApiClient extends Context.Service<CustomerApiClient, HttpApiClient.ForApi<typeof Api>>()(
  "cms/client/CustomerApiClient"
) {
  static readonly layer = (options: ClientOptions) =>
    Layer.effect(
      CustomerApiClient,
      HttpApiClient.make(Api, {
        baseUrl: options.baseUrl,
        transformClient: HttpClient.mapRequest(authenticate(options))
      })
    ).pipe(Layer.provide(FetchHttpClient.layer))
}
