/** Server side of the Authentication middlewares: credentials in, CurrentActor out. */
import { Effect, Layer, Redacted } from "effect"
import { Headers } from "effect/http"
import { Authentication, CurrentActor, RpcAuthentication } from "../api/Security.ts"
import { Unauthenticated } from "../domain/Errors.ts"
import { Authenticator } from "../platform/Authenticator.ts"

export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.gen(function*() {
    const authenticator = yield* Authenticator
    return Authentication.of({
      bearer: (httpEffect, { credential }) =>
        Effect.flatMap(
          authenticator.bearer(Redacted.value(credential)),
          (actor) => Effect.provideService(httpEffect, CurrentActor, actor)
        ),
      apiKey: (httpEffect, { credential }) =>
        Effect.flatMap(
          authenticator.apiKey(Redacted.value(credential)),
          (actor) => Effect.provideService(httpEffect, CurrentActor, actor)
        )
    })
  })
)

export const RpcAuthenticationLive = Layer.effect(
  RpcAuthentication,
  Effect.gen(function*() {
    const authenticator = yield* Authenticator
    return RpcAuthentication.of((effect, { headers }) => {
      const authorization = Headers.get(headers, "authorization")
      const apiKey = Headers.get(headers, "x-api-key")
      const actor = authorization._tag === "Some" && authorization.value.startsWith("Bearer ")
        ? authenticator.bearer(authorization.value.slice("Bearer ".length))
        : apiKey._tag === "Some"
        ? authenticator.apiKey(apiKey.value)
        : Effect.fail(new Unauthenticated({}))
      return Effect.flatMap(actor, (actor) => Effect.provideService(effect, CurrentActor, actor))
    })
  })
)
