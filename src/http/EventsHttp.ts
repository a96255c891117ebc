/** REST handlers for tracking and the timeline: thin over the events feature. */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { CurrentActor } from "../api/Security.ts"
import { EventIngest } from "../events/EventIngest.ts"
import { EventTimeline } from "../events/EventTimeline.ts"

export const EventsHttpLive = HttpApiBuilder.group(
  Api,
  "events",
  Effect.fn(function*(handlers) {
    const ingest = yield* EventIngest
    const timeline = yield* EventTimeline
    return handlers.handleAll({
      track: ({ params, payload }) => ingest.trackOne(params.id, payload),
      trackBatch: ({ payload }) => ingest.trackBatch(payload.events),
      timeline: ({ params, query }) => Effect.flatMap(CurrentActor, (actor) => timeline.read(actor, params.id, query))
    })
  })
)
