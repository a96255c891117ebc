/** The whole HTTP API: one definition for the server, the typed client and the OpenAPI document. */
import { HttpApi, OpenApi } from "effect/http-api"
import { ApiKeysApi } from "./ApiKeysApi.ts"
import { CustomersApi } from "./CustomersApi.ts"
import { SystemApi } from "./SystemApi.ts"
import { RequestValidation } from "./Validation.ts"

export class Api extends HttpApi.make("customer-service")
  .add(SystemApi)
  .add(CustomersApi)
  .add(ApiKeysApi)
  .middleware(RequestValidation)
  // Unknown fields in a body or query are a client bug worth naming, not something to drop silently.
  .annotate(HttpApi.ParseOptions, { onExcessProperty: "error", errors: "all" })
  .annotate(HttpApi.HeadersParseOptions, { errors: "all" })
  .annotateMerge(OpenApi.annotations({
    title: "Customer Management Service",
    version: "1.0.0",
    description: "Customers, segments, behaviour and privacy: the system of record for customer data."
  }))
{}
