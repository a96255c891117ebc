/** Every HTTP route: the REST API with its OpenAPI document, and the RPC endpoint. */
import { Layer } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { RpcRoutesLive } from "../rpc/RpcDoor.ts"
import { ApiKeysHttpLive } from "./ApiKeysHttp.ts"
import { AuthenticationLive } from "./Authentication.ts"
import { CustomersHttpLive } from "./CustomersHttp.ts"
import { RequestPipelineLive } from "./RequestPipeline.ts"
import { SystemHttpLive } from "./SystemHttp.ts"
import { RequestValidationLive } from "./Validation.ts"

export const openApiPath = "/api/v1/openapi.json"

const ApiRoutes = HttpApiBuilder.layer(Api, { openapiPath: openApiPath }).pipe(
  Layer.provide([CustomersHttpLive, SystemHttpLive, ApiKeysHttpLive]),
  // The pipeline resolves middlewares when the routes are built, as well as the handlers when they run.
  Layer.provideMerge(Layer.mergeAll(AuthenticationLive, RequestValidationLive))
)

export const RoutesLive = Layer.mergeAll(ApiRoutes, RpcRoutesLive, RequestPipelineLive)

export const serve = <E, R>(routes: Layer.Layer<never, E, R>) => HttpRouter.serve(routes, { disableLogger: true })
