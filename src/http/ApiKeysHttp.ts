import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { ApiKeyNotFound } from "../api/ApiKeysApi.ts"
import { CurrentActor } from "../api/Security.ts"
import { requirePermission } from "../domain/Access.ts"
import { Authenticator } from "../platform/Authenticator.ts"

export const ApiKeysHttpLive = HttpApiBuilder.group(
  Api,
  "apiKeys",
  Effect.fn(function*(handlers) {
    const authenticator = yield* Authenticator
    const authorize = Effect.flatMap(CurrentActor, (actor) => requirePermission(actor, "api-keys:manage"))
    return handlers.handleAll({
      issue: Effect.fn(function*({ payload }) {
        yield* authorize
        const issued = yield* authenticator.issueApiKey(payload.name, payload.role)
        return { ...issued, name: payload.name, role: payload.role }
      }),
      revoke: Effect.fn(function*({ params }) {
        yield* authorize
        if (!(yield* authenticator.revokeApiKey(params.id))) return yield* new ApiKeyNotFound({})
      })
    })
  })
)
