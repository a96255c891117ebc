/** REST handlers for destinations: decode (done by the schema), call Destinations, add the Location header. */
import { Effect } from "effect"
import { HttpApiBuilder, HttpApiSchema } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { destinationsPath } from "../api/DestinationsApi.ts"
import { CurrentActor } from "../api/Security.ts"
import { Destinations } from "../destinations/Destinations.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"

export const DestinationsHttpLive = HttpApiBuilder.group(
  Api,
  "destinations",
  Effect.fn(function*(handlers) {
    const destinations = yield* Destinations
    const commandContext = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })

    return handlers.handleAll({
      list: ({ query }) => Effect.flatMap(CurrentActor, (actor) => destinations.list(actor, query)),

      get: ({ params }) => Effect.flatMap(CurrentActor, (actor) => destinations.get(actor, params.id)),

      create: Effect.fn(function*({ payload }) {
        const created = yield* destinations.create({ ...(yield* commandContext), input: payload })
        return HttpApiSchema.withHeaders({ body: created, headers: { location: `${destinationsPath}/${created.id}` } })
      }),

      update: ({ params, payload }) =>
        Effect.flatMap(commandContext, (context) => destinations.update({ ...context, id: params.id, update: payload })),

      delete: ({ params }) => Effect.flatMap(commandContext, (context) => destinations.delete({ ...context, id: params.id })),

      rotateSecret: ({ params }) =>
        Effect.flatMap(commandContext, (context) => destinations.rotateSecret({ ...context, id: params.id })),

      deadLetters: ({ params, query }) =>
        Effect.flatMap(CurrentActor, (actor) => destinations.deadLetters(actor, params.id, query)),

      replay: ({ params, payload }) =>
        Effect.flatMap(commandContext, (context) => destinations.replay({ ...context, id: params.id, input: payload }))
    })
  })
)
