/** REST handlers for /api/v1/api-keys: the caller and request id in, the Authenticator does the rest. */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { CurrentActor } from "../api/Security.ts"
import { Authenticator } from "../platform/Authenticator.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"

export const ApiKeysHttpLive = HttpApiBuilder.group(
  Api,
  "apiKeys",
  Effect.fn(function*(handlers) {
    const authenticator = yield* Authenticator
    const command = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })
    return handlers.handleAll({
      list: ({ query }) => Effect.flatMap(CurrentActor, (actor) => authenticator.listApiKeys(actor, query)),
      issue: ({ payload }) => Effect.flatMap(command, (context) => authenticator.issueApiKey({ ...context, request: payload })),
      revoke: ({ params }) => Effect.flatMap(command, (context) => authenticator.revokeApiKey({ ...context, id: params.id }))
    })
  })
)
