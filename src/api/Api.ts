/** The whole HTTP API: one definition for the server, the typed client and the OpenAPI document. */
import { HttpApi, OpenApi } from "effect/http-api"
import { AnalyticsApi } from "./AnalyticsApi.ts"
import { ApiKeysApi } from "./ApiKeysApi.ts"
import { AuditApi } from "./AuditApi.ts"
import { DataExportsApi, PrivacyApi, SuppressionsApi } from "./PrivacyApi.ts"
import { CustomerAnalyticsApi } from "./CustomerAnalyticsApi.ts"
import { ConsentApi } from "./ConsentApi.ts"
import { CustomersApi } from "./CustomersApi.ts"
import { DestinationsApi } from "./DestinationsApi.ts"
import { EventsApi } from "./EventsApi.ts"
import { SegmentsApi } from "./SegmentsApi.ts"
import { SystemApi } from "./SystemApi.ts"
import { TrackingPlanApi } from "./TrackingPlanApi.ts"
import { documentPipelineHeaders, InternalErrors } from "./Transport.ts"
import { RequestValidation } from "./Validation.ts"

export class Api extends HttpApi.make("customer-service")
  // The probes decode nothing and cannot fail but as they declare; the other groups decode input (400)
  // and reach the database and the cluster (500).
  .add(SystemApi)
  .add(CustomersApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(SegmentsApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(DestinationsApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(EventsApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(TrackingPlanApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(CustomerAnalyticsApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(AnalyticsApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(ApiKeysApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(AuditApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(PrivacyApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(ConsentApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(SuppressionsApi.middleware(RequestValidation).middleware(InternalErrors))
  .add(DataExportsApi.middleware(RequestValidation).middleware(InternalErrors))
  // Unknown fields in a body or query are a client bug worth naming, not something to drop silently.
  .annotate(HttpApi.ParseOptions, { onExcessProperty: "error", errors: "all" })
  .annotate(HttpApi.HeadersParseOptions, { errors: "all" })
  // Answers are built from values decoded at the edge or read from the store: encoding them shapes the JSON
  // without re-running every check (metadata's alone cost ~6 % of a read). The contract tests validate answers.
  .annotate(HttpApi.SuccessParseOptions, { onExcessProperty: "error", disableChecks: true })
  .annotateMerge(OpenApi.annotations({
    title: "Customer Management Service",
    version: "1.0.0",
    description: "Customers, segments, behaviour and privacy: the system of record for customer data.\n\n" +
      "Every error is an RFC 9457 `application/problem+json` document with a stable `type` " +
      "(`/problems/...`); invalid input names each offending value in `errors[].path`, and unknown fields " +
      "are refused. Authenticate with `Authorization: Bearer <JWT>` or `X-API-Key: <key>`. Roles: `admin` " +
      "(everything), `agent` (read, write, delete), `analyst` (read; refit the fleet's analytics models; " +
      "define segments), `service` (read, write; refit the models; define segments); every role reads " +
      "analytics (`analytics:read`), segments and their destinations.",
    license: { name: "MIT", identifier: "MIT" },
    servers: [{ url: "/", description: "The service that serves this document" }]
  }))
  .annotateMerge(documentPipelineHeaders)
{}
