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
import { Authentication } from "./Security.ts"

export class ApiKeysApi extends HttpApiGroup.make("apiKeys")
  .add(
    HttpApiEndpoint.get("list", "/", {
      query: ListApiKeysQuery,
      success: ApiKeyPage,
      error: ListApiKeysErrors
    }),
    HttpApiEndpoint.post("issue", "/", {
      payload: IssueApiKey,
      success: IssuedApiKey.pipe(HttpApiSchema.status(201)),
      error: IssueApiKeyErrors
    }),
    HttpApiEndpoint.delete("revoke", "/:id", {
      params: { id: ApiKeyId },
      success: HttpApiSchema.NoContent,
      error: RevokeApiKeyErrors
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1/api-keys")
  .annotateMerge(OpenApi.annotations({
    title: "API keys",
    description: "Credentials for service integrations, managed by admins with a user token (never with an API key)"
  }))
{}
