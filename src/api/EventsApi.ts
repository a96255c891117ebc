/** Tracking: one event for a customer, or a batch across customers. Built only from domain schemas. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { CustomerId } from "../domain/Customer.ts"
import { BatchResult, EventResult, TimelinePage, TimelineQuery, TrackBatch, TrackEvent } from "../domain/Event.ts"
import { TimelineErrors, TrackBatchErrors, TrackEventErrors } from "../domain/Errors.ts"
import { documentQueryParameters } from "./QueryParameters.ts"
import { customersPath } from "./CustomersApi.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"
import { JsonBody } from "./Transport.ts"

export const eventsPath = "/api/v1/events"

const durability = "A 200 means committed in PostgreSQL: requests arriving together share one statement (group " +
  "commit). Send each event's `id` and `occurredAt` so that a retry is recognised (`duplicate`) and stored once. " +
  "When too much is waiting to be stored the answer is 503 with Retry-After; nothing of that request was stored."

export class EventsApi extends HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.post("track", `${customersPath}/:id/track`, {
      params: { id: CustomerId.annotate({ description: "The customer the event is about" }) },
      payload: TrackEvent,
      success: EventResult,
      error: TrackEventErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "events:write").annotateMerge(
      OpenApi.annotations({
        summary: "Track an event for a customer",
        description: `${durability} An unknown or erased customer is a 404; a time before the retention ` +
          "period (EVENTS_RETENTION_MONTHS) is a 422."
      })
    ),
    HttpApiEndpoint.get("timeline", `${customersPath}/:id/events`, {
      params: { id: CustomerId.annotate({ description: "The customer whose events to read" }) },
      query: TimelineQuery,
      success: TimelinePage,
      error: TimelineErrors
    }).annotateMerge(OpenApi.annotations({
      summary: "A customer's events, newest first",
      description: "Filtered by type and time (`from` inclusive, `to` exclusive). Keyset-paginated: pass " +
        "`nextCursor` back as `cursor`, with the same filters, until it is null; a page costs the same at any depth."
    })).annotateMerge(documentQueryParameters(TimelineQuery)),
    HttpApiEndpoint.post("trackBatch", `${eventsPath}/batch`, {
      payload: TrackBatch,
      success: BatchResult,
      error: TrackBatchErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "events:write").annotateMerge(
      OpenApi.annotations({
        summary: "Track a batch of events",
        description: `Up to 1,000 events for any customers. ${durability} A malformed event refuses the whole ` +
          "batch (400, naming `events.<index>.<field>`, nothing stored); an event that is well-formed but " +
          "cannot be stored (unknown or erased customer, time too far ahead) is `rejected` in its result, " +
          "and the others are stored."
      })
    )
  )
  .middleware(Authentication)
  .annotateMerge(OpenApi.annotations({ title: "Events", description: "Tracked behaviour: page views, purchases, ..." }))
{}
