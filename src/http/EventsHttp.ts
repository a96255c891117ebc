/** REST handlers for tracking: hand the events to the group-commit ingest, map a single event's rejection. */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import {
  CustomerNotFound,
  OccurredInFuture,
  TrackingPlanViolation,
  UnregisteredEventType
} from "../domain/Errors.ts"
import { EventIngest } from "../events/EventIngest.ts"

export const EventsHttpLive = HttpApiBuilder.group(
  Api,
  "events",
  Effect.fn(function*(handlers) {
    const ingest = yield* EventIngest
    return handlers.handleAll({
      track: Effect.fn(function*({ params, payload }) {
        const [result] = yield* ingest.track([{ customerId: params.id, ...payload }])
        if (result.problem?.type === "/problems/customer-not-found") {
          return yield* new CustomerNotFound({ customerId: params.id })
        }
        if (result.problem?.type === "/problems/occurred-in-future") {
          return yield* new OccurredInFuture({ field: "occurredAt" })
        }
        if (result.problem?.type === "/problems/tracking-plan-violation") {
          return yield* new TrackingPlanViolation({
            field: result.problem.field,
            violations: result.violations ?? [],
            ...(result.problem.detail === undefined ? {} : { detail: result.problem.detail })
          })
        }
        if (result.problem?.type === "/problems/unregistered-event-type") {
          return yield* new UnregisteredEventType({ field: "type", detail: `'${payload.type}' is not registered` })
        }
        return result
      }),
      trackBatch: Effect.fn(function*({ payload }) {
        const results = yield* ingest.track(payload.events)
        const count = (status: (typeof results)[number]["status"]) =>
          results.reduce((n, result) => result.status === status ? n + 1 : n, 0)
        return { stored: count("stored"), duplicates: count("duplicate"), rejected: count("rejected"), results }
      })
    })
  })
)
