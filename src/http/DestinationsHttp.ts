/** REST handlers for destinations: decode (done by the schema), call Destinations, add the Location header. */
import { Effect } from "effect"
import { HttpApiBuilder, HttpApiSchema } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { destinationsPath } from "../api/DestinationsApi.ts"
import { CurrentActor } from "../api/Security.ts"
import { Destinations } from "../destinations/Destinations.ts"
import { etagFor } from "../domain/CustomerRules.ts"
import type { Destination } from "../domain/Destination.ts"
import { DestinationVersionConflict } from "../domain/Errors.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { expectedVersionOf as expectedVersionFrom } from "./Versioning.ts"

const withEtag = (destination: Destination) =>
  HttpApiSchema.withHeaders({ body: destination, headers: { etag: etagFor(destination.version) } })

const expectedVersionOf = expectedVersionFrom((found) => new DestinationVersionConflict(found))

export const DestinationsHttpLive = HttpApiBuilder.group(
  Api,
  "destinations",
  Effect.fn(function*(handlers) {
    const destinations = yield* Destinations
    const commandContext = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })

    return handlers.handleAll({
      list: ({ query }) => Effect.flatMap(CurrentActor, (actor) => destinations.list(actor, query)),

      get: ({ params }) =>
        CurrentActor.pipe(Effect.flatMap((actor) => destinations.get(actor, params.id)), Effect.map(withEtag)),

      create: Effect.fn(function*({ payload }) {
        const created = yield* destinations.create({ ...(yield* commandContext), input: payload })
        return HttpApiSchema.withHeaders({
          body: created,
          headers: { etag: etagFor(created.version), location: `${destinationsPath}/${created.id}` }
        })
      }),

      update: Effect.fn(function*({ headers, params, payload }) {
        const { version, ...update } = payload
        const expectedVersion = yield* expectedVersionOf(headers["if-match"], version)
        return withEtag(yield* destinations.update({ ...(yield* commandContext), id: params.id, update, expectedVersion }))
      }),

      delete: Effect.fn(function*({ headers, params }) {
        const expectedVersion = yield* expectedVersionOf(headers["if-match"], undefined)
        yield* destinations.delete({ ...(yield* commandContext), id: params.id, expectedVersion })
      }),

      rotateSecret: ({ params }) =>
        Effect.flatMap(commandContext, (context) => destinations.rotateSecret({ ...context, id: params.id })),

      deadLetters: ({ params, query }) =>
        Effect.flatMap(CurrentActor, (actor) => destinations.deadLetters(actor, params.id, query)),

      replay: ({ params, payload }) =>
        Effect.flatMap(commandContext, (context) => destinations.replay({ ...context, id: params.id, input: payload }))
    })
  })
)
