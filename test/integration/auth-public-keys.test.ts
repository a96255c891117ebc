import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Jose from "jose"
import { customersPath } from "../support/Customers.ts"
import { TestService, testJwtSecret, testService } from "../support/TestService.ts"

const keyPair = (alg: "RS256" | "ES256") =>
  Jose.generateKeyPair(alg, { extractable: true }).then(async ({ privateKey, publicKey }) => ({
    privateKey,
    publicPem: await Jose.exportSPKI(publicKey)
  }))

const rsa = await keyPair("RS256")
const ec = await keyPair("ES256")

const sign = (alg: string, key: Jose.CryptoKey | Uint8Array) =>
  Effect.promise(() =>
    new Jose.SignJWT({ role: "analyst" })
      .setProtectedHeader({ alg })
      .setSubject("key-user")
      .setIssuer("customer-service")
      .setAudience("customer-service-api")
      .setExpirationTime("5m")
      .sign(key)
  )

const listWith = (token: string) =>
  Effect.flatMap(TestService, ({ request }) =>
    request(customersPath, { auth: false, headers: { authorization: `Bearer ${token}` } }))

layer(testService({ env: { JWT_PUBLIC_KEY: rsa.publicPem } }), { excludeTestServices: true })(
  "JWTs verified with an RSA public key",
  (it) => {
    it.effect("an RS256 token signed with the matching private key is accepted", () =>
      Effect.gen(function*() {
        const response = yield* listWith(yield* sign("RS256", rsa.privateKey))
        assert.strictEqual(response.status, 200)
      }))

    it.effect("an HS256 token is refused, even one signed with the shared secret", () =>
      Effect.gen(function*() {
        const response = yield* listWith(yield* sign("HS256", new TextEncoder().encode(testJwtSecret)))
        assert.strictEqual(response.status, 401)
      }))

    it.effect("a token signed with another key is refused", () =>
      Effect.gen(function*() {
        const other = yield* Effect.promise(() => keyPair("RS256"))
        const response = yield* listWith(yield* sign("RS256", other.privateKey))
        assert.strictEqual(response.status, 401)
      }))
  }
)

layer(testService({ env: { JWT_PUBLIC_KEY: ec.publicPem } }), { excludeTestServices: true })(
  "JWTs verified with an EC public key",
  (it) => {
    it.effect("an ES256 token signed with the matching private key is accepted", () =>
      Effect.gen(function*() {
        const response = yield* listWith(yield* sign("ES256", ec.privateKey))
        assert.strictEqual(response.status, 200)
      }))
  }
)
