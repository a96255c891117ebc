/** Every HTTP route: the REST API with its OpenAPI document, and the RPC endpoint. */
import { Layer } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { RpcSerialization, RpcServer } from "effect/rpc"
import { Api } from "../api/Api.ts"
import { CustomersRpc } from "../api/CustomersRpc.ts"
import { CustomersRpcLive } from "../rpc/CustomersRpcLive.ts"
import { ApiKeysHttpLive } from "./ApiKeysHttp.ts"
import { AuthenticationLive, RpcAuthenticationLive } from "./Authentication.ts"
import { CustomersHttpLive } from "./CustomersHttp.ts"
import { RequestPipelineLive } from "./RequestPipeline.ts"
import { SystemHttpLive } from "./SystemHttp.ts"
import { RequestValidationLive } from "./Validation.ts"

export const openApiPath = "/api/v1/openapi.json"
export const rpcPath = "/api/v1/rpc"

const ApiRoutes = HttpApiBuilder.layer(Api, { openapiPath: openApiPath }).pipe(
  Layer.provide([CustomersHttpLive, SystemHttpLive, ApiKeysHttpLive]),
  // The pipeline resolves middlewares when the routes are built, as well as the handlers when they run.
  Layer.provideMerge(Layer.mergeAll(AuthenticationLive, RequestValidationLive))
)

const RpcRoutes = RpcServer.layerHttp({ group: CustomersRpc, path: rpcPath, protocol: "http" }).pipe(
  Layer.provide([CustomersRpcLive, RpcAuthenticationLive, RpcSerialization.layerJson])
)

export const RoutesLive = Layer.mergeAll(ApiRoutes, RpcRoutes, RequestPipelineLive)

export const serve = <E, R>(routes: Layer.Layer<never, E, R>) => HttpRouter.serve(routes, { disableLogger: true })
