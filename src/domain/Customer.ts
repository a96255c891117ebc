/**
 * The customer aggregate: its schemas (the single source for HTTP, RPC,
 * OpenAPI, validation and test data) and its pure rules.
 */
import { Schema, Struct } from "effect"
import { CountryCode, CurrencyCode, LanguageTag, TimeZone } from "./Reference.ts"

export const CustomerId = Schema.String.check(Schema.isUUID()).pipe(Schema.brand("CustomerId"))
export type CustomerId = typeof CustomerId.Type

/** A UTC instant as ISO 8601 text, as stored and served. */
export const Timestamp = Schema.String.annotate({ format: "date-time", identifier: "Timestamp" })

/** A timestamp the service keeps (created, updated, last activity): OpenAPI `readOnly`. */
const ServiceTimestamp = Timestamp.annotate({ identifier: "ServiceTimestamp", readOnly: true })

// Deliberately practical (not RFC 5322 complete): what mail providers accept. Patterns carry the `u`
// flag throughout: JSON Schema patterns are Unicode regular expressions, so only those are published.
const emailPattern = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/u

// No `format: email`: validators read it as RFC 5321, which is not this pattern; the pattern is the contract.
export const Email = Schema.String.check(
  Schema.isMaxLength(254),
  Schema.isPattern(emailPattern, { expected: "an email address such as 'ada@example.com'" })
).annotate({ identifier: "Email", description: "An email address; unique among customers regardless of letter case" })

/**
 * PostgreSQL cannot store a NUL character (text or jsonb) nor an unpaired
 * surrogate (jsonb), so free text that would reach it is refused up front.
 */
const storable = (text: string) => !text.includes("\u0000") && text.isWellFormed()
const storableJson = (value: unknown): boolean =>
  typeof value === "string"
    ? storable(value)
    : Array.isArray(value)
    ? value.every(storableJson)
    : typeof value === "object" && value !== null
    ? Object.entries(value).every(([key, item]) => storable(key) && storableJson(item))
    : true
export const isStorableText = Schema.makeFilter(
  (text: string) => storable(text) || "text without NUL characters or unpaired surrogates",
  // The same rule as a Unicode pattern: an unpaired surrogate is a code point of its own there.
  { toJsonSchema: () => ({ pattern: "^[^\\u0000\\uD800-\\uDFFF]*$" }) }
)

export const CustomerName = Schema.String.check(
  isStorableText,
  Schema.isTrimmed({ expected: "a name without leading or trailing spaces" }),
  Schema.isNonEmpty(),
  // Lengths of text count characters (code points), as JSON Schema and PostgreSQL do.
  Schema.isMaxCodePoints(255)
).annotate({ identifier: "CustomerName" })

export const Age = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 150 })).annotate({
  identifier: "Age",
  description: "Age in years, 0 to 150"
})

export const Gender = Schema.Literals(["MALE", "FEMALE", "OTHER", "UNKNOWN"]).annotate({ identifier: "Gender" })
export type Gender = typeof Gender.Type

export const CustomerStatus = Schema.Literals(["ACTIVE", "INACTIVE", "SUSPENDED", "DELETED"]).annotate({
  identifier: "CustomerStatus"
})
export type CustomerStatus = typeof CustomerStatus.Type

const ShortText = Schema.String.check(isStorableText, Schema.isMaxCodePoints(120))

export const Location = Schema.Struct({
  country: CountryCode,
  region: Schema.optionalKey(ShortText),
  city: Schema.optionalKey(ShortText),
  postalCode: Schema.optionalKey(Schema.String.check(isStorableText, Schema.isMaxCodePoints(20))),
  timezone: Schema.optionalKey(TimeZone)
}).annotate({ identifier: "Location" })
export type Location = typeof Location.Type

export const NotificationSettings = Schema.Struct({
  email: Schema.Boolean,
  sms: Schema.Boolean,
  push: Schema.Boolean
}).annotate({ identifier: "NotificationSettings" })

export const PrivacySettings = Schema.Struct({
  profileVisible: Schema.Boolean,
  shareDataWithPartners: Schema.Boolean,
  personalisedRecommendations: Schema.Boolean
}).annotate({ identifier: "PrivacySettings" })

export const Preferences = Schema.Struct({
  language: Schema.optionalKey(LanguageTag),
  currency: Schema.optionalKey(CurrencyCode),
  timezone: Schema.optionalKey(TimeZone),
  notifications: Schema.optionalKey(NotificationSettings),
  privacy: Schema.optionalKey(PrivacySettings)
}).annotate({ identifier: "Preferences" })
export type Preferences = typeof Preferences.Type

export const Tag = Schema.String.check(
  Schema.isPattern(/^[a-z0-9][a-z0-9_:-]{0,63}$/u, {
    expected: "a lower-case tag of 1-64 characters: letters, digits, '_', ':' or '-'"
  })
).annotate({ identifier: "Tag" })

export const Tags = Schema.Array(Tag).check(
  Schema.isMaxLength(50),
  Schema.isUnique({ expected: "tags without duplicates" })
)

/** A metadata key, and so also a top-level event property's name. */
export const MetadataKey = Schema.String.check(
  Schema.isPattern(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/u, { expected: "a key of 1-64 letters, digits, '_', '.' or '-'" })
)

/** How deep metadata values may nest: `{"device": {"os": {"name": "iOS"}}}` is 2 levels below the key. */
export const maxMetadataDepth = 8

/** Objects and arrays nested in a JSON value: 0 for a scalar, 1 for `[1, 2]`. */
const nestingDepth = (value: unknown): number => {
  if (typeof value !== "object" || value === null) return 0
  let deepest = 0
  for (const item of Object.values(value)) deepest = Math.max(deepest, nestingDepth(item))
  return deepest + 1
}

/**
 * A metadata value as JSON Schema states it: storable text, a number, a
 * boolean, null, or a list or object of such values, nested at most
 * `maxMetadataDepth` levels (the OpenAPI document's view of the checks below).
 */
const StorableText = Schema.String.check(isStorableText)
const MetadataScalar = Schema.Union([StorableText, Schema.Finite, Schema.Boolean, Schema.Null]).annotate({
  identifier: "MetadataScalar"
})
const MetadataValue = Array.from({ length: maxMetadataDepth }).reduce<Schema.Top>(
  (inner, _, level) =>
    Schema.Union([
      MetadataScalar,
      Schema.Array(inner),
      Schema.Record(Schema.String, inner).check(Schema.isPropertyNames(StorableText))
    ]).annotate({
      identifier: `MetadataValueDepth${level + 1}`,
      description: `A metadata value nested at most ${level + 1} levels deep`
    }),
  MetadataScalar
)

/** Free-form data about a customer (purchases, devices, ...); bounded so one profile cannot grow without limit. */
export const Metadata = Schema.Record(Schema.String, Schema.Json).annotate({
  // On the record itself: the last check (a size limit JSON Schema cannot state) would not carry it.
  description: `Free-form data: at most 100 keys, values nested at most ${maxMetadataDepth} levels deep, ` +
    "at most 16 KiB as JSON"
}).check(
  Schema.makeFilter(
    (value: { readonly [key: string]: Schema.Json }) =>
      Object.values(value).every((item) => nestingDepth(item) <= maxMetadataDepth) ||
      `metadata values nested at most ${maxMetadataDepth} levels deep`,
    {
      representation: { id: "cms/metadataValues", payload: { maxMetadataDepth }, schemas: [MetadataValue.ast] },
      // Depth, value types and storable text, as the checks of this schema enforce them together.
      toJsonSchema: ({ schemas: [value] }) => ({ additionalProperties: value })
    }
  ).abort(),
  Schema.isPropertyNames(MetadataKey),
  Schema.isMaxProperties(100),
  Schema.makeFilter((value) => JSON.stringify(value).length <= 16_384 || "metadata of at most 16 KiB as JSON"),
  Schema.makeFilter((value) => storableJson(value) || "metadata without NUL characters or unpaired surrogates")
).annotate({ identifier: "Metadata" })
export type Metadata = typeof Metadata.Type

/** Consent as recorded on the profile. Data processing is the lawful basis for holding the profile at all. */
export const Consent = Schema.Struct({
  marketing: Schema.Boolean,
  dataProcessing: Schema.Boolean
}).annotate({ identifier: "Consent" })
export type Consent = typeof Consent.Type

/**
 * What the service sets and no update changes, marked OpenAPI `readOnly`
 * (each schema annotated once, so the document has one component for each).
 */
const serviceSet = {
  id: CustomerId.annotate({ readOnly: true }),
  emailVerified: Schema.Boolean.annotate({ readOnly: true }),
  pendingEmail: Schema.NullOr(Email).annotate({
    readOnly: true,
    description: "A new address waiting for verification; it replaces `email` once verified"
  }),
  consent: Consent.annotate({
    identifier: "RecordedConsent",
    readOnly: true,
    description: "The current consent to marketing and data processing (their latest entries); changed by PUT " +
      "/api/v1/customers/{id}/consent, not by updates"
  }),
  createdAt: ServiceTimestamp,
  updatedAt: ServiceTimestamp,
  lastActivity: ServiceTimestamp
}

export const Customer = Schema.Struct({
  id: serviceSet.id,
  email: Email,
  emailVerified: serviceSet.emailVerified,
  pendingEmail: serviceSet.pendingEmail,
  name: CustomerName,
  age: Schema.NullOr(Age),
  gender: Schema.NullOr(Gender),
  location: Schema.NullOr(Location),
  preferences: Preferences,
  tags: Tags,
  metadata: Metadata,
  consent: serviceSet.consent,
  status: CustomerStatus,
  version: Schema.Int.annotate({ readOnly: true, description: "Counts the changes; the ETag is `\"v<version>\"`" }),
  createdAt: serviceSet.createdAt,
  updatedAt: serviceSet.updatedAt,
  lastActivity: serviceSet.lastActivity
}).annotate({
  identifier: "Customer",
  examples: [{
    id: CustomerId.make("0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35"),
    email: "ada@example.com",
    emailVerified: true,
    pendingEmail: null,
    name: "Ada Lovelace",
    age: 36,
    gender: "FEMALE",
    location: { country: "GB", city: "London", timezone: "Europe/London" },
    preferences: { language: "en-GB", currency: "GBP" },
    tags: ["vip"],
    metadata: { source: "signup-form" },
    consent: { marketing: false, dataProcessing: true },
    status: "ACTIVE",
    version: 1,
    createdAt: "2026-01-31T09:30:00.000Z",
    updatedAt: "2026-01-31T09:30:00.000Z",
    lastActivity: "2026-01-31T09:30:00.000Z"
  }]
})
export type Customer = typeof Customer.Type

/**
 * What the schema cannot say about a customer, stated once beside it; the
 * state, the create defaults, the replacement's clearing, the row mapping and
 * erasure are derived from `Customer` and this (see CustomerState.ts).
 */
export const customerModel = {
  /** Written by the store (id at insert, version and timestamps on every write), never by a command. */
  storeOwned: ["id", "version", "createdAt", "updatedAt", "lastActivity"],
  /** A new customer's value when the input omits it and the field has no empty value (null, [], {}, false). */
  createdAs: { status: "ACTIVE" },
  /**
   * What erasure writes where the empty value is not allowed (the email stays unique and NOT NULL).
   * Every other state field is emptied, so a new field is erased unless it is listed in `keptOnErasure`.
   */
  erasedAs: {
    email: (id: string) => `deleted-${id}@erased.invalid`,
    name: () => "Deleted customer",
    status: () => "DELETED"
  },
  /** The consent once given is the record of a lawful basis, not data about the person. */
  keptOnErasure: ["consent"],
  /**
   * Fields that identify or locate the person (personal data in the narrow sense): a role's field access
   * (Access.ts) hides or masks them, and they are sealed at rest. Behaviour, preferences and tags are about
   * the person too, but name no one on their own.
   */
  personal: ["email", "pendingEmail", "name", "location"]
} as const satisfies {
  readonly storeOwned: ReadonlyArray<keyof Customer>
  readonly createdAs: { readonly [K in keyof Customer]?: Customer[K] }
  readonly erasedAs: { readonly [K in keyof Customer]?: (id: string) => Customer[K] }
  readonly keptOnErasure: ReadonlyArray<keyof Customer>
  readonly personal: ReadonlyArray<keyof Customer>
}

/** Statuses a client may set directly; DELETED is reached only through deletion. */
export const SettableStatus = Schema.Literals(["ACTIVE", "INACTIVE", "SUSPENDED"])
export type SettableStatus = typeof SettableStatus.Type

export const CreateCustomer = Schema.Struct({
  email: Email,
  name: CustomerName,
  age: Schema.optionalKey(Age),
  gender: Schema.optionalKey(Gender),
  location: Schema.optionalKey(Location),
  preferences: Schema.optionalKey(Preferences),
  tags: Schema.optionalKey(Tags),
  metadata: Schema.optionalKey(Metadata),
  consent: Consent,
  status: Schema.optionalKey(Schema.Literals(["ACTIVE", "INACTIVE"]))
}).annotate({
  identifier: "CreateCustomer",
  examples: [{
    email: "ada@example.com",
    name: "Ada Lovelace",
    age: 36,
    location: { country: "GB", city: "London", timezone: "Europe/London" },
    preferences: { language: "en-GB", currency: "GBP" },
    tags: ["vip", "newsletter:weekly"],
    metadata: { source: "signup-form" },
    consent: { marketing: false, dataProcessing: true }
  }]
})
export type CreateCustomer = typeof CreateCustomer.Type

/** The fields an update may change besides email and name; null clears one. */
const updatableFields = {
  age: Schema.optionalKey(Schema.NullOr(Age)),
  gender: Schema.optionalKey(Schema.NullOr(Gender)),
  location: Schema.optionalKey(Schema.NullOr(Location)),
  preferences: Schema.optionalKey(Preferences),
  tags: Schema.optionalKey(Tags),
  metadata: Schema.optionalKey(Metadata),
  status: Schema.optionalKey(SettableStatus),
  version: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))
}

/**
 * What GET returns that no update sets. Generated clients PUT back the object
 * they read, so these may come along: equal to the stored values they are
 * ignored, different they are refused (mass assignment stays impossible).
 */
export const ReadOnlyEcho = Schema.Struct(Struct.map(serviceSet, Schema.optionalKey))
export type ReadOnlyEcho = typeof ReadOnlyEcho.Type

/** PUT: the whole mutable representation (an omitted optional field is cleared), read-only fields allowed unchanged. */
export const ReplaceCustomer = Schema.Struct({
  email: Email,
  name: CustomerName,
  ...updatableFields,
  ...ReadOnlyEcho.fields
}).annotate({
  identifier: "ReplaceCustomer",
  examples: [{
    email: "ada@example.com",
    name: "Ada King",
    age: 37,
    tags: ["vip"],
    status: "ACTIVE",
    version: 1
  }]
})
export type ReplaceCustomer = typeof ReplaceCustomer.Type

/** The read-only fields a replacement carries. */
export const echoOf = (replacement: ReplaceCustomer): ReadOnlyEcho =>
  Struct.pick(replacement, Struct.keys(ReadOnlyEcho.fields).filter((key) => key in replacement))

/** PATCH: only the fields present change. */
export const PatchCustomer = Schema.Struct({
  email: Schema.optionalKey(Email),
  name: Schema.optionalKey(CustomerName),
  ...updatableFields
}).annotate({
  identifier: "PatchCustomer",
  examples: [{ name: "Ada King", location: null, tags: ["vip", "churn-risk"] }]
})
export type PatchCustomer = typeof PatchCustomer.Type

/** The single-use token of an email change, as mailed to the new address. */
export const VerificationToken = Schema.String.check(Schema.isMinCodePoints(16), Schema.isMaxCodePoints(128)).annotate({
  description: "The token from the customers.<id>.email-verification-requested event"
})

export const VerifyEmail = Schema.Struct({ token: VerificationToken }).annotate({
  identifier: "VerifyEmail",
  examples: [{ token: "q3HlVdJ0yqD1m2Xk5f7a9Z2bC4eG6iK8" }]
})

/**
 * A client's name for one create, so a retry is answered with the first
 * result instead of a second customer: visible ASCII and inner spaces, as an
 * HTTP header can carry it, the same over RPC.
 */
export const IdempotencyKey = Schema.String.check(
  Schema.isMinLength(1),
  Schema.isMaxLength(255),
  // Empty is the length check's to report.
  Schema.isPattern(/^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/u, {
    expected: "1-255 visible ASCII characters (inner spaces allowed)"
  })
).annotate({
  identifier: "IdempotencyKey",
  description: "Makes a retry safe: the first answer is replayed to the same caller for a day; the same key " +
    "with another body is refused with 422",
  examples: ["signup-42"]
})

export const sameEmail = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
