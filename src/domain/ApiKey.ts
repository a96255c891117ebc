/**
 * API keys for service integrations: issued by an admin for a limited time
 * (the key itself is shown only then, and stored hashed), listed, revoked.
 */
import { Schema } from "effect"
import { HttpApiError } from "effect/http-api"
import { Actor, Role } from "./Access.ts"
import { isStorableText, Timestamp } from "./Customer.ts"
import { Forbidden } from "./Errors.ts"

export const ApiKeyId = Schema.String.check(Schema.isUUID()).annotate({ identifier: "ApiKeyId" })

/** How long a key lives, in days, when the issuer does not say, and at most. */
export const apiKeyLifetimeDays = { default: 90, maximum: 365 } as const

const ApiKeyName = Schema.String.check(isStorableText, Schema.isNonEmpty(), Schema.isMaxCodePoints(100))

export const IssueApiKey = Schema.Struct({
  name: ApiKeyName,
  role: Role,
  expiresInDays: Schema.optionalKey(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: apiKeyLifetimeDays.maximum })).annotate({
      description: `Days until the key stops working; ${apiKeyLifetimeDays.default} when omitted`
    })
  )
}).annotate({ identifier: "IssueApiKey", description: "A key's role is never more than its issuer's" })
export type IssueApiKey = typeof IssueApiKey.Type

/** A key as listed: everything about it except the secret (and its hash). */
export const ApiKey = Schema.Struct({
  id: ApiKeyId,
  name: ApiKeyName,
  prefix: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9]{12}$/u)).annotate({
    description: "The public part of the key (`cms_<prefix>_...`), to recognise it"
  }),
  role: Role,
  issuedBy: Schema.NullOr(Actor).annotate({
    description: "Who issued the key; null only for keys issued before issuers were recorded"
  }),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  lastUsedAt: Schema.NullOr(Timestamp).annotate({
    description: "When the key last authenticated a request, to within 30 seconds"
  }),
  revokedAt: Schema.NullOr(Timestamp)
}).annotate({ identifier: "ApiKey" })
export type ApiKey = typeof ApiKey.Type

export const IssuedApiKey = Schema.Struct({
  ...ApiKey.fields,
  key: Schema.String.check(Schema.isPattern(/^cms_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/u)).annotate({
    description: "Shown once; only its hash is stored"
  })
}).annotate({ identifier: "IssuedApiKey" })
export type IssuedApiKey = typeof IssuedApiKey.Type

export const apiKeyPageSize = { default: 50, maximum: 100 } as const

export const ListApiKeysQuery = Schema.Struct({
  limit: Schema.optionalKey(
    Schema.NumberFromString.pipe(
      Schema.decodeTo(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: apiKeyPageSize.maximum })))
    ).annotate({ description: `Keys per page, 1 to ${apiKeyPageSize.maximum}; ${apiKeyPageSize.default} when omitted` })
  ),
  /** The previous page's nextCursor. */
  cursor: Schema.optionalKey(ApiKeyId)
}).annotate({ identifier: "ListApiKeysQuery" })
export type ListApiKeysQuery = typeof ListApiKeysQuery.Type

/** Newest first. */
export const ApiKeyPage = Schema.Struct({
  data: Schema.Array(ApiKey),
  nextCursor: Schema.NullOr(ApiKeyId)
}).annotate({ identifier: "ApiKeyPage" })
export type ApiKeyPage = typeof ApiKeyPage.Type

export class ApiKeyNotFound extends HttpApiError.Problem<ApiKeyNotFound>()("ApiKeyNotFound", {
  type: "/problems/api-key-not-found",
  status: 404,
  title: "API key not found"
}) {}

export const IssueApiKeyErrors = [Forbidden] as const
export const ListApiKeysErrors = [Forbidden] as const
export const RevokeApiKeyErrors = [ApiKeyNotFound, Forbidden] as const
