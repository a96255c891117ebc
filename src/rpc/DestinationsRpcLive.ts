/** RPC handlers for destinations: the same calls as REST, the caller from RpcAuthentication. */
import { Effect } from "effect"
import { DestinationsRpc } from "../api/DestinationsRpc.ts"
import { CurrentActor } from "../api/Security.ts"
import { Destinations } from "../destinations/Destinations.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"

export const DestinationsRpcLive = DestinationsRpc.toLayer(Effect.gen(function*() {
  const destinations = yield* Destinations
  const context = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })
  return DestinationsRpc.of({
    ListDestinations: (query) => Effect.flatMap(CurrentActor, (actor) => destinations.list(actor, query)),
    GetDestination: ({ id }) => Effect.flatMap(CurrentActor, (actor) => destinations.get(actor, id)),
    CreateDestination: ({ input }) => Effect.flatMap(context, (context) => destinations.create({ ...context, input })),
    UpdateDestination: ({ expectedVersion, id, update }) =>
      Effect.flatMap(context, (context) =>
        destinations.update({ ...context, id, update, expectedVersion: expectedVersion ?? null })),
    DeleteDestination: ({ expectedVersion, id }) =>
      Effect.flatMap(context, (context) => destinations.delete({ ...context, id, expectedVersion: expectedVersion ?? null })),
    RotateDestinationSecret: ({ id }) =>
      Effect.flatMap(context, (context) => destinations.rotateSecret({ ...context, id })),
    ListDeadLetters: ({ id, ...query }) =>
      Effect.flatMap(CurrentActor, (actor) => destinations.deadLetters(actor, id, query)),
    ReplayDeadLetters: ({ id, ...input }) =>
      Effect.flatMap(context, (context) => destinations.replay({ ...context, id, input }))
  })
}))
