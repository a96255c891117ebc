/** Server side of the Authentication middlewares: credentials in, CurrentActor out. */
import { Context, Effect, Layer, Option } from "effect"
import { type Headers, HttpServerRequest } from "effect/http"
import { apiKeyHeader, Authentication, Authorization, CurrentActor, RequiredPermission } from "../api/Security.ts"
import { type Actor, requirePermission } from "../domain/Access.ts"
import { Unauthenticated } from "../domain/Errors.ts"
import { Authenticator } from "../platform/Authenticator.ts"

export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.gen(function*() {
    const authenticator = yield* Authenticator
    // Both schemes read the request by one rule, the RPC door's (a bearer token first, else an API key): HttpApi
    // tries the next scheme when one fails, so a broken token beside a valid key would otherwise pass as the key.
    const authenticate = <A, E, R>(httpEffect: Effect.Effect<A, E, R>) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        Effect.flatMap(
          actorFromHeaders(authenticator, request.headers),
          (actor) => Effect.provideService(httpEffect, CurrentActor, actor)
        ))
    return Authentication.of({ bearer: authenticate, apiKey: authenticate })
  })
)

/** An endpoint's RequiredPermission, checked before its input is decoded. */
export const AuthorizationLive = Layer.succeed(
  Authorization,
  Authorization.of((httpEffect, { endpoint }) =>
    Option.match(Context.getOption(endpoint.annotations, RequiredPermission), {
      onNone: () => Effect.die(new Error(`${endpoint.name} uses Authorization without a RequiredPermission`)),
      onSome: (permission) =>
        Effect.flatMap(CurrentActor, (actor) => Effect.andThen(requirePermission(actor, permission), httpEffect))
    })
  )
)

/**
 * The caller named by a request's own headers (never by anything in its body):
 * a bearer JWT first, else an API key. For doors that are not HttpApi endpoints.
 */
export const actorFromHeaders = (
  authenticator: Authenticator["Service"],
  headers: Headers.Headers
): Effect.Effect<Actor, Unauthenticated> => {
  const bearer = /^Bearer +(\S+)$/i.exec(headers.authorization ?? "")
  const apiKey = headers[apiKeyHeader]
  return bearer !== null
    ? authenticator.bearer(bearer[1])
    : apiKey !== undefined
    ? authenticator.apiKey(apiKey)
    : Effect.fail(new Unauthenticated({}))
}
