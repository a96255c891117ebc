/**
 * Turns credentials into an Actor: JWTs (HS256, RS256 or ES256 through an
 * algorithm allow-list, issuer, audience and expiry checked) and API keys
 * (stored as SHA-256 hashes, looked up by their public prefix, each with an
 * issuer and an expiry). Issues, lists and revokes the keys, audited.
 */
import { PgClient } from "@effect/sql-pg"
import { Cache, Clock, Config, Context, Duration, Effect, Exit, Layer, Option, Redacted, Schema } from "effect"
import * as Jose from "jose"
import { createPublicKey, randomBytes, timingSafeEqual } from "node:crypto"
import { type Actor, requirePermission, requireRoleWithin, Role } from "../domain/Access.ts"
import {
  type ApiKey,
  ApiKeyNotFound,
  type ApiKeyPage,
  apiKeyLifetimeDays,
  apiKeyPageSize,
  type IssueApiKey,
  type IssuedApiKey,
  type IssueApiKeyErrors,
  type ListApiKeysErrors,
  type ListApiKeysQuery,
  type RevokeApiKeyErrors
} from "../domain/ApiKey.ts"
import { isStorableText } from "../domain/Customer.ts"
import { type ErrorOf, Unauthenticated } from "../domain/Errors.ts"
import { AuditLog } from "../privacy/AuditLog.ts"
import { sha256, uuidv7 } from "./Ids.ts"

/** Accepted only outside production, so `npm start` and `npm run token` work with no setup. */
export const developmentSecret = "development-only-secret-do-not-use-in-production"

/** HS256 wants a key at least as long as its hash (RFC 7518, 3.2). */
export const minimumSecretBytes = 32

export const AuthConfig = Config.all({
  secret: Config.Redacted("JWT_SECRET").pipe(Config.option),
  publicKey: Config.String("JWT_PUBLIC_KEY").pipe(Config.option),
  algorithms: Config.String("JWT_ALGORITHMS").pipe(
    Config.map((list) => list.split(",").map((name) => name.trim())),
    Config.option
  ),
  issuer: Config.String("JWT_ISSUER").pipe(Config.withDefault("customer-service")),
  audience: Config.String("JWT_AUDIENCE").pipe(Config.withDefault("customer-service-api")),
  production: Config.String("NODE_ENV").pipe(Config.map((env) => env === "production"), Config.withDefault(false))
})

/** Why a production start must be refused, if it must: no key at all, or a secret anyone could know or guess. */
const productionRefusal = (config: Config.Success<typeof AuthConfig>): string | undefined => {
  if (!config.production) return undefined
  if (Option.isNone(config.secret)) {
    return Option.isNone(config.publicKey) ? "JWT_SECRET or JWT_PUBLIC_KEY must be set when NODE_ENV=production" : undefined
  }
  const secret = Redacted.value(config.secret.value)
  if (secret === developmentSecret) {
    return "JWT_SECRET is the published development secret: set a random secret when NODE_ENV=production"
  }
  if (new TextEncoder().encode(secret).length < minimumSecretBytes) {
    return `JWT_SECRET must be at least ${minimumSecretBytes} bytes when NODE_ENV=production`
  }
  return undefined
}

const Claims = Schema.Struct({
  // A subject lands in audit rows and idempotency keys: text PostgreSQL cannot store is no identity.
  sub: Schema.String.check(isStorableText, Schema.isNonEmpty(), Schema.isMaxLength(200)),
  role: Schema.optionalKey(Role),
  roles: Schema.optionalKey(Schema.Array(Schema.String))
})
const decodeClaims = Schema.decodeUnknownOption(Claims)

const roleOf = (claims: typeof Claims.Type): Role | undefined =>
  claims.role ?? Role.literals.find((role) => claims.roles?.includes(role))

const apiKeyPattern = /^cms_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{32,64})$/

/** How long a verified API key is trusted without a look at its row: the delay of a revocation on other instances. */
const apiKeyCacheTime = Duration.seconds(30)

const unauthenticated = new Unauthenticated({})

/** A verdict on a credential, and how long it may be cached: never past the credential's expiry. */
interface Verified {
  readonly actor: Actor
  readonly validFor: Duration.Duration
}

interface ApiKeyRow {
  readonly id: string
  readonly name: string
  readonly prefix: string
  readonly role: Role
  readonly issuer_kind: Actor["kind"] | null
  readonly issuer_subject: string | null
  readonly issuer_role: Role | null
  readonly created_at: Date
  readonly expires_at: Date
  readonly last_used_at: Date | null
  readonly revoked_at: Date | null
}

const toApiKey = (row: ApiKeyRow): ApiKey => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  role: row.role,
  issuedBy: row.issuer_kind === null || row.issuer_subject === null || row.issuer_role === null
    ? null
    : { kind: row.issuer_kind, subject: row.issuer_subject, role: row.issuer_role },
  createdAt: row.created_at.toISOString(),
  expiresAt: row.expires_at.toISOString(),
  lastUsedAt: row.last_used_at?.toISOString() ?? null,
  revokedAt: row.revoked_at?.toISOString() ?? null
})

/** Who asks for a change to the keys, for the permission check and the audit row. */
export interface ApiKeyCommand {
  readonly actor: Actor
  readonly requestId: string | null
}

export class Authenticator extends Context.Service<Authenticator, {
  bearer(token: string): Effect.Effect<Actor, Unauthenticated>
  apiKey(key: string): Effect.Effect<Actor, Unauthenticated>
  /** Signs a token this service accepts (HS256 only): for `npm run token` and tests. */
  issueToken(subject: string, role: Role, ttlSeconds?: number): Effect.Effect<string>
  issueApiKey(command: ApiKeyCommand & { readonly request: IssueApiKey }): Effect.Effect<
    IssuedApiKey,
    ErrorOf<typeof IssueApiKeyErrors>
  >
  listApiKeys(actor: Actor, query: ListApiKeysQuery): Effect.Effect<ApiKeyPage, ErrorOf<typeof ListApiKeysErrors>>
  revokeApiKey(command: ApiKeyCommand & { readonly id: string }): Effect.Effect<
    void,
    ErrorOf<typeof RevokeApiKeyErrors>
  >
}>()("cms/platform/Authenticator") {
  static readonly layer = Layer.effect(
    Authenticator,
    Effect.gen(function*() {
      const config = yield* AuthConfig
      const sql = yield* PgClient.PgClient
      const audit = yield* AuditLog

      const refusal = productionRefusal(config)
      if (refusal !== undefined) return yield* Effect.die(new Error(refusal))
      if (Option.isNone(config.secret) && Option.isNone(config.publicKey)) {
        yield* Effect.logWarning("auth: JWT_SECRET not set, using the development secret (never in production)")
      }
      const secret = new TextEncoder().encode(
        Option.match(config.secret, { onNone: () => developmentSecret, onSome: Redacted.value })
      )
      const publicKey = yield* Option.match(config.publicKey, {
        onNone: () => Effect.succeed(undefined),
        onSome: (pem) =>
          Effect.try({
            try: () => createPublicKey(pem),
            catch: () => new Error("JWT_PUBLIC_KEY is not a PEM public key")
          }).pipe(Effect.orDie)
      })
      // Without JWT_ALGORITHMS, a key accepts only the algorithm its type signs with.
      const algorithms = Option.getOrElse(
        config.algorithms,
        () => publicKey === undefined ? ["HS256"] : publicKey.asymmetricKeyType === "ec" ? ["ES256"] : ["RS256"]
      )
      const verificationKey = publicKey ?? secret
      const verifyOptions: Jose.JWTVerifyOptions = {
        issuer: config.issuer,
        audience: config.audience,
        algorithms,
        clockTolerance: 30,
        requiredClaims: ["sub", "exp"]
      }

      const verify = Effect.fnUntraced(function*(token: string) {
        const now = yield* Clock.currentTimeMillis
        const { payload } = yield* Effect.tryPromise({
          try: () => Jose.jwtVerify(token, verificationKey, { ...verifyOptions, currentDate: new Date(now) }),
          catch: () => unauthenticated
        })
        const claims = yield* Option.match(decodeClaims(payload), {
          onNone: () => Effect.fail(unauthenticated),
          onSome: Effect.succeed
        })
        const role = roleOf(claims)
        if (role === undefined) return yield* Effect.fail(unauthenticated)
        return {
          actor: { subject: claims.sub, role, kind: "user" },
          validFor: Duration.millis(Math.max(0, payload.exp! * 1000 - now))
        } satisfies Verified
      })

      const cachedFor = (failure: Duration.Duration) => (exit: Exit.Exit<Verified, unknown>) =>
        Exit.isSuccess(exit) ? exit.value.validFor : failure

      // Verifying a signature per request is the costliest part of auth; a token is immutable, so cache it until it expires.
      const tokens = yield* Cache.makeWith(verify, { capacity: 10_000, timeToLive: cachedFor(Duration.zero) })

      const bearer = (token: string) =>
        token.length === 0 || token.length > 8192
          ? Effect.fail(unauthenticated)
          : Effect.map(Cache.get(tokens, token), ({ actor }) => actor)

      const lookupApiKey = Effect.fnUntraced(function*(key: string) {
        const match = apiKeyPattern.exec(key)
        if (match === null) return yield* Effect.fail(unauthenticated)
        const [row] = yield* sql<{
          readonly id: string
          readonly key_hash: string
          readonly role: Role
          readonly expires_at: Date
        }>`SELECT id, key_hash, role, expires_at FROM api_keys WHERE prefix = ${match[1]} AND revoked_at IS NULL`.pipe(
          Effect.orDie
        )
        if (row === undefined) return yield* Effect.fail(unauthenticated)
        const presented = Buffer.from(sha256(key))
        const stored = Buffer.from(row.key_hash)
        if (presented.length !== stored.length || !timingSafeEqual(presented, stored)) {
          return yield* Effect.fail(unauthenticated)
        }
        const now = yield* Clock.currentTimeMillis
        const remaining = row.expires_at.getTime() - now
        if (remaining <= 0) return yield* Effect.fail(unauthenticated)
        // Once per cache refresh, not per request: lastUsedAt is exact to within the cache time.
        yield* sql`UPDATE api_keys SET last_used_at = ${new Date(now)} WHERE id = ${row.id}`.pipe(Effect.orDie)
        return {
          actor: { subject: row.id, role: row.role, kind: "api-key" },
          validFor: Duration.min(Duration.millis(remaining), apiKeyCacheTime)
        } satisfies Verified
      })

      // A revoked key stops working within apiKeyCacheTime on every instance (at once on the one revoking it).
      const apiKeys = yield* Cache.makeWith(lookupApiKey, { capacity: 10_000, timeToLive: cachedFor(Duration.seconds(1)) })

      const issueToken = (subject: string, role: Role, ttlSeconds = 3600) =>
        Effect.promise(() =>
          new Jose.SignJWT({ role })
            .setProtectedHeader({ alg: "HS256" })
            .setSubject(subject)
            .setIssuer(config.issuer)
            .setAudience(config.audience)
            .setIssuedAt()
            .setExpirationTime(`${ttlSeconds}s`)
            .sign(secret)
        )

      const issueApiKey = Effect.fn("Authenticator.issueApiKey")(
        function*({ actor, requestId, request }: ApiKeyCommand & { readonly request: IssueApiKey }) {
          yield* requirePermission(actor, "api-keys:manage")
          yield* requireRoleWithin(actor, request.role)
          const now = yield* Clock.currentTimeMillis
          const lifetime = Duration.days(request.expiresInDays ?? apiKeyLifetimeDays.default)
          const row: ApiKeyRow = {
            id: uuidv7(now),
            name: request.name,
            prefix: randomBytes(9).toString("base64url").replace(/[-_]/g, "x").slice(0, 12),
            role: request.role,
            issuer_kind: actor.kind,
            issuer_subject: actor.subject,
            issuer_role: actor.role,
            created_at: new Date(now),
            expires_at: new Date(now + Duration.toMillis(lifetime)),
            last_used_at: null,
            revoked_at: null
          }
          const key = `cms_${row.prefix}_${randomBytes(32).toString("base64url")}`
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`INSERT INTO api_keys ${sql.insert({ ...row, key_hash: sha256(key) })}`
            yield* audit.record({
              actor,
              action: "api-key.issue",
              apiKeyId: row.id,
              requestId,
              fields: Object.keys(request)
            })
          })).pipe(Effect.orDie)
          return { ...toApiKey(row), key }
        }
      )

      const listApiKeys = Effect.fn("Authenticator.listApiKeys")(function*(actor: Actor, query: ListApiKeysQuery) {
        yield* requirePermission(actor, "api-keys:manage")
        const limit = query.limit ?? apiKeyPageSize.default
        // Ids are UUIDv7, ordered by creation time: the id alone is the keyset.
        const rows = yield* sql<ApiKeyRow>`SELECT id, name, prefix, role, issuer_kind, issuer_subject, issuer_role,
            created_at, expires_at, last_used_at, revoked_at
          FROM api_keys WHERE ${query.cursor === undefined ? sql`TRUE` : sql`id < ${query.cursor}`}
          ORDER BY id DESC LIMIT ${limit + 1}`.pipe(Effect.orDie)
        const page = rows.slice(0, limit)
        return {
          data: page.map(toApiKey),
          nextCursor: rows.length > limit ? page[page.length - 1].id : null
        }
      })

      const revokeApiKey = Effect.fn("Authenticator.revokeApiKey")(
        function*({ actor, requestId, id }: ApiKeyCommand & { readonly id: string }) {
          yield* requirePermission(actor, "api-keys:manage")
          const now = yield* Clock.currentTimeMillis
          const revoked = yield* sql.withTransaction(Effect.gen(function*() {
            const rows = yield* sql`UPDATE api_keys SET revoked_at = ${new Date(now)}
              WHERE id = ${id} AND revoked_at IS NULL RETURNING id`
            if (rows.length === 0) return false
            yield* audit.record({ actor, action: "api-key.revoke", apiKeyId: id, requestId, fields: [] })
            return true
          })).pipe(Effect.orDie)
          if (!revoked) return yield* new ApiKeyNotFound({})
          yield* Cache.invalidateAll(apiKeys)
        }
      )

      return Authenticator.of({
        bearer,
        apiKey: (key) => Effect.map(Cache.get(apiKeys, key), ({ actor }) => actor),
        issueToken,
        issueApiKey,
        listApiKeys,
        revokeApiKey
      })
    })
  )
}
