/**
 * Segment destinations: webhook subscriptions that receive the joins and leaves
 * of one segment or of every segment (the SegmentEvents bodies), signed per
 * Standard Webhooks, with their delivery status and dead letters. The schemas
 * REST, RPC, OpenAPI and the service share.
 */
import { Schema } from "effect"
import { isStorableText, Timestamp } from "./Customer.ts"
import { PageLimit } from "./Paging.ts"
import { SegmentId } from "./SegmentCriteria.ts"

export const DestinationId = Schema.String.check(Schema.isUUID()).pipe(Schema.brand("DestinationId"))
export type DestinationId = typeof DestinationId.Type

/** A delivery's id, also its `webhook-id` header: the same on every attempt and replay. */
export const DeliveryId = Schema.String.check(Schema.isUUID()).pipe(Schema.brand("DeliveryId"))
export type DeliveryId = typeof DeliveryId.Type

const DestinationName = Schema.String.check(isStorableText, Schema.isNonEmpty(), Schema.isMaxCodePoints(255))

export const maxUrlLength = 2048

export const DestinationUrl = Schema.String.check(
  Schema.isPattern(/^[Hh][Tt][Tt][Pp][Ss]?:\/\/[^\s]+$/u, { expected: "an http or https URL" }),
  Schema.isMaxCodePoints(maxUrlLength)
).annotate({
  description: "Where notifications are POSTed: http or https, without credentials, and (unless the service " +
    "allows private networks) resolving to public addresses only"
})

const ServiceTimestamp = Timestamp.annotate({ readOnly: true })
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const DeliveryStatus = Schema.Struct({
  pending: Count.annotate({ description: "Deliveries waiting for their next attempt or in flight" }),
  delivered: Count.annotate({ description: "Deliveries a 2xx answered" }),
  dead: Count.annotate({ description: "Dead letters: deliveries given up after their last attempt" }),
  erased: Count.annotate({
    description: "Deliveries dropped before they were delivered because every customer they named was erased, " +
      "withdrew the consent they needed (marketing for a marketing segment's joins) or, for a third party, " +
      "has not granted third-party-sharing"
  }),
  lastSuccessAt: Schema.NullOr(Timestamp).annotate({ description: "The last attempt a 2xx answered" }),
  lastFailureAt: Schema.NullOr(Timestamp).annotate({ description: "The last attempt that failed" }),
  lastHttpStatus: Schema.NullOr(Schema.Int).annotate({
    description: "The last attempt's HTTP status; null when it got none (timeout, connection refused)"
  }),
  lastError: Schema.NullOr(Schema.String).annotate({
    description: "Why the last attempt failed (`HTTP 500`, `timeout`, a connection error's code); null after a success"
  }),
  consecutiveFailures: Count.annotate({ description: "Failed attempts since the last success (or re-enable)" }),
  failingSince: Schema.NullOr(Timestamp).annotate({
    description: "The first of those failed attempts; null while the last attempt succeeded"
  }),
  autoDisabledAt: Schema.NullOr(Timestamp).annotate({
    description: "When the service disabled the destination because it kept failing " +
      "(DESTINATION_DISABLE_AFTER_FAILURES attempts in a row over DESTINATION_DISABLE_AFTER_HOURS); null when it " +
      "is enabled or a user disabled it. Enabling it (`enabled: true`) clears this and the failure count"
  })
}).annotate({ identifier: "DeliveryStatus", readOnly: true })
export type DeliveryStatus = typeof DeliveryStatus.Type

const thirdPartyDescription = "The receiver is a third party (another controller: a partner, an ad network), not " +
  "the service owner's own system or a processor acting for it. A third party's notifications name only customers " +
  "who granted `third-party-sharing` consent: the others are left out of every join and leave, at fan-out and " +
  "when they withdraw; a notification left naming no one is dropped (`status.erased`). false when not stated"

const destinationFields = {
  id: DestinationId.annotate({ readOnly: true }),
  name: DestinationName,
  url: DestinationUrl,
  segmentId: Schema.NullOr(SegmentId).annotate({
    description: "The segment whose joins and leaves are sent; null for every segment"
  }),
  enabled: Schema.Boolean.annotate({
    description: "A disabled destination keeps its deliveries pending until it is enabled again; the service " +
      "disables one that keeps failing (`status.autoDisabledAt`)"
  }),
  thirdParty: Schema.Boolean.annotate({
    description: thirdPartyDescription
  }),
  version: Schema.Int.annotate({
    readOnly: true,
    description: "Counts the changes of the destination (its delivery status aside, but disabling a failing " +
      "destination counts); the ETag is `\"v<version>\"`"
  }),
  createdAt: ServiceTimestamp,
  updatedAt: ServiceTimestamp
}

export const Destination = Schema.Struct({ ...destinationFields, status: DeliveryStatus }).annotate({
  identifier: "Destination",
  examples: [{
    id: DestinationId.make("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d50"),
    name: "CRM sync",
    url: "https://hooks.example.com/segments",
    segmentId: null,
    enabled: true,
    thirdParty: false,
    version: 1,
    createdAt: "2026-01-31T09:30:00.000Z",
    updatedAt: "2026-01-31T09:30:00.000Z",
    status: {
      pending: 0,
      delivered: 42,
      dead: 1,
      erased: 0,
      lastSuccessAt: "2026-01-31T10:00:00.000Z",
      lastFailureAt: "2026-01-31T09:45:00.000Z",
      lastHttpStatus: 200,
      lastError: null,
      consecutiveFailures: 0,
      failingSince: null,
      autoDisabledAt: null
    }
  }]
})
export type Destination = typeof Destination.Type

/** A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64. */
export const SigningSecret = Schema.String.check(Schema.isPattern(/^whsec_[A-Za-z0-9+/]{43}=$/u)).annotate({
  description: "The signing secret, shown only in this answer: verify each notification's `webhook-signature` " +
    "with it (any Standard Webhooks library does)"
})

export const CreatedDestination = Schema.Struct({ ...Destination.fields, secret: SigningSecret }).annotate({
  identifier: "CreatedDestination"
})
export type CreatedDestination = typeof CreatedDestination.Type

export const RotatedSecret = Schema.Struct({
  secret: SigningSecret,
  previousSecretExpiresAt: Timestamp.annotate({
    description: "Until then notifications carry a signature by the previous secret too"
  })
}).annotate({ identifier: "RotatedSecret" })
export type RotatedSecret = typeof RotatedSecret.Type

export const CreateDestination = Schema.Struct({
  name: DestinationName,
  url: DestinationUrl,
  segmentId: Schema.optionalKey(Schema.NullOr(SegmentId)).annotate({
    description: "One segment's events only; every segment's when absent or null"
  }),
  enabled: Schema.optionalKey(Schema.Boolean).annotate({ description: "true when absent" }),
  thirdParty: Schema.optionalKey(Schema.Boolean).annotate({ description: thirdPartyDescription })
}).annotate({ identifier: "CreateDestination" })
export type CreateDestination = typeof CreateDestination.Type

/** The fields a change may set (RPC's `update`; the version it is based on is `expectedVersion` there). */
export const DestinationChanges = Schema.Struct({
  name: Schema.optionalKey(DestinationName),
  url: Schema.optionalKey(DestinationUrl),
  segmentId: Schema.optionalKey(Schema.NullOr(SegmentId)),
  enabled: Schema.optionalKey(Schema.Boolean),
  thirdParty: Schema.optionalKey(Schema.Boolean.annotate({
    description: "Marking a destination as a third party also withholds, from its deliveries not yet delivered, " +
      "every customer who has not granted third-party-sharing"
  }))
}).annotate({ identifier: "DestinationChanges", description: "Only the fields sent change" })
export type DestinationChanges = typeof DestinationChanges.Type

/** PATCH: only the fields present change, based on `version` when given (as If-Match, as for segments). */
export const UpdateDestination = Schema.Struct({
  ...DestinationChanges.fields,
  version: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
    description: "The version the change is based on, as If-Match names it; a stale one answers 412"
  }))
}).annotate({ identifier: "UpdateDestination", description: "Only the fields sent change" })
export type UpdateDestination = typeof UpdateDestination.Type

export const destinationPageSize = { default: 50, maximum: 100 } as const

export const ListDestinationsQuery = Schema.Struct({
  limit: Schema.optionalKey(PageLimit("Destinations", destinationPageSize.maximum, destinationPageSize.default)),
  cursor: Schema.optionalKey(DestinationId.annotate({ description: "The previous page's `nextCursor`" }))
}).annotate({ identifier: "ListDestinationsQuery" })
export type ListDestinationsQuery = typeof ListDestinationsQuery.Type

/** Oldest first. */
export const DestinationPage = Schema.Struct({
  data: Schema.Array(Destination),
  nextCursor: Schema.NullOr(DestinationId)
}).annotate({ identifier: "DestinationPage" })
export type DestinationPage = typeof DestinationPage.Type

export const DeadLetter = Schema.Struct({
  id: DeliveryId,
  eventId: Schema.String.check(Schema.isUUID()).annotate({ description: "The segment event's `eventId`" }),
  type: Schema.String.annotate({ description: "The event's type: `segment.joined` or `segment.left`" }),
  attempts: Count,
  createdAt: Timestamp.annotate({ description: "When the event reached the destination's queue" }),
  diedAt: Timestamp.annotate({ description: "When the last attempt failed" }),
  lastHttpStatus: Schema.NullOr(Schema.Int),
  lastError: Schema.NullOr(Schema.String)
}).annotate({ identifier: "DeadLetter" })
export type DeadLetter = typeof DeadLetter.Type

export const DeadLettersQuery = Schema.Struct({
  limit: Schema.optionalKey(PageLimit("Dead letters", destinationPageSize.maximum, destinationPageSize.default)),
  cursor: Schema.optionalKey(DeliveryId.annotate({ description: "The previous page's `nextCursor`" }))
}).annotate({ identifier: "DeadLettersQuery" })
export type DeadLettersQuery = typeof DeadLettersQuery.Type

/** Oldest first. */
export const DeadLetterPage = Schema.Struct({
  data: Schema.Array(DeadLetter),
  nextCursor: Schema.NullOr(DeliveryId)
}).annotate({ identifier: "DeadLetterPage" })
export type DeadLetterPage = typeof DeadLetterPage.Type

export const maxReplayIds = 1000

export const ReplayDeadLetters = Schema.Struct({
  ids: Schema.optionalKey(
    Schema.Array(DeliveryId).check(Schema.isMinLength(1), Schema.isMaxLength(maxReplayIds)).annotate({
      description: `Up to ${maxReplayIds} dead letters of this destination; every one when absent`
    })
  )
}).annotate({ identifier: "ReplayDeadLetters" })
export type ReplayDeadLetters = typeof ReplayDeadLetters.Type

export const ReplayResult = Schema.Struct({
  replayed: Count.annotate({
    description: "Dead letters queued again (attempts start over); ids that are not dead letters are skipped"
  })
}).annotate({ identifier: "ReplayResult" })
export type ReplayResult = typeof ReplayResult.Type
