/** REST handlers for the tracking plan: straight to the service. */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { TrackingPlan } from "../events/TrackingPlan.ts"

export const TrackingPlanHttpLive = HttpApiBuilder.group(
  Api,
  "trackingPlan",
  Effect.fn(function*(handlers) {
    const plan = yield* TrackingPlan
    return handlers.handleAll({
      list: () => plan.list,
      get: ({ params }) => plan.get(params.type),
      register: ({ params, payload }) => plan.register(params.type, payload),
      remove: ({ params }) => plan.remove(params.type)
    })
  })
)
