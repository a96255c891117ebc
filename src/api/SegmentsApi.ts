/**
 * The segment endpoints, beside the customer endpoints under /api/v1/customers:
 * definitions at /segments, their calculations and current members below
 * /segments/:id, a customer's segments at /:id/segments and hand-kept
 * membership at /bulk/segments. The router prefers a static path segment to a
 * parameter, so `/segments` and `/bulk` never reach the customer's `/:id`.
 * Built only from domain schemas.
 */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { CustomerId } from "../domain/Customer.ts"
import {
  CalculateSegmentErrors,
  ChangeSegmentMembersErrors,
  CreateSegmentErrors,
  CustomerSegmentsErrors,
  DeleteSegmentErrors,
  GetSegmentCalculationErrors,
  GetSegmentErrors,
  ListSegmentsErrors,
  SegmentMembersErrors,
  UpdateSegmentErrors
} from "../domain/Errors.ts"
import {
  maxMembersPageSize,
  SegmentCalculation,
  SegmentCalculationId,
  SegmentMembersPage,
  SegmentMembersQuery
} from "../domain/SegmentCalculation.ts"
import {
  ChangeSegmentMembers,
  CreateSegment,
  CustomerSegments,
  ListSegmentsQuery,
  MembershipChanges,
  Segment,
  SegmentId,
  SegmentPage,
  UpdateSegment
} from "../domain/Segment.ts"
import { customersPath } from "./CustomersApi.ts"
import { documentQueryParameters } from "./QueryParameters.ts"
import { Authentication, Authorization, RequiredPermission } from "./Security.ts"
import { JsonBody } from "./Transport.ts"
import { IfMatch } from "./Versioning.ts"

export const segmentsPath = `${customersPath}/segments`
export const bulkSegmentsPath = `${customersPath}/bulk/segments`

const idParam = {
  id: SegmentId.annotate({
    description: "The segment's id (a UUID)",
    examples: [SegmentId.make("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d36")]
  })
}

const SegmentETag = Schema.String.check(Schema.isPattern(/^"v[0-9]{1,9}"$/u)).annotate({
  description: "The segment's version as an entity tag; send it back as If-Match to change this version only."
})

const SegmentWithETag = HttpApiSchema.WithHeaders(Segment, { etag: SegmentETag })

const Created = HttpApiSchema.WithHeaders(Segment, {
  etag: SegmentETag,
  location: Schema.String.check(Schema.isPattern(/^\/api\/v1\/customers\/segments\/[0-9a-f-]{36}$/u)).annotate({
    description: "Where the new segment lives"
  })
}).pipe(HttpApiSchema.status(201))

const Accepted = HttpApiSchema.WithHeaders(SegmentCalculation, {
  location: Schema.String.check(
    Schema.isPattern(/^\/api\/v1\/customers\/segments\/[0-9a-f-]{36}\/calculations\/[0-9a-f-]{36}$/u)
  ).annotate({ description: "Where to poll the calculation" })
}).pipe(HttpApiSchema.status(202))

/** Where a segment's calculation is polled. */
export const calculationPath = (segmentId: string, calculationId: string) =>
  `${segmentsPath}/${segmentId}/calculations/${calculationId}`

const documented = (summary: string, description: string) => OpenApi.annotations({ summary, description })

export class SegmentsApi extends HttpApiGroup.make("segments")
  .add(
    HttpApiEndpoint.get("list", "/segments", {
      query: ListSegmentsQuery,
      success: SegmentPage,
      error: ListSegmentsErrors
    }).annotateMerge(documented(
      "List segments",
      "Keyset-paginated by name (default) or creation time: pass `nextCursor` back as `cursor`, with the same " +
        "`sort`, until it is null."
    )).annotateMerge(documentQueryParameters(ListSegmentsQuery)),
    HttpApiEndpoint.post("create", "/segments", {
      payload: CreateSegment,
      success: Created,
      error: CreateSegmentErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "segments:manage").annotateMerge(
      documented(
        "Create a segment",
        "A `dynamic` segment states its criteria (one tree, so at least one criterion; see docs/segments.md); a " +
          "`manual` segment has none and its members are added by hand (POST /api/v1/customers/bulk/segments). " +
          "Names are unique regardless of letter case. An invalid node is a 400 naming its path; a `segment` " +
          "node naming no segment is a 422 naming its path. The segment starts with version 1."
      )
    ),
    HttpApiEndpoint.get("get", "/segments/:id", {
      params: idParam,
      success: SegmentWithETag,
      error: GetSegmentErrors
    }).annotateMerge(documented("Read a segment", "With its version as ETag.")),
    HttpApiEndpoint.patch("update", "/segments/:id", {
      params: idParam,
      headers: IfMatch,
      payload: UpdateSegment,
      success: SegmentWithETag,
      error: UpdateSegmentErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "segments:manage").annotateMerge(
      documented(
        "Change a segment's definition",
        "Only the fields sent change; `description: null` clears it; the type never changes, and only a " +
          "dynamic segment has criteria. If-Match or `version` is optional (412 when stale). New criteria must " +
          "not make the segment depend on itself through `segment` nodes (422 naming the node)."
      )
    ),
    HttpApiEndpoint.delete("delete", "/segments/:id", {
      params: idParam,
      headers: IfMatch,
      success: HttpApiSchema.NoContent,
      error: DeleteSegmentErrors
    }).middleware(Authorization).annotate(RequiredPermission, "segments:manage").annotateMerge(documented(
      "Delete a segment",
      "With its membership history. Refused (409) while other segments' criteria refer to it."
    )),
    HttpApiEndpoint.post("calculate", "/segments/:id/calculate", {
      params: idParam,
      success: Accepted,
      error: CalculateSegmentErrors
    }).middleware(Authorization).annotate(RequiredPermission, "segments:manage").annotateMerge(documented(
      "Calculate a dynamic segment's members",
      "Queues a calculation and answers at once (202) with the job and, in `Location`, where to poll it. When " +
        "one is already queued or running, that one is the answer: two calculations of a segment never run at " +
        "once. Creating a dynamic segment and changing its criteria queue one too. A manual segment is a 422."
    )),
    HttpApiEndpoint.get("calculation", "/segments/:id/calculations/:calculationId", {
      params: {
        ...idParam,
        calculationId: SegmentCalculationId.annotate({ description: "The calculation's id (a UUID)" })
      },
      success: SegmentCalculation,
      error: GetSegmentCalculationErrors
    }).annotateMerge(documented(
      "A segment's calculation",
      "Its status (`queued`, `running`, `succeeded`, `failed`), and once finished the members after it, the " +
        "customers who joined and left, its duration, or why it failed."
    )),
    HttpApiEndpoint.get("members", "/segments/:id/customers", {
      params: idParam,
      query: SegmentMembersQuery,
      success: SegmentMembersPage,
      error: SegmentMembersErrors
    }).annotateMerge(documented(
      "A segment's current members",
      `Keyset-paginated by customer id, up to ${maxMembersPageSize} per page: pass \`nextCursor\` back as ` +
        "`cursor` until it is null."
    )).annotateMerge(documentQueryParameters(SegmentMembersQuery)),
    HttpApiEndpoint.get("customerSegments", "/:id/segments", {
      params: { id: CustomerId.annotate({ description: "The customer's id (a UUID)" }) },
      success: CustomerSegments,
      error: CustomerSegmentsErrors
    }).annotateMerge(documented(
      "A customer's segments",
      "The segments the customer is a member of now. An unknown or erased customer is a 404."
    )),
    HttpApiEndpoint.post("changeMembers", "/bulk/segments", {
      payload: ChangeSegmentMembers,
      success: MembershipChanges,
      error: ChangeSegmentMembersErrors
    }).middleware(JsonBody).middleware(Authorization).annotate(RequiredPermission, "segments:manage").annotateMerge(
      documented(
        "Add or remove members of a manual segment",
        "Up to 10,000 distinct customer ids, applied together in one statement; each id's outcome is in " +
          "`results`, in the request's order (`customer-not-found` for an unknown or erased customer, which " +
          "changes nothing). A dynamic segment's members are its criteria's to choose (422)."
      )
    )
  )
  .middleware(Authentication)
  .prefix(customersPath)
  .annotateMerge(OpenApi.annotations({
    title: "Segments",
    description: "Audiences: dynamic (criteria) or manual (members added by hand)"
  }))
{}
