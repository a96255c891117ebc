/**
 * OWASP API7:2023 Server Side Request Forgery. Webhook destinations are the
 * only URLs callers choose. A URL reaching loopback, private, link-local or
 * metadata addresses, in any spelling, or another scheme, is refused when a
 * destination is created or changed, on REST and RPC (422 naming url, nothing
 * stored); and the sender itself (src/platform/OutboundHttp.ts) refuses such
 * an address at connect time (DNS rebinding, rows from before the rule) and
 * never follows a redirect. The basic list of addresses is in
 * test/integration/destinations.test.ts.
 */
import { assert, describe, it as plain, layer } from "@effect/vitest"
import { Effect } from "effect"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { post } from "../../src/platform/OutboundHttp.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { createDestination, destinationPath, destinationsPath } from "../support/Destinations.ts"
import { call, expectProblem } from "../support/Http.ts"
import { exitsOf, failureType, message, postRpc } from "../support/Rpc.ts"
import { changesNothing } from "../support/Security.ts"
import { json } from "../support/TestService.ts"

/** Loopback, private, link-local, metadata and NAT64 addresses in the spellings parsers disagree on. */
const internalUrls = [
  "http://127.1/hooks",
  "http://0x7f000001/hooks",
  "http://0x7f.0.0.1/hooks",
  "http://017700000001/hooks",
  "http://0177.0.0.1/hooks",
  "http://[::]/hooks",
  "http://[0:0:0:0:0:0:0:1]/hooks",
  "http://[::ffff:7f00:1]/hooks",
  "http://[::ffff:169.254.169.254]/latest/meta-data",
  "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
  "http://[fe80::1]/hooks",
  "http://[fd00:ec2::254]/latest/meta-data",
  "http://169.254.169.254./latest/meta-data",
  "http://100.64.0.1/hooks",
  "http://198.18.0.1/hooks",
  "http://224.0.0.1/hooks",
  "http://255.255.255.255/hooks",
  "http://localhost./hooks",
  "http://LOCALHOST/hooks",
  "https://127.0.0.1:443/hooks"
]

/** Not http(s), or carrying what an http(s) URL for a webhook must not. */
const otherUrls = [
  "file:///etc/passwd",
  "gopher://127.0.0.1:6379/_FLUSHALL",
  "ftp://203.0.113.10/hooks",
  "dict://203.0.113.10:11211/stats",
  "javascript:alert(1)",
  "http://user:secret@203.0.113.10/hooks",
  "http://203.0.113.10/hooks#fragment"
]

/** A public address (TEST-NET-3) that needs no DNS: the guard accepts it, and nothing is ever sent there. */
const publicUrl = "http://203.0.113.10/hooks"

const expectUrlRefused = (response: Response, url: string) =>
  Effect.gen(function*() {
    const text = yield* Effect.promise(() => response.clone().text())
    assert.include([400, 422], response.status, `${url}: ${text}`)
    const problem = response.status === 422
      ? yield* expectProblem(response, 422, "/problems/invalid-destination-url")
      : yield* expectProblem(response, 400, "/problems/invalid-request")
    assert.isTrue(
      problem.field === "url" || (problem.errors ?? []).some((error) => error.path.join(".") === "payload.url"),
      `${url}: ${text}`
    )
  })

layer(testServiceWithDatabase({ nats: false }), { excludeTestServices: true })("API7 server side request forgery", (it) => {
  it.effect("creating a destination with an internal address in any spelling, or another scheme, is refused", () =>
    Effect.gen(function*() {
      yield* changesNothing(Effect.forEach([...internalUrls, ...otherUrls], (url) =>
        Effect.gen(function*() {
          yield* expectUrlRefused(yield* call("POST", destinationsPath, { body: { name: "ssrf", url } }), url)
        })))
    }))

  it.effect("changing a destination's URL to an internal address is refused, and the destination keeps its URL", () =>
    Effect.gen(function*() {
      const destination = yield* createDestination({ url: publicUrl, enabled: false })
      yield* changesNothing(Effect.forEach(internalUrls, (url) =>
        Effect.gen(function*() {
          yield* expectUrlRefused(yield* call("PATCH", destinationPath(destination.id), { body: { url } }), url)
        })))
      const stored = yield* json<{ readonly url: string }>(yield* call("GET", destinationPath(destination.id)))
      assert.strictEqual(stored.url, publicUrl)
    }))

  it.effect("over RPC, creating or changing a destination to an internal address fails invalid-destination-url", () =>
    Effect.gen(function*() {
      const destination = yield* createDestination({ url: publicUrl, enabled: false })
      yield* changesNothing(Effect.forEach(internalUrls.slice(0, 8), (url) =>
        Effect.gen(function*() {
          const response = yield* postRpc([
            message({ id: 1, tag: "CreateDestination", payload: { input: { name: "ssrf", url } } }),
            message({ id: 2, tag: "UpdateDestination", payload: { id: destination.id, update: { url } } })
          ])
          assert.strictEqual(response.status, 200, url)
          const exits = yield* exitsOf(response)
          assert.deepStrictEqual(exits.map(failureType), [
            "/problems/invalid-destination-url",
            "/problems/invalid-destination-url"
          ], url)
        })))
    }))
})

/** A loopback HTTP server counting the requests it gets, answering each with `status` and `headers`. */
const receiver = (status: number, headers: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly server: Server; readonly url: string; readonly hits: () => number }>((resolve) => {
        let hits = 0
        const server = createServer((_, response) => {
          hits++
          response.writeHead(status, headers).end()
        })
        server.listen(0, "127.0.0.1", () =>
          resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits }))
      })
    ),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )

const options = { body: "{}", headers: {}, timeoutMillis: 2_000 }

describe("API7 the webhook sender", () => {
  plain.live("refuses a loopback address at connect time, by IP or by a name resolving to it, sending nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const target = yield* receiver(204)
      const port = new URL(target.url).port
      for (const url of [`${target.url}/hooks`, `http://localhost:${port}/hooks`]) {
        const failure = yield* Effect.flip(post(url, { ...options, allowPrivate: false }))
        assert.strictEqual(failure.reason, "EPRIVATEADDRESS", url)
      }
      assert.strictEqual(target.hits(), 0)
      // The same receiver is reachable when private networks are allowed: the refusal was the guard's.
      assert.strictEqual(yield* post(`${target.url}/hooks`, { ...options, allowPrivate: true }), 204)
    })))

  plain.live("does not follow a redirect: the answer is the redirect's status, and its target gets nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const inside = yield* receiver(200)
      const redirecting = yield* receiver(307, { location: `${inside.url}/latest/meta-data` })
      assert.strictEqual(yield* post(`${redirecting.url}/hooks`, { ...options, allowPrivate: true }), 307)
      assert.strictEqual(redirecting.hits(), 1)
      assert.strictEqual(inside.hits(), 0)
    })))
})
