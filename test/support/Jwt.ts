/** JWTs signed by the test itself, independently of the service, so each check can be broken on its own. */
import { Effect } from "effect"
import * as Jose from "jose"
import { testJwtSecret } from "./TestService.ts"

export interface TokenOptions {
  readonly claims?: Record<string, unknown>
  readonly subject?: string
  readonly issuer?: string
  readonly audience?: string
  /** Seconds since the epoch; omitted means an hour from now, `null` means no exp claim. */
  readonly expiresAt?: number | null
  /** The HMAC secret (the test service's unless given) or any other key jose signs with. */
  readonly secret?: string | Uint8Array | Jose.CryptoKey
  readonly alg?: string
}

/** A JWT as the service's issuer would sign it for an admin, each part replaceable. */
export const signToken = (options: TokenOptions = {}) =>
  Effect.promise(() => {
    const jwt = new Jose.SignJWT(options.claims ?? { role: "admin" })
      .setProtectedHeader({ alg: options.alg ?? "HS256" })
      .setSubject(options.subject ?? "jwt-test-user")
      .setIssuer(options.issuer ?? "customer-service")
      .setAudience(options.audience ?? "customer-service-api")
      .setIssuedAt()
    if (options.expiresAt !== null) jwt.setExpirationTime(options.expiresAt ?? Math.floor(Date.now() / 1000) + 3600)
    const secret = options.secret ?? testJwtSecret
    return jwt.sign(typeof secret === "string" ? new TextEncoder().encode(secret) : secret)
  })

/** An admin's token with `alg: none` and no signature, otherwise valid. */
export const unsignedToken = () =>
  new Jose.UnsecuredJWT({ role: "admin" })
    .setSubject("jwt-test-user")
    .setIssuer("customer-service")
    .setAudience("customer-service-api")
    .setIssuedAt()
    .setExpirationTime("1h")
    .encode()
