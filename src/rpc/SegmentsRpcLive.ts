/** RPC handlers for segments: the same calls as REST, the caller from RpcAuthentication. */
import { Effect } from "effect"
import { CurrentActor } from "../api/Security.ts"
import { SegmentsRpc } from "../api/SegmentsRpc.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { Segments } from "../segments/Segments.ts"

export const SegmentsRpcLive = SegmentsRpc.toLayer(Effect.gen(function*() {
  const segments = yield* Segments
  const context = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })
  return SegmentsRpc.of({
    ListSegments: (query) => Effect.flatMap(CurrentActor, (actor) => segments.list(actor, query)),
    GetSegment: ({ id }) => Effect.flatMap(CurrentActor, (actor) => segments.get(actor, id)),
    CreateSegment: ({ input }) => Effect.flatMap(context, (context) => segments.create({ ...context, input })),
    UpdateSegment: ({ id, update, expectedVersion }) =>
      Effect.flatMap(context, (context) =>
        segments.update({ ...context, id, update, expectedVersion: expectedVersion ?? null })),
    DeleteSegment: ({ id, expectedVersion }) =>
      Effect.flatMap(context, (context) =>
        segments.delete({ ...context, id, expectedVersion: expectedVersion ?? null })),
    ListCustomerSegments: ({ id }) => Effect.flatMap(CurrentActor, (actor) => segments.segmentsOf(actor, id)),
    ChangeSegmentMembers: (input) => Effect.flatMap(context, (context) => segments.changeMembers({ ...context, input })),
    CalculateSegment: ({ id }) => Effect.flatMap(context, (context) => segments.calculate({ ...context, id })),
    GetSegmentCalculation: ({ id, calculationId }) =>
      Effect.flatMap(CurrentActor, (actor) => segments.calculation(actor, id, calculationId)),
    ListSegmentMembers: ({ id, ...query }) => Effect.flatMap(CurrentActor, (actor) => segments.members(actor, id, query))
  })
}))
