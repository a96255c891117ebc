/**
 * Turns credentials into an Actor: JWTs (HS256, RS256 or ES256 through an
 * algorithm allow-list, issuer, audience and expiry checked) and API keys
 * (stored as SHA-256 hashes, looked up by their public prefix).
 */
import { PgClient } from "@effect/sql-pg"
import { Cache, Config, Context, Duration, Effect, Exit, Layer, Option, Redacted, Schema } from "effect"
import * as Jose from "jose"
import { createPublicKey, randomBytes, timingSafeEqual } from "node:crypto"
import { type Actor, Role } from "../domain/Access.ts"
import { Unauthenticated } from "../domain/Errors.ts"
import { sha256, uuidv7 } from "./Ids.ts"

/** Accepted only outside production, so `npm start` and `npm run token` work with no setup. */
export const developmentSecret = "development-only-secret-do-not-use-in-production"

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

const Claims = Schema.Struct({
  sub: Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(200)),
  role: Schema.optionalKey(Role),
  roles: Schema.optionalKey(Schema.Array(Schema.String))
})
const decodeClaims = Schema.decodeUnknownOption(Claims)

const roleOf = (claims: typeof Claims.Type): Role | undefined =>
  claims.role ?? Role.literals.find((role) => claims.roles?.includes(role))

export interface IssuedApiKey {
  readonly id: string
  readonly key: string
  readonly prefix: string
}

const apiKeyPattern = /^cms_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{32,64})$/

const unauthenticated = new Unauthenticated({})

export class Authenticator extends Context.Service<Authenticator, {
  bearer(token: string): Effect.Effect<Actor, Unauthenticated>
  apiKey(key: string): Effect.Effect<Actor, Unauthenticated>
  /** Signs a token this service accepts (HS256 only): for `npm run token` and tests. */
  issueToken(subject: string, role: Role, ttlSeconds?: number): Effect.Effect<string>
  issueApiKey(name: string, role: Role): Effect.Effect<IssuedApiKey>
  revokeApiKey(id: string): Effect.Effect<boolean>
}>()("cms/platform/Authenticator") {
  static readonly layer = Layer.effect(
    Authenticator,
    Effect.gen(function*() {
      const config = yield* AuthConfig
      const sql = yield* PgClient.PgClient

      if (Option.isNone(config.secret) && Option.isNone(config.publicKey)) {
        if (config.production) {
          return yield* Effect.die(new Error("JWT_SECRET or JWT_PUBLIC_KEY must be set when NODE_ENV=production"))
        }
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

      const verify = (token: string) =>
        Effect.tryPromise({
          try: () => Jose.jwtVerify(token, verificationKey, verifyOptions),
          catch: () => unauthenticated
        }).pipe(
          Effect.flatMap(({ payload }) =>
            Option.match(decodeClaims(payload), {
              onNone: () => Effect.fail(unauthenticated),
              onSome: (claims) => {
                const role = roleOf(claims)
                return role === undefined
                  ? Effect.fail(unauthenticated)
                  : Effect.succeed({ actor: { subject: claims.sub, role, kind: "user" } as const, exp: payload.exp! })
              }
            })
          )
        )

      // Verifying a signature per request is the costliest part of auth; a token is immutable, so cache it until it expires.
      const tokens = yield* Cache.makeWith(verify, {
        capacity: 10_000,
        timeToLive: Exit.match({
          onFailure: () => Duration.zero,
          onSuccess: ({ exp }) => Duration.millis(Math.max(0, exp * 1000 - Date.now()))
        })
      })

      const bearer = (token: string) =>
        token.length === 0 || token.length > 8192
          ? Effect.fail(unauthenticated)
          : Effect.map(Cache.get(tokens, token), ({ actor }) => actor)

      const lookupApiKey = (key: string) =>
        Effect.gen(function*() {
          const match = apiKeyPattern.exec(key)
          if (match === null) return yield* Effect.fail(unauthenticated)
          const [row] = yield* sql<{ readonly id: string; readonly key_hash: string; readonly role: Role }>`
            SELECT id, key_hash, role FROM api_keys WHERE prefix = ${match[1]} AND revoked_at IS NULL`.pipe(
            Effect.orDie
          )
          if (row === undefined) return yield* Effect.fail(unauthenticated)
          const presented = Buffer.from(sha256(key))
          const stored = Buffer.from(row.key_hash)
          if (presented.length !== stored.length || !timingSafeEqual(presented, stored)) {
            return yield* Effect.fail(unauthenticated)
          }
          return { subject: row.id, role: row.role, kind: "api-key" } as const
        })

      // A revoked key stops working within this time-to-live on every instance.
      const apiKeys = yield* Cache.makeWith(lookupApiKey, {
        capacity: 10_000,
        timeToLive: Exit.match({ onFailure: () => Duration.seconds(1), onSuccess: () => Duration.seconds(30) })
      })

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

      const issueApiKey = Effect.fn("Authenticator.issueApiKey")(function*(name: string, role: Role) {
        const id = uuidv7()
        const prefix = randomBytes(9).toString("base64url").replace(/[-_]/g, "x").slice(0, 12)
        const key = `cms_${prefix}_${randomBytes(32).toString("base64url")}`
        yield* sql`INSERT INTO api_keys (id, name, prefix, key_hash, role)
          VALUES (${id}, ${name}, ${prefix}, ${sha256(key)}, ${role})`.pipe(Effect.orDie)
        return { id, key, prefix }
      })

      const revokeApiKey = Effect.fn("Authenticator.revokeApiKey")(function*(id: string) {
        const rows = yield* sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${id} AND revoked_at IS NULL
          RETURNING prefix`.pipe(Effect.orDie)
        yield* Cache.invalidateAll(apiKeys)
        return rows.length > 0
      })

      return Authenticator.of({
        bearer,
        apiKey: (key) => Cache.get(apiKeys, key),
        issueToken,
        issueApiKey,
        revokeApiKey
      })
    })
  )
}
