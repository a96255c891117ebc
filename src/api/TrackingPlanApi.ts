/** The tracking plan: register event types with a JSON Schema for their properties. Built only from domain schemas. */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { GetEventTypeErrors, RegisterEventTypeErrors, RemoveEventTypeErrors } from "../domain/Errors.ts"
import { EventType } from "../domain/Event.ts"
import { RegisteredEventType, RegisterEventType, TrackingPlanTypes } from "../domain/TrackingPlan.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"
import { JsonBody } from "./Transport.ts"

const typeParam = { type: EventType.annotate({ description: "The event type" }) }

export class TrackingPlanApi extends HttpApiGroup.make("trackingPlan")
  .add(
    HttpApiEndpoint.get("list", "/", { success: TrackingPlanTypes }).annotateMerge(OpenApi.annotations({
      summary: "The tracking plan",
      description: "Every registered event type, and what happens to events of a type not in it."
    })),
    HttpApiEndpoint.get("get", "/:type", { params: typeParam, success: RegisteredEventType, error: GetEventTypeErrors })
      .annotateMerge(OpenApi.annotations({ summary: "A registered event type" })),
    HttpApiEndpoint.put("register", "/:type", {
      params: typeParam,
      payload: RegisterEventType,
      success: RegisteredEventType,
      error: RegisterEventTypeErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "tracking-plan:manage")
      .annotateMerge(OpenApi.annotations({
        summary: "Register an event type, or change its registration",
        description: "From then on every tracked event of this type is checked against `propertiesSchema`; " +
          "in mode `refuse` an event that does not match is rejected naming the first violation " +
          "(`properties.<path>`), in mode `flag` it is stored with its violations. Other service processes apply " +
          "the change within TRACKING_PLAN_REFRESH (5 s by default). Admins only."
      })),
    HttpApiEndpoint.delete("remove", "/:type", {
      params: typeParam,
      success: HttpApiSchema.NoContent,
      error: RemoveEventTypeErrors
    }).middleware(Authorization).annotate(RequiredPermission, "tracking-plan:manage").annotateMerge(
      OpenApi.annotations({
        summary: "Remove an event type from the plan",
        description: "Its events are then treated as any unregistered type's. Admins only."
      })
    )
  )
  .middleware(Authentication)
  .prefix("/api/v1/tracking-plan/event-types")
  .annotateMerge(OpenApi.annotations({
    title: "Tracking plan",
    description: "The event types a company tracks, with the shape of their properties"
  }))
{}
