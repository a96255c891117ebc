/**
 * The published contract: the HttpApi the server runs plus the RPC endpoint,
 * which RpcServer serves beside it. The OpenAPI document and the /docs
 * reference are generated from this, never written by hand.
 */
import { OpenApi } from "effect/http-api"
import { Api } from "./Api.ts"
import { asyncApiDocument, asyncApiPath } from "./AsyncApi.ts"
import { RpcApi } from "./RpcApi.ts"
import { segmentWebhooks } from "./Webhooks.ts"

export const DocumentedApi = Api.add(RpcApi)

export const openApiPath = "/api/v1/openapi.json"
export const docsPath = "/docs"

/** The API, and the webhooks destinations receive. */
export const openApiDocument = () => ({ ...OpenApi.fromApi(DocumentedApi), webhooks: segmentWebhooks() })

export { asyncApiPath }

/** The events' document carries the API's version. */
export const eventsDocument = () => asyncApiDocument(openApiDocument().info.version)
