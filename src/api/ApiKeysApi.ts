/** API keys for service integrations: issued once (the key is shown only then), revocable. */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiError, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { Role } from "../domain/Access.ts"
import { Forbidden } from "../domain/Errors.ts"
import { Authentication } from "./Security.ts"

export const IssueApiKey = Schema.Struct({
  name: Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(100)),
  role: Role
}).annotate({ identifier: "IssueApiKey" })

export const IssuedApiKey = Schema.Struct({
  id: Schema.String,
  key: Schema.String.annotate({ description: "Shown once; only its hash is stored" }),
  prefix: Schema.String,
  name: Schema.String,
  role: Role
}).annotate({ identifier: "IssuedApiKey" })

export class ApiKeyNotFound extends HttpApiError.Problem<ApiKeyNotFound>()("ApiKeyNotFound", {
  type: "/problems/api-key-not-found",
  status: 404,
  title: "API key not found"
}) {}

export class ApiKeysApi extends HttpApiGroup.make("apiKeys")
  .add(
    HttpApiEndpoint.post("issue", "/", {
      payload: IssueApiKey,
      success: IssuedApiKey.pipe(HttpApiSchema.status(201)),
      error: Forbidden
    }),
    HttpApiEndpoint.delete("revoke", "/:id", {
      params: { id: Schema.String.check(Schema.isUUID()) },
      success: HttpApiSchema.NoContent,
      error: [Forbidden, ApiKeyNotFound]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1/api-keys")
{}
