/** API keys for service integrations: issued for a limited time (the key is shown only then), listed, revoked. */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import {
  ApiKeyId,
  ApiKeyPage,
  IssueApiKey,
  IssueApiKeyErrors,
  IssuedApiKey,
  ListApiKeysErrors,
  ListApiKeysQuery,
  RevokeApiKeyErrors
} from "../domain/ApiKey.ts"
import { documentQueryParameters } from "./QueryParameters.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"
import { JsonBody } from "./Transport.ts"

export class ApiKeysApi extends HttpApiGroup.make("apiKeys")
  .add(
    HttpApiEndpoint.get("list", "/", {
      query: ListApiKeysQuery,
      success: ApiKeyPage,
      error: ListApiKeysErrors
    }).middleware(Authorization).annotate(RequiredPermission, "api-keys:manage").annotateMerge(OpenApi.annotations({
      summary: "List API keys",
      description: "Newest first, revoked and expired keys included; never the secret. Pass `nextCursor` back as " +
        "`cursor` for the next page. Admins only, with a user token."
    })).annotateMerge(documentQueryParameters(ListApiKeysQuery)),
    HttpApiEndpoint.post("issue", "/", {
      payload: IssueApiKey,
      success: IssuedApiKey.pipe(HttpApiSchema.status(201)),
      error: IssueApiKeyErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "api-keys:manage").annotateMerge(OpenApi.annotations({
      summary: "Issue an API key",
      description: "The key is in this answer only (it is stored hashed): send it as `X-API-Key`. Its role is " +
        "never more than the issuer's. Admins only, with a user token."
    })),
    HttpApiEndpoint.delete("revoke", "/:id", {
      params: { id: ApiKeyId },
      success: HttpApiSchema.NoContent,
      error: RevokeApiKeyErrors
    }).middleware(Authorization).annotate(RequiredPermission, "api-keys:manage").annotateMerge(OpenApi.annotations({
      summary: "Revoke an API key",
      description: "The key stops working at once. Admins only, with a user token."
    }))
  )
  .middleware(Authentication)
  .prefix("/api/v1/api-keys")
  .annotateMerge(OpenApi.annotations({
    title: "API keys",
    description: "Credentials for service integrations, managed by admins with a user token (never with an API key)"
  }))
{}
