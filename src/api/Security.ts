/**
 * How callers authenticate: a bearer JWT or an `X-API-Key`. Shared by server
 * and clients; the server side lives in http/Authentication.ts.
 */
import { Context } from "effect"
import { HttpApiMiddleware, HttpApiSecurity, OpenApi } from "effect/http-api"
import { RpcMiddleware } from "effect/rpc"
import type { Actor, Permission } from "../domain/Access.ts"
import { Forbidden, Unauthenticated } from "../domain/Errors.ts"

export class CurrentActor extends Context.Service<CurrentActor, Actor>()("cms/api/CurrentActor") {}

export const apiKeyHeader = "x-api-key"

/**
 * The accepted credentials, as both doors read them and the document states
 * them. The scheme is written `bearer` (HTTP compares it case-insensitively;
 * OpenAPI tools such as the /docs reference only recognise the lower case).
 */
export const credentials = {
  bearer: HttpApiSecurity.http({ scheme: "bearer" }).pipe(
    HttpApiSecurity.annotateMerge(OpenApi.annotations({
      format: "JWT",
      description: "A JWT (HS256 with the service's secret, or RS256/ES256 with its public key) with a `role` claim"
    }))
  ),
  apiKey: HttpApiSecurity.apiKey({ key: apiKeyHeader, in: "header" }).pipe(
    HttpApiSecurity.annotate(OpenApi.Description, "An API key issued by an admin (POST /api/v1/api-keys)")
  )
}

export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: CurrentActor }>()(
  "cms/api/Authentication",
  { security: credentials, error: Unauthenticated }
) {}

/**
 * The permission an operation needs, as an annotation on its endpoint or RPC:
 * checked as soon as the caller is known, before its input is read (credentials,
 * then permission, then payload), so a caller who may not act learns nothing
 * from validation and costs no decoding.
 */
export class RequiredPermission extends Context.Service<RequiredPermission, Permission>()("cms/api/RequiredPermission") {}

export class Authorization extends HttpApiMiddleware.Service<Authorization, { requires: CurrentActor }>()(
  "cms/api/Authorization",
  { error: Forbidden }
) {}

export class RpcAuthentication extends RpcMiddleware.Service<RpcAuthentication, { provides: CurrentActor }>()(
  "cms/api/RpcAuthentication",
  { error: Unauthenticated }
) {}
