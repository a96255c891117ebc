/** Server side of the Authentication middlewares: credentials in, CurrentActor out. */
import { Effect, Layer, Option, Redacted } from "effect"
import { Headers } from "effect/http"
import { Authentication, CurrentActor, RpcAuthentication } from "../api/Security.ts"
import { Unauthenticated } from "../domain/Errors.ts"
import { Authenticator } from "../platform/Authenticator.ts"
import { CurrentRequestId, offeredRequestId } from "../platform/RequestContext.ts"

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
      // RPC handlers run in their own fibers: the caller's correlation id travels as a header.
      const requestId = offeredRequestId(Option.getOrUndefined(Headers.get(headers, "x-request-id"))) ?? null
      return Effect.flatMap(actor, (actor) =>
        effect.pipe(Effect.provideService(CurrentActor, actor), Effect.provideService(CurrentRequestId, requestId)))
    })
  })
)
