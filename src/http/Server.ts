/** Every HTTP route: the REST API, the RPC endpoint, the OpenAPI document and its reference at /docs. */
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { Api } from "../api/Api.ts"
import {
  asyncApiPath,
  docsPath,
  DocumentedApi,
  eventsDocument,
  openApiDocument,
  openApiPath
} from "../api/Documentation.ts"
import { RpcRoutesLive } from "../rpc/RpcDoor.ts"
import { AnalyticsHttpLive } from "./AnalyticsHttp.ts"
import { ApiKeysHttpLive } from "./ApiKeysHttp.ts"
import { AuditHttpLive } from "./AuditHttp.ts"
import { DataExportsHttpLive, PrivacyHttpLive, SuppressionsHttpLive } from "./PrivacyHttp.ts"
import { ConsentHttpLive } from "./ConsentHttp.ts"
import { AuthenticationLive, AuthorizationLive } from "./Authentication.ts"
import { CustomerAnalyticsHttpLive } from "./CustomerAnalyticsHttp.ts"
import { CustomersHttpLive } from "./CustomersHttp.ts"
import { DestinationsHttpLive } from "./DestinationsHttp.ts"
import { EventsHttpLive } from "./EventsHttp.ts"
import { RequestPipelineLive } from "./RequestPipeline.ts"
import { SegmentsHttpLive } from "./SegmentsHttp.ts"
import { SystemHttpLive } from "./SystemHttp.ts"
import { TrackingPlanHttpLive } from "./TrackingPlanHttp.ts"
import { InternalErrorsLive, JsonBodyLive, RequestValidationLive } from "./Validation.ts"

export { openApiPath }

const ApiRoutes = HttpApiBuilder.layer(Api).pipe(
  Layer.provide([
    CustomersHttpLive,
    SegmentsHttpLive,
    DestinationsHttpLive,
    EventsHttpLive,
    TrackingPlanHttpLive,
    CustomerAnalyticsHttpLive,
    AnalyticsHttpLive,
    SystemHttpLive,
    ApiKeysHttpLive,
    AuditHttpLive,
    PrivacyHttpLive,
    ConsentHttpLive,
    SuppressionsHttpLive,
    DataExportsHttpLive
  ]),
  // The pipeline resolves middlewares when the routes are built, as well as the handlers when they run.
  Layer.provideMerge(
    Layer.mergeAll(AuthenticationLive, AuthorizationLive, RequestValidationLive, JsonBodyLive, InternalErrorsLive)
  )
)

/** The document covers the RPC endpoint too, so it is served from DocumentedApi rather than by HttpApiBuilder. */
const OpenApiRoute = HttpRouter.add("GET", openApiPath, Effect.sync(() => HttpServerResponse.jsonUnsafe(openApiDocument())))

/** The events published to JetStream, generated from their schemas beside the OpenAPI document. */
const AsyncApiRoute = HttpRouter.add("GET", asyncApiPath, Effect.sync(() => HttpServerResponse.jsonUnsafe(eventsDocument())))

/**
 * Scalar's API reference, bundled inside effect and inlined in the page: nothing is fetched from another
 * origin (no CDN, no web fonts), so it works offline and in closed clusters.
 */
// Scalar options effect's ScalarConfig type does not list yet pass through to the page as they are.
const scalarConfig = {
  withDefaultFonts: false,
  telemetry: false,
  showDeveloperTools: "never",
  defaultOpenAllTags: true,
  authentication: { preferredSecurityScheme: "bearer" }
}

const DocsRoute = HttpApiScalar.layer(DocumentedApi, { path: docsPath, scalar: scalarConfig })

export const RoutesLive = Layer.mergeAll(
  ApiRoutes,
  RpcRoutesLive,
  OpenApiRoute,
  AsyncApiRoute,
  DocsRoute,
  RequestPipelineLive
)

export const serve = <E, R>(routes: Layer.Layer<never, E, R>) => HttpRouter.serve(routes, { disableLogger: true })
