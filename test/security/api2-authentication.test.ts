/**
 * OWASP API2:2023 Broken Authentication. Every operation the document marks as
 * authenticated, and the RPC door, refuse each broken credential with a 401
 * problem and change nothing: no credential, an expired token, another
 * issuer or audience, `alg: none`, another secret, a forged or revoked API key,
 * and (against a service verifying RS256 with a public key) HS256 signed with
 * that public key. Single-route checks of each claim live in
 * test/integration/auth.test.ts; this file proves every door shares them.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Jose from "jose"
import { apiKey, bearer, callWith, expectUnauthenticated, issueKey } from "../support/ApiKeys.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call } from "../support/Http.ts"
import { signToken, unsignedToken } from "../support/Jwt.ts"
import { exitsOf, failureType, message, postRpc } from "../support/Rpc.ts"
import { authenticatedOperations, changesNothing, concretePath } from "../support/Security.ts"

const now = () => Math.floor(Date.now() / 1000)

/** Each broken credential, named, as the headers a request carries. */
const brokenCredentials = Effect.gen(function*() {
  const revoked = yield* issueKey("admin", "revoked for the security suite")
  assert.strictEqual((yield* call("DELETE", `/api/v1/api-keys/${revoked.id}`)).status, 204)
  return [
    ["no credentials", {}],
    // Past the service's 30 s clock tolerance.
    ["an expired token", bearer(yield* signToken({ expiresAt: now() - 120 }))],
    ["a token without an expiry", bearer(yield* signToken({ expiresAt: null }))],
    ["a token from another issuer", bearer(yield* signToken({ issuer: "someone-else" }))],
    ["a token for another audience", bearer(yield* signToken({ audience: "another-api" }))],
    ["an unsigned token (alg: none)", bearer(unsignedToken())],
    ["a token signed with another secret", bearer(yield* signToken({ secret: "x".repeat(48) }))],
    ["a token signed with HS512", bearer(yield* signToken({ alg: "HS512" }))],
    ["a revoked API key", apiKey(revoked.key)],
    ["a forged API key", apiKey(`cms_${revoked.prefix}_${"A".repeat(43)}`)]
  ] as const
})

/** A body for the operations that take one: never read, since credentials come first. */
const probeBody = { name: "Intruder", email: "intruder@example.com", role: "admin" }

layer(testServiceWithDatabase(), { excludeTestServices: true })("API2 broken authentication", (it) => {
  it.effect("every authenticated REST operation answers each broken credential 401 and changes nothing", () =>
    Effect.gen(function*() {
      const credentials = yield* brokenCredentials
      assert.isAtLeast(authenticatedOperations.length, 40)
      yield* changesNothing(Effect.forEach(authenticatedOperations, (operation) =>
        Effect.forEach(credentials, ([name, headers]) =>
          Effect.gen(function*() {
            const response = yield* callWith(
              headers,
              operation.method,
              concretePath(operation.path),
              operation.hasBody ? probeBody : undefined
            )
            assert.strictEqual(response.status, 401, `${operation.id} with ${name}`)
            yield* expectUnauthenticated(response)
            assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer\b/)
          })), { concurrency: 4 }))
    }))

  it.effect("the RPC door answers each broken credential 401, each call failing Unauthenticated, and changes nothing", () =>
    Effect.gen(function*() {
      const credentials = yield* brokenCredentials
      const calls = [
        message({ id: 1, tag: "ListCustomers", payload: {} }),
        message({ id: 2, tag: "CreateCustomer", payload: { input: { email: "intruder@example.com", name: "Intruder" } } })
      ]
      yield* changesNothing(Effect.forEach(credentials, ([name, headers]) =>
        Effect.gen(function*() {
          const response = yield* postRpc(calls, { as: false, headers })
          assert.strictEqual(response.status, 401, name)
          assert.include(response.headers.get("www-authenticate") ?? "", "Bearer")
          const exits = yield* exitsOf(response)
          assert.deepStrictEqual(exits.map(failureType), ["/problems/unauthenticated", "/problems/unauthenticated"], name)
        })))
    }))

  it.effect("a bearer token and an API key together: a broken token is not rescued by a valid key", () =>
    Effect.gen(function*() {
      const valid = yield* issueKey("admin", "valid key beside a broken token")
      const expired = yield* signToken({ expiresAt: now() - 120 })
      yield* changesNothing(Effect.gen(function*() {
        const response = yield* callWith({ ...bearer(expired), ...apiKey(valid.key) }, "GET", customersPath)
        yield* expectUnauthenticated(response)
      }))
    }))
})

const rsa = await Jose.generateKeyPair("RS256", { extractable: true })
const publicPem = await Jose.exportSPKI(rsa.publicKey)

/**
 * Algorithm confusion: a service that verifies with an RSA public key must not take that (public) key as an HMAC
 * secret. Checked with the default allow-list and with an operator who (wrongly) allows HS256 beside RS256.
 */
for (const algorithms of [undefined, "RS256,HS256"]) {
  const env = { JWT_PUBLIC_KEY: publicPem, ...(algorithms === undefined ? {} : { JWT_ALGORITHMS: algorithms }) }
  layer(testServiceWithDatabase({ env }), { excludeTestServices: true })(
    `API2 algorithm confusion (JWT_ALGORITHMS ${algorithms ?? "unset"})`,
    (it) => {
      it.effect("HS256 signed with the service's own public key answers 401 on REST and RPC, changing nothing", () =>
        Effect.gen(function*() {
          const confused = bearer(yield* signToken({ alg: "HS256", secret: publicPem }))
          const genuine = bearer(yield* signToken({ alg: "RS256", secret: rsa.privateKey }))
          assert.strictEqual((yield* callWith(genuine, "GET", customersPath)).status, 200)
          yield* changesNothing(Effect.gen(function*() {
            yield* expectUnauthenticated(yield* callWith(confused, "GET", customersPath))
            yield* expectUnauthenticated(
              yield* callWith(confused, "POST", customersPath, { email: "confused@example.com", name: "Confused" })
            )
            const rpc = yield* postRpc([message({ tag: "ListCustomers", payload: {} })], { as: false, headers: confused })
            assert.strictEqual(rpc.status, 401)
          }))
        }))
    }
  )
}
