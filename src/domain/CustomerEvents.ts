/**
 * The events the service publishes to the JetStream stream CUSTOMERS, one
 * subject per customer and kind (`customers.<id>.created`, ...). The outbox
 * encodes every event with these schemas; consumers decode with them
 * (src/client exports them) and the AsyncAPI document is generated from them.
 */
import { Schema, Struct } from "effect"
import { Actor } from "./Access.ts"
import { ConsentChange } from "./Consent.ts"
import { Customer, CustomerId, customerModel, Timestamp } from "./Customer.ts"

export const streamName = "CUSTOMERS"

const EventId = Schema.String.check(Schema.isUUID()).annotate({
  description: "The event's own id (a UUIDv7), also its Nats-Msg-Id: a republished event is deduplicated"
})

/**
 * The customer as events carry it: without the personal fields (customerModel.personal). Events leave the
 * service to every subscriber of the stream whatever its role, so they carry what no role is denied; a
 * consumer that needs the person's contact reads it through the API with its own role.
 */
export const EventCustomer = Customer.mapFields(Struct.omit(customerModel.personal)).annotate({
  identifier: "EventCustomer",
  description: "The customer after the change, without its personal fields (" +
    `${customerModel.personal.join(", ")}): read those through the API`
})
export type EventCustomer = typeof EventCustomer.Type

/** The customer as an event carries it. */
export const eventCustomerOf = (customer: Customer): EventCustomer => Struct.omit(customer, customerModel.personal)

/** What a change event says about who made it and what the customer became. */
const change = {
  eventId: EventId,
  customerId: CustomerId,
  version: Schema.Int.annotate({ description: "The customer's version after the change" }),
  occurredAt: Timestamp,
  actor: Actor,
  requestId: Schema.NullOr(Schema.String).annotate({ description: "The X-Request-Id of the change" }),
  // Absent when the customer was erased before the event left the outbox.
  customer: Schema.optionalKey(EventCustomer)
}

export const CustomerCreatedEvent = Schema.Struct({ type: Schema.Literal("customer.created"), ...change }).annotate({
  identifier: "CustomerCreatedEvent",
  description: "A customer was created"
})

export const CustomerUpdatedEvent = Schema.Struct({
  type: Schema.Literal("customer.updated"),
  ...change,
  changes: Schema.Array(Schema.String).annotate({ description: "The names of the fields that changed" })
}).annotate({ identifier: "CustomerUpdatedEvent", description: "A customer's fields changed" })

export const CustomerDeletedEvent = Schema.Struct({ type: Schema.Literal("customer.deleted"), ...change }).annotate({
  identifier: "CustomerDeletedEvent",
  description: "A customer was erased: `customer` is the erased profile, and earlier events lost the person's data"
})

export const EmailVerifiedEvent = Schema.Struct({ type: Schema.Literal("customer.email-verified"), ...change })
  .annotate({ identifier: "EmailVerifiedEvent", description: "A pending email change was confirmed" })

export const EmailVerificationRequestedEvent = Schema.Struct({
  type: Schema.Literal("customer.email-verification-requested"),
  eventId: EventId,
  customerId: CustomerId,
  // No address: the mailer reads `pendingEmail` through the API (service role), so no stream copy holds it.
  // Absent when the customer was erased before the event left the outbox.
  token: Schema.optionalKey(Schema.String.annotate({ description: "The single-use verification token" })),
  expiresAt: Timestamp
}).annotate({
  identifier: "EmailVerificationRequestedEvent",
  description: "An email change waits for verification: mail the token to the customer's `pendingEmail` (read " +
    "through the API)"
})

export const ConsentChangedEvent = Schema.Struct({
  type: Schema.Literal("customer.consent-changed"),
  ...change,
  changes: Schema.Array(ConsentChange).annotate({
    description: "The choices recorded, one per purpose; the customer's `consent` is the view of two of them"
  })
}).annotate({
  identifier: "ConsentChangedEvent",
  description: "Consent was recorded (granted or withdrawn) for one or more purposes: act on withdrawals at once"
})

export const CustomerAnonymizedEvent = Schema.Struct({
  type: Schema.Literal("customer.anonymized"),
  ...change,
  changes: Schema.Array(Schema.String).annotate({ description: "The names of the fields anonymised" })
}).annotate({
  identifier: "CustomerAnonymizedEvent",
  description: "A customer's identifying fields were removed for good; their behaviour and analytics stay: " +
    "drop what you hold that identifies them"
})

export const CustomerErasedEvent = Schema.Struct({
  type: Schema.Literal("customer.erased"),
  eventId: EventId,
  customerId: CustomerId,
  erasureId: Schema.String.annotate({ description: "The erasure request (GET /api/v1/customers/<id>/erasure)" }),
  requestedAt: Timestamp,
  occurredAt: Timestamp
}).annotate({
  identifier: "CustomerErasedEvent",
  description: "A customer's erasure is complete: the service holds nothing of the person and purged their " +
    "messages from this stream; erase what you hold about this id"
})

export const CustomerEvent = Schema.Union([
  CustomerCreatedEvent,
  CustomerUpdatedEvent,
  CustomerDeletedEvent,
  EmailVerificationRequestedEvent,
  EmailVerifiedEvent,
  ConsentChangedEvent,
  CustomerAnonymizedEvent,
  CustomerErasedEvent
]).annotate({ identifier: "CustomerEvent" })
export type CustomerEvent = typeof CustomerEvent.Type

/** Each event's schema with its subject's last segment (`customer.created` is published on `customers.<id>.created`). */
export const customerEvents = CustomerEvent.members.map((schema) => {
  const type = schema.fields.type.literal
  return { schema, type, name: type.slice("customer.".length) }
})

export const subjectOf = (event: CustomerEvent) => `customers.${event.customerId}.${event.type.slice("customer.".length)}`

/**
 * Event fields that carry the person's data, removed from events still waiting to be published when the
 * customer is erased: by construction the optional fields of the events, so an erased event still decodes.
 */
export const personalEventFields: ReadonlyArray<string> = [
  ...new Set(
    CustomerEvent.members.flatMap((schema) =>
      Object.entries(schema.fields).flatMap(([field, value]) => value.ast.context?.isOptional === true ? [field] : [])
    )
  )
]
