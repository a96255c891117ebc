/** REST handlers for segments: decode (done by the schema), call Segments, add HTTP headers. */
import { Effect } from "effect"
import { HttpApiBuilder, HttpApiSchema } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { calculationPath, segmentsPath } from "../api/SegmentsApi.ts"
import { CurrentActor } from "../api/Security.ts"
import { etagFor } from "../domain/CustomerRules.ts"
import { SegmentVersionConflict } from "../domain/Errors.ts"
import type { Segment } from "../domain/Segment.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { Segments } from "../segments/Segments.ts"
import { expectedVersionOf as expectedVersionFrom } from "./Versioning.ts"

const withEtag = (segment: Segment) =>
  HttpApiSchema.withHeaders({ body: segment, headers: { etag: etagFor(segment.version) } })

const expectedVersionOf = expectedVersionFrom((found) => new SegmentVersionConflict(found))

export const SegmentsHttpLive = HttpApiBuilder.group(
  Api,
  "segments",
  Effect.fn(function*(handlers) {
    const segments = yield* Segments
    const commandContext = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })

    return handlers.handleAll({
      list: ({ query }) => Effect.flatMap(CurrentActor, (actor) => segments.list(actor, query)),

      get: ({ params }) =>
        CurrentActor.pipe(Effect.flatMap((actor) => segments.get(actor, params.id)), Effect.map(withEtag)),

      create: Effect.fn(function*({ payload }) {
        const segment = yield* segments.create({ ...(yield* commandContext), input: payload })
        return HttpApiSchema.withHeaders({
          body: segment,
          headers: { etag: etagFor(segment.version), location: `${segmentsPath}/${segment.id}` }
        })
      }),

      update: Effect.fn(function*({ params, payload, headers }) {
        const expectedVersion = yield* expectedVersionOf(headers["if-match"], payload.version)
        const segment = yield* segments.update({
          ...(yield* commandContext),
          id: params.id,
          update: payload,
          expectedVersion
        })
        return withEtag(segment)
      }),

      delete: Effect.fn(function*({ params, headers }) {
        const expectedVersion = yield* expectedVersionOf(headers["if-match"], undefined)
        yield* segments.delete({ ...(yield* commandContext), id: params.id, expectedVersion })
      }),

      customerSegments: ({ params }) => Effect.flatMap(CurrentActor, (actor) => segments.segmentsOf(actor, params.id)),

      changeMembers: ({ payload }) =>
        Effect.flatMap(commandContext, (context) => segments.changeMembers({ ...context, input: payload })),

      calculate: Effect.fn(function*({ params }) {
        const calculation = yield* segments.calculate({ ...(yield* commandContext), id: params.id })
        return HttpApiSchema.withHeaders({
          body: calculation,
          headers: { location: calculationPath(params.id, calculation.id) }
        })
      }),

      calculation: ({ params }) =>
        Effect.flatMap(CurrentActor, (actor) => segments.calculation(actor, params.id, params.calculationId)),

      members: ({ params, query }) => Effect.flatMap(CurrentActor, (actor) => segments.members(actor, params.id, query))
    })
  })
)
