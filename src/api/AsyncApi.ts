/**
 * The AsyncAPI 3.0 document of the events the service publishes, generated
 * from their schemas (src/domain/CustomerEvents.ts) through effect's JSON
 * Schema generation, never written by hand: a channel per subject pattern of
 * the JetStream stream, a message per event with its payload schema.
 */
import { JsonSchema, Schema, SchemaAST } from "effect"
import { CustomerEvent, customerEvents, streamName } from "../domain/CustomerEvents.ts"
import { eventsStreamName, TrackedEvents } from "../domain/Event.ts"
import { maxCustomersPerMembershipEvent, SegmentMembershipChanged, segmentEvents, segmentsStreamName } from "../domain/SegmentEvents.ts"

export const asyncApiPath = "/api/v1/asyncapi.json"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/** Draft-07 (AsyncAPI's own schema dialect) with its references moved under components/schemas. */
const relocate = (value: unknown): Json =>
  Array.isArray(value)
    ? value.map(relocate)
    : typeof value === "object" && value !== null
    ? Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        key === "$ref" && typeof item === "string" ? item.replace("#/definitions/", "#/components/schemas/") : relocate(item)
      ])
    )
    : value as Json

interface Channel {
  readonly address: string
  readonly title: string
  readonly description: string
  readonly parameters: Readonly<Record<string, { readonly description: string }>>
  readonly messages: Readonly<Record<string, { readonly $ref: string }>>
  readonly "x-jetstream-stream": string
}

interface Operation {
  readonly action: "send"
  readonly title: string
  readonly channel: { readonly $ref: string }
  readonly messages: ReadonlyArray<{ readonly $ref: string }>
}

interface Message {
  readonly name: string
  readonly title: string
  readonly summary: string
  readonly contentType: string
  readonly headers: Json
  readonly payload: { readonly $ref: string }
}

/** A message the outbox publishes (a customer's or a segment's event): named by its eventId. */
const outboxMessage = (
  event: { readonly type: string; readonly message: string; readonly description: string }
): [string, Message] => [event.message, {
  name: event.type,
  title: event.message,
  summary: event.description,
  contentType: "application/json",
  headers: {
    type: "object",
    properties: { "Nats-Msg-Id": { type: "string", description: "The event's eventId" } }
  },
  payload: { $ref: `#/components/schemas/${event.message}` }
}]

const build = (version: string) => {
  const document = JsonSchema.toDocumentDraft07(
    Schema.toJsonSchemaDocument(Schema.Union([CustomerEvent, TrackedEvents, SegmentMembershipChanged]))
  )
  const tracked = SchemaAST.resolveIdentifier(TrackedEvents.ast) ?? "TrackedEvents"
  const events = customerEvents.map((event) => ({
    ...event,
    message: SchemaAST.resolveIdentifier(event.schema.ast) ?? event.type,
    description: SchemaAST.resolveDescription(event.schema.ast) ?? event.type
  }))
  const membership = segmentEvents.map((event) => ({
    ...event,
    channel: `segment-${event.name}`,
    message: SchemaAST.resolveIdentifier(event.schema.ast) ?? event.type,
    description: SchemaAST.resolveDescription(event.schema.ast) ?? event.type
  }))
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Customer Management Service events",
      version,
      description: `Every change to a customer, published from the transactional outbox to the NATS JetStream ` +
        `stream \`${streamName}\` on \`customers.<customerId>.<event>\`, each with \`Nats-Msg-Id\` = its ` +
        "`eventId` (a republished event is deduplicated). Events of one customer are published in order. " +
        `Every tracked event, once committed, to the stream \`${eventsStreamName}\` on \`events.<type>\`, in ` +
        "messages of one committed batch's events of that type (up to a few hundred each), with `Nats-Msg-Id` = " +
        "the first event's `<id>@<occurredAt>`; batches in the order they were committed, the events of a " +
        "message in the order they occurred. Tracked events carry no personal data: `device` holds only its " +
        "`type`, and the properties the tracking plan marks personal (`personalProperties`) are left out " +
        "(read them through the timeline or export, as a role allowed to). " +
        `Every change of a segment's members, to the stream \`${segmentsStreamName}\` on ` +
        "`segments.<segmentId>.joined` and `.left`, from the same outbox, in the transaction that changed them: " +
        `up to ${maxCustomersPerMembershipEvent} customer ids per message; a segment's events are published in order. ` +
        "The service consumes them too, through the durable consumer named by DESTINATIONS_CONSUMER " +
        "(`cms-destinations`), to notify its webhook destinations (docs/destinations.md): another consumer of these " +
        "subjects uses a durable name of its own."
    },
    defaultContentType: "application/json",
    servers: {
      nats: {
        host: "localhost:4222",
        protocol: "nats",
        description: `NATS with JetStream; the stream \`${streamName}\` holds subjects \`customers.>\`, ` +
          `the stream \`${eventsStreamName}\` subjects \`events.*\`, the stream \`${segmentsStreamName}\` ` +
          "subjects `segments.>`"
      }
    },
    channels: Object.fromEntries(events.map((event): [string, Channel] => [event.name, {
      address: `customers.{customerId}.${event.name}`,
      title: event.type,
      description: event.description,
      parameters: { customerId: { description: "The customer's id (a UUID)" } },
      messages: { [event.message]: { $ref: `#/components/messages/${event.message}` } },
      "x-jetstream-stream": streamName
    }]).concat([["tracked", {
      address: "events.{type}",
      title: "Tracked events",
      description: "Events tracked for customers (page views, purchases, ...), once committed: one committed " +
        "batch's events of this type per message. Without personal data: `device` holds only `type`, and " +
        "properties marked personal in the tracking plan are stripped (sealed at rest, never published)",
      parameters: { type: { description: "The event's type, e.g. `purchase`" } },
      messages: { [tracked]: { $ref: `#/components/messages/${tracked}` } },
      "x-jetstream-stream": eventsStreamName
    }]]).concat(membership.map((event): [string, Channel] => [event.channel, {
      address: `segments.{segmentId}.${event.name}`,
      title: event.type,
      description: event.description,
      parameters: { segmentId: { description: "The segment's id (a UUID)" } },
      messages: { [event.message]: { $ref: `#/components/messages/${event.message}` } },
      "x-jetstream-stream": segmentsStreamName
    }]))),
    operations: Object.fromEntries(events.map((event): [string, Operation] => [event.message, {
      action: "send",
      title: `Publish ${event.type}`,
      channel: { $ref: `#/channels/${event.name}` },
      messages: [{ $ref: `#/channels/${event.name}/messages/${event.message}` }]
    }]).concat([[tracked, {
      action: "send",
      title: "Publish a tracked event",
      channel: { $ref: "#/channels/tracked" },
      messages: [{ $ref: `#/channels/tracked/messages/${tracked}` }]
    }]]).concat(membership.map((event): [string, Operation] => [event.message, {
      action: "send",
      title: `Publish ${event.type}`,
      channel: { $ref: `#/channels/${event.channel}` },
      messages: [{ $ref: `#/channels/${event.channel}/messages/${event.message}` }]
    }]))),
    components: {
      messages: Object.fromEntries(events.map(outboxMessage).concat([[tracked, {
        name: "tracked",
        title: tracked,
        summary: "Tracked events of one type from one committed batch",
        contentType: "application/json",
        headers: {
          type: "object",
          properties: {
            "Nats-Msg-Id": { type: "string", description: "The first event's `<id>@<occurredAt>`: a republished message is deduplicated" }
          }
        },
        payload: { $ref: `#/components/schemas/${tracked}` }
      }]]).concat(membership.map(outboxMessage))),
      schemas: relocate(document.definitions)
    }
  }
}

let cached: ReturnType<typeof build> | undefined

/** Built once: the schemas do not change while the service runs. */
export const asyncApiDocument = (version: string) => (cached ??= build(version))
