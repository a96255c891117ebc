/**
 * The tracking plan: event types registered with a JSON Schema their
 * properties must match, and what becomes of an event that does not.
 */
import { Schema } from "effect"
import { MetadataKey, Timestamp } from "./Customer.ts"
import { EventType } from "./Event.ts"

export const PlanMode = Schema.Literals(["refuse", "flag"]).annotate({
  identifier: "PlanMode",
  description: "`refuse`: an event whose properties break the schema is rejected, nothing stored. " +
    "`flag`: it is stored, with its violations recorded and returned in its result."
})
export type PlanMode = typeof PlanMode.Type

/** The largest properties schema accepted, as JSON: a plan is documentation-sized, not data. */
export const maxPropertiesSchemaBytes = 32_768

export const PropertiesSchema = Schema.Record(Schema.String, Schema.Json).annotate({
  identifier: "PropertiesSchema",
  description: "A JSON Schema (draft 2020-12) for the event's `properties` object, at most 32 KiB as JSON. " +
    "Unknown keywords are refused (a misspelt `required` would otherwise check nothing); `format` is checked " +
    "for the standard formats.",
  examples: [{
    type: "object",
    required: ["orderId", "items"],
    properties: { orderId: { type: "string" }, items: { type: "integer", minimum: 1 } }
  }]
})

/** How many properties a type may mark personal (a property list, not a data set). */
export const maxPersonalProperties = 100

/**
 * The top-level properties whose values are personal data, beside the JSON Schema rather than inside it (a custom
 * keyword would fail Ajv's strict check of unknown keywords, which catches misspelt ones).
 */
export const PersonalProperties = Schema.Array(MetadataKey).check(
  Schema.isMaxLength(maxPersonalProperties),
  Schema.isUnique({ expected: "property names without duplicates" })
).annotate({
  identifier: "PersonalProperties",
  description: "Top-level property names whose values are personal data (a phone number, an address, a free-text " +
    "note, ...): sealed at rest under the customer's data key, served only to roles that see personal data (not " +
    "analysts), and stripped from the EVENTS stream. Nested values go with their top-level property. Properties " +
    `not listed, and every property of an unregistered type, are not personal. At most ${maxPersonalProperties}.`,
  examples: [["phone", "shippingAddress"]]
})

/** What a client sends to register or change an event type. */
export const RegisterEventType = Schema.Struct({
  description: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(500))),
  propertiesSchema: PropertiesSchema,
  mode: PlanMode,
  personalProperties: Schema.optionalKey(PersonalProperties)
}).annotate({ identifier: "RegisterEventType" })
export type RegisterEventType = typeof RegisterEventType.Type

export const RegisteredEventType = Schema.Struct({
  type: EventType,
  description: Schema.optionalKey(Schema.String),
  propertiesSchema: PropertiesSchema,
  mode: PlanMode,
  personalProperties: PersonalProperties,
  version: Schema.Int.annotate({ description: "Counts the changes of this type's registration" }),
  createdAt: Timestamp,
  updatedAt: Timestamp
}).annotate({ identifier: "RegisteredEventType" })
export type RegisteredEventType = typeof RegisteredEventType.Type

export const TrackingPlanTypes = Schema.Struct({
  unregisteredTypes: Schema.Literals(["allow", "refuse"]).annotate({
    description: "What the service does with an event of a type not in the plan (TRACKING_PLAN_UNREGISTERED)"
  }),
  types: Schema.Array(RegisteredEventType)
}).annotate({ identifier: "TrackingPlan" })
export type TrackingPlanTypes = typeof TrackingPlanTypes.Type
