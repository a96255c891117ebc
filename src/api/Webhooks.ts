/**
 * The OpenAPI 3.1 `webhooks` of the document: what a destination receives
 * (docs/destinations.md), one entry per segment event type, its body the
 * event's schema (src/domain/SegmentEvents.ts) as JetStream carries it and
 * its headers those of Standard Webhooks. Generated, never written by hand.
 */
import { Schema } from "effect"
import { segmentEvents } from "../domain/SegmentEvents.ts"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/** The schema with its `$defs` references replaced by what they name (these schemas have no cycles). */
const inlined = (value: unknown, definitions: Record<string, unknown>): Json => {
  if (Array.isArray(value)) return value.map((item) => inlined(item, definitions))
  if (typeof value !== "object" || value === null) return value as Json
  const reference = (value as { readonly $ref?: unknown }).$ref
  if (typeof reference === "string" && reference.startsWith("#/$defs/")) {
    const { $ref: _, ...siblings } = value as Record<string, unknown>
    return inlined({ ...(definitions[reference.slice("#/$defs/".length)] as object), ...siblings }, definitions)
  }
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, inlined(item, definitions)]))
}

/** A receiver must accept fields it does not know: newer publishers may add some. */
const open = (schema: Json): Json => {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return schema
  const { additionalProperties: _, ...rest } = schema as Record<string, Json>
  return rest
}

const header = (name: string, description: string, schema: Json) => ({ name, in: "header", required: true, description, schema })

export const segmentWebhooks = () =>
  Object.fromEntries(segmentEvents.map(({ name, schema, type }) => {
    const document = Schema.toJsonSchemaDocument(schema)
    return [type, {
      post: {
        operationId: `webhooks.${name}`,
        summary: `${type} to a destination`,
        description: "POSTed to every enabled destination of the event's segment (or of every segment), signed " +
          "per Standard Webhooks: verify `webhook-signature` over `webhook-id`, `webhook-timestamp` and the raw " +
          "body with the destination's secret (any Standard Webhooks library does). The body is the event as " +
          "published to JetStream; fields may be added. `customerIds` leaves out customers erased since, those " +
          "who withdrew marketing (a marketing segment's joins) and, for a destination marked `thirdParty`, " +
          "everyone who has not granted third-party-sharing: a delivery left naming no one is not sent.",
        parameters: [
          header("webhook-id", "The delivery's id: the same on every retry and replay, to deduplicate by", {
            type: "string",
            format: "uuid"
          }),
          header("webhook-timestamp", "When this attempt was signed, in seconds since the Unix epoch", {
            type: "string",
            pattern: "^[0-9]+$"
          }),
          header(
            "webhook-signature",
            "`v1,<base64 HMAC-SHA256>`, space-separated; two during a secret rotation's grace period",
            { type: "string", pattern: "^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$" }
          )
        ],
        requestBody: {
          required: true,
          content: { "application/json": { schema: open(inlined(document.schema, document.definitions)) } }
        },
        responses: {
          "2XX": { description: "Delivered" },
          default: {
            description: "Any other answer, or none within DESTINATION_TIMEOUT_SECONDS, is retried with " +
              "exponential backoff; after DESTINATION_MAX_ATTEMPTS the delivery is a dead letter"
          }
        }
      }
    }]
  }))
