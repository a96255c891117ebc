/**
 * The rules of destinations that need no database: which URLs the SSRF guard
 * refuses (at registration and again at delivery), and the retry schedule.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { retryDelayMillis } from "../../src/destinations/DestinationDelivery.ts"
import { post, urlRefusal } from "../../src/platform/OutboundHttp.ts"

const refusedAsPrivate = "resolves to a loopback, private or link-local address, which the service does not call"

describe("destination URLs", () => {
  it.effect("public addresses are accepted", () =>
    Effect.gen(function*() {
      for (const url of ["https://93.184.216.34/hooks", "http://[2606:4700:4700::1111]:8080/hooks?x=1"]) {
        assert.isUndefined(yield* urlRefusal(url, false), url)
      }
    }))

  it.effect("loopback, private, shared, link-local, multicast and reserved addresses are refused, in both families", () =>
    Effect.gen(function*() {
      for (
        const host of [
          "127.0.0.2",
          "10.255.0.1",
          "100.64.0.1",
          "172.31.255.255",
          "192.168.1.1",
          "169.254.169.254",
          "198.18.0.1",
          "224.0.0.1",
          "255.255.255.255",
          "0.0.0.0",
          "[::]",
          "[::1]",
          "[fd00::1]",
          "[fe80::1]",
          "[ff02::1]",
          "[::ffff:10.0.0.1]",
          "[64:ff9b::a00:1]"
        ]
      ) assert.strictEqual(yield* urlRefusal(`http://${host}/hooks`, false), refusedAsPrivate, host)
    }))

  it.effect("a name is judged by the addresses it resolves to", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* urlRefusal("http://localhost:8080/hooks", false), refusedAsPrivate)
      assert.strictEqual(yield* urlRefusal("http://no-such-host.invalid/hooks", false), "names a host that does not resolve")
    }))

  it.effect("private networks are accepted where the setting allows them", () =>
    Effect.gen(function*() {
      assert.isUndefined(yield* urlRefusal("http://127.0.0.1:8080/hooks", true))
      assert.isUndefined(yield* urlRefusal("http://localhost/hooks", true))
    }))

  it.effect("other schemes, credentials and fragments are refused whatever the setting", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* urlRefusal("ftp://93.184.216.34/hooks", true), "must be an http or https URL")
      assert.strictEqual(yield* urlRefusal("https://ada:secret@93.184.216.34/hooks", true), "must not carry credentials")
      assert.strictEqual(yield* urlRefusal("https://93.184.216.34/hooks#part", true), "must not have a fragment")
    }))

  it.effect("a delivery does not connect to a private address, named literally or by a name resolving to one", () =>
    Effect.gen(function*() {
      const options = { body: "{}", headers: {}, timeoutMillis: 2_000, allowPrivate: false }
      for (const url of ["http://127.0.0.1:9/hooks", "http://localhost:9/hooks"]) {
        const failure = yield* Effect.flip(post(url, options))
        assert.strictEqual(failure.reason, "EPRIVATEADDRESS", url)
      }
    }))
})

describe("retry schedule", () => {
  it("doubles from the base, never beyond the cap", () => {
    const delays = [1, 2, 3, 4, 5, 6].map((attempt) => retryDelayMillis(attempt, 60_000, 600_000, 1))
    assert.deepStrictEqual(delays, [60_000, 120_000, 240_000, 480_000, 600_000, 600_000])
  })

  it("keeps growing under the widest jitter until the cap", () => {
    for (let attempt = 1; attempt < 8; attempt++) {
      assert.isBelow(retryDelayMillis(attempt, 1_000, 1e9, 1.2), retryDelayMillis(attempt + 1, 1_000, 1e9, 0.8))
    }
  })
})
