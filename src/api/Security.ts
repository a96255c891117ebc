/**
 * How callers authenticate: a bearer JWT or an `X-API-Key`. Shared by server
 * and clients; the server side lives in http/Authentication.ts.
 */
import { Context } from "effect"
import { HttpApiMiddleware, HttpApiSecurity } from "effect/http-api"
import { RpcMiddleware } from "effect/rpc"
import type { Actor } from "../domain/Access.ts"
import { Unauthenticated } from "../domain/Errors.ts"

export class CurrentActor extends Context.Service<CurrentActor, Actor>()("cms/api/CurrentActor") {}

export const apiKeyHeader = "x-api-key"

export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: CurrentActor }>()(
  "cms/api/Authentication",
  {
    security: {
      bearer: HttpApiSecurity.bearer,
      apiKey: HttpApiSecurity.apiKey({ key: apiKeyHeader, in: "header" })
    },
    error: Unauthenticated
  }
) {}

export class RpcAuthentication extends RpcMiddleware.Service<RpcAuthentication, { provides: CurrentActor }>()(
  "cms/api/RpcAuthentication",
  { error: Unauthenticated }
) {}
