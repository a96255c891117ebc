/**
 * Segment destinations: webhook subscriptions (one segment's or every segment's joins and leaves), their
 * signing secrets, delivery status and dead letters. Under /api/v1/destinations, apart from the customer and
 * segment paths. Built only from domain schemas.
 */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import {
  CreatedDestination,
  CreateDestination,
  DeadLetterPage,
  DeadLettersQuery,
  Destination,
  DestinationId,
  DestinationPage,
  ListDestinationsQuery,
  ReplayDeadLetters,
  ReplayResult,
  RotatedSecret,
  UpdateDestination
} from "../domain/Destination.ts"
import {
  CreateDestinationErrors,
  DeadLettersErrors,
  DeleteDestinationErrors,
  GetDestinationErrors,
  ReplayDeadLettersErrors,
  RotateDestinationSecretErrors,
  UpdateDestinationErrors
} from "../domain/Errors.ts"
import { documentQueryParameters } from "./QueryParameters.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"
import { JsonBody } from "./Transport.ts"
import { IfMatch } from "./Versioning.ts"

export const destinationsPath = "/api/v1/destinations"

const idParam = {
  id: DestinationId.annotate({
    description: "The destination's id (a UUID)",
    examples: [DestinationId.make("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d50")]
  })
}

const DestinationETag = Schema.String.check(Schema.isPattern(/^"v[0-9]{1,9}"$/u)).annotate({
  description: "The destination's version as an entity tag; send it back as If-Match to change this version only."
})

const DestinationWithETag = HttpApiSchema.WithHeaders(Destination, { etag: DestinationETag })

const Created = HttpApiSchema.WithHeaders(CreatedDestination, {
  etag: DestinationETag,
  location: Schema.String.check(Schema.isPattern(/^\/api\/v1\/destinations\/[0-9a-f-]{36}$/u)).annotate({
    description: "Where the new destination lives"
  })
}).pipe(HttpApiSchema.status(201))

const documented = (summary: string, description: string) => OpenApi.annotations({ summary, description })

export class DestinationsApi extends HttpApiGroup.make("destinations")
  .add(
    HttpApiEndpoint.get("list", "/", {
      query: ListDestinationsQuery,
      success: DestinationPage
    }).annotateMerge(documented(
      "List destinations",
      "Oldest first, each with its delivery status; never a secret. Pass `nextCursor` back as `cursor` until it " +
        "is null."
    )).annotateMerge(documentQueryParameters(ListDestinationsQuery)),
    HttpApiEndpoint.post("create", "/", {
      payload: CreateDestination,
      success: Created,
      error: CreateDestinationErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "segments:manage").annotateMerge(
      documented(
        "Create a destination",
        "From now on every join and leave of its segment (or of every segment) is POSTed to `url`, signed per " +
          "Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The signing secret is in " +
          "this answer only. A URL with credentials, or (unless the service allows private networks) one that " +
          "resolves to a loopback, private or link-local address, is a 422; a segment that does not exist is a 422. " +
          "Mark a receiver outside your organisation (another controller) `thirdParty: true`: it is then sent only " +
          "customers who granted third-party-sharing consent."
      )
    ),
    HttpApiEndpoint.get("get", "/:id", {
      params: idParam,
      success: DestinationWithETag,
      error: GetDestinationErrors
    }).annotateMerge(documented(
      "Read a destination",
      "With its version as ETag and its delivery status: pending, delivered and dead counts, the last success " +
        "and failure, the last HTTP status and error, the failures since the last success, and when the service " +
        "disabled it for failing."
    )),
    HttpApiEndpoint.patch("update", "/:id", {
      params: idParam,
      headers: IfMatch,
      payload: UpdateDestination,
      success: DestinationWithETag,
      error: UpdateDestinationErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "segments:manage").annotateMerge(
      documented(
        "Change a destination",
        "Only the fields sent change; the URL and segment rules are those of creation. If-Match or `version` is " +
          "optional (412 when stale). A disabled destination keeps its deliveries pending until it is enabled " +
          "again; enabling one the service disabled for failing clears `status.autoDisabledAt` and its failures."
      )
    ),
    HttpApiEndpoint.delete("delete", "/:id", {
      params: idParam,
      headers: IfMatch,
      success: HttpApiSchema.NoContent,
      error: DeleteDestinationErrors
    }).middleware(Authorization).annotate(RequiredPermission, "segments:manage").annotateMerge(documented(
      "Delete a destination",
      "With its pending deliveries and dead letters. If-Match is optional (412 when stale)."
    )),
    HttpApiEndpoint.post("rotateSecret", "/:id/rotate-secret", {
      params: idParam,
      success: RotatedSecret,
      error: RotateDestinationSecretErrors
    }).middleware(Authorization).annotate(RequiredPermission, "segments:manage").annotateMerge(documented(
      "Rotate the signing secret",
      "The new secret is in this answer only and signs every notification from now on; until " +
        "`previousSecretExpiresAt` (DESTINATION_SECRET_ROTATION_GRACE_HOURS) each notification carries a " +
        "signature by the previous secret too, so a receiver can switch without losing a message."
    )),
    HttpApiEndpoint.get("deadLetters", "/:id/dead-letters", {
      params: idParam,
      query: DeadLettersQuery,
      success: DeadLetterPage,
      error: DeadLettersErrors
    }).annotateMerge(documented(
      "A destination's dead letters",
      "Deliveries given up after their last attempt, oldest first. Pass `nextCursor` back as `cursor` until it is null."
    )).annotateMerge(documentQueryParameters(DeadLettersQuery)),
    HttpApiEndpoint.post("replay", "/:id/dead-letters/replay", {
      params: idParam,
      payload: ReplayDeadLetters,
      success: ReplayResult,
      error: ReplayDeadLettersErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "segments:manage").annotateMerge(
      documented(
        "Replay dead letters",
        "Queues the dead letters named in `ids` (or every one, with `{}`) for delivery again, due at once, with " +
          "their attempts starting over. Each keeps its `webhook-id` and body."
      )
    )
  )
  .middleware(Authentication)
  .prefix(destinationsPath)
  .annotateMerge(OpenApi.annotations({
    title: "Destinations",
    description: "Webhook subscriptions to segment joins and leaves, signed per Standard Webhooks"
  }))
{}
