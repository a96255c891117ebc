/** REST handlers for consent: thin, Consents does the work. */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { CurrentActor } from "../api/Security.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { Consents } from "../privacy/Consents.ts"

export const ConsentHttpLive = HttpApiBuilder.group(
  Api,
  "consent",
  Effect.fn(function*(handlers) {
    const consents = yield* Consents
    const command = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })
    return handlers.handleAll({
      getConsent: ({ params }) => Effect.flatMap(CurrentActor, (actor) => consents.get(actor, params.id)),
      changeConsent: ({ params, payload }) =>
        Effect.flatMap(command, (context) => consents.change({ ...context, id: params.id, input: payload })),
      consentHistory: ({ params, query }) =>
        Effect.flatMap(CurrentActor, (actor) => consents.history(actor, params.id, query))
    })
  })
)
