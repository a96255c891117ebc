/**
 * POSTing to URLs that callers chose (webhooks), guarded against SSRF: such a
 * URL must not reach the service's own network. `urlRefusal` checks a URL when
 * it is registered; `post` checks again every address it connects to (by its
 * own DNS lookup), so a name that later resolves to a private address (DNS
 * rebinding) is refused too. `allowPrivate` lifts the address rule (tests and
 * local development, whose receivers listen on loopback).
 */
import { Data, Duration, Effect } from "effect"
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from "node:dns"
import { lookup as lookupAll } from "node:dns/promises"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { BlockList, isIP, type LookupFunction } from "node:net"

/**
 * Addresses no webhook may reach: loopback, private, link-local, shared, multicast, reserved, unspecified. One list
 * per family: a BlockList also matches IPv4 addresses against its IPv6 rules (as IPv4-mapped addresses), so
 * the rule refusing every mapped address would refuse every IPv4 address.
 */
const subnets = (family: "ipv4" | "ipv6", networks: ReadonlyArray<readonly [string, number]>) => {
  const list = new BlockList()
  for (const [network, prefix] of networks) list.addSubnet(network, prefix, family)
  return list
}

const blockedV4 = subnets("ipv4", [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4]
])

const blockedV6 = subnets("ipv6", [
  ["::", 127], // unspecified and loopback
  ["::ffff:0:0", 96], // IPv4-mapped: the IPv4 rules apply to such a peer, so none is accepted
  ["64:ff9b::", 96], // NAT64 reaches IPv4 addresses, private ones included
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8]
])

const isBlocked = (address: string): boolean => {
  const family = isIP(address)
  return family === 4 ? blockedV4.check(address, "ipv4") : family === 6 ? blockedV6.check(address, "ipv6") : true
}

/** The URL's host without IPv6 brackets. */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/u, "$1")

/**
 * Why the URL may not be called, or undefined when it may: not http(s), credentials in it, a host that does not
 * resolve, or (unless `allowPrivate`) an address on a private network.
 */
export const urlRefusal = (text: string, allowPrivate: boolean): Effect.Effect<string | undefined> =>
  Effect.gen(function*() {
    const url = URL.parse(text)
    if (url === null) return "is not a URL"
    if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http or https URL"
    if (url.username !== "" || url.password !== "") return "must not carry credentials"
    if (url.hash !== "") return "must not have a fragment"
    const host = hostOf(url)
    const addresses = isIP(host) !== 0
      ? [host]
      : yield* Effect.promise(() =>
        lookupAll(host, { all: true, verbatim: true }).then(
          (found) => found.map((entry) => entry.address),
          () => []
        )
      ).pipe(
        // A resolver that does not answer in time is a name that does not resolve, not a request left hanging.
        Effect.timeoutOrElse({ duration: Duration.seconds(5), orElse: () => Effect.succeed([]) })
      )
    if (addresses.length === 0) return "names a host that does not resolve"
    if (!allowPrivate && addresses.some(isBlocked)) {
      return "resolves to a loopback, private or link-local address, which the service does not call"
    }
    return undefined
  })

/** A connection the guard refused: the host resolved to a private address. */
class PrivateAddress extends Error {
  override readonly name = "PrivateAddress"
  readonly code = "EPRIVATEADDRESS"
}

/** DNS lookup for outbound sockets that fails when any address of the name is blocked. */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true } as LookupAllOptions, (error, addresses: Array<LookupAddress>) => {
    if (error !== null) return callback(error, "", 4)
    if (addresses.some((entry) => isBlocked(entry.address))) {
      return callback(new PrivateAddress(`${hostname} resolves to a private address`), "", 4)
    }
    if (options.all === true) return (callback as unknown as (e: null, a: Array<LookupAddress>) => void)(null, addresses)
    const [first] = addresses
    return callback(null, first.address, first.family)
  })
}

/** An attempt that got no HTTP answer: `reason` is short and names no payload (`timeout`, `ECONNREFUSED`). */
export class PostFailed extends Data.TaggedError("PostFailed")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

export interface PostOptions {
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
  readonly timeoutMillis: number
  readonly allowPrivate: boolean
}

/** An answer is read (and dropped) up to this much, then cut: an endless answer cannot hold a slot until the timeout. */
const maxAnswerBytes = 64 * 1024

const reasonOf = (cause: unknown): string =>
  cause instanceof Error && "code" in cause && typeof cause.code === "string" ? cause.code : "connection failed"

/** POSTs `body` as JSON; the HTTP status of the answer, or why there was none. Interrupting aborts the request. */
export const post = (target: string, options: PostOptions): Effect.Effect<number, PostFailed> =>
  Effect.gen(function*() {
    const url = new URL(target)
    if (!options.allowPrivate && isIP(hostOf(url)) !== 0 && isBlocked(hostOf(url))) {
      return yield* new PostFailed({ reason: "EPRIVATEADDRESS" })
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest
    return yield* Effect.tryPromise({
      try: (signal) =>
        new Promise<number>((resolve, reject) => {
          const request = send(url, {
            method: "POST",
            headers: { "content-type": "application/json", ...options.headers },
            signal,
            ...(options.allowPrivate ? {} : { lookup: guardedLookup })
          }, (response) => {
            let read = 0
            response.on("data", (chunk: Buffer) => {
              read += chunk.length
              if (read > maxAnswerBytes) response.destroy()
            })
            response.on("close", () => resolve(response.statusCode ?? 0))
            response.on("error", () => resolve(response.statusCode ?? 0))
          })
          request.on("error", reject)
          request.end(options.body)
        }),
      catch: (cause) => new PostFailed({ reason: reasonOf(cause) })
    }).pipe(
      Effect.timeoutOrElse({
        duration: Duration.millis(options.timeoutMillis),
        orElse: () => Effect.fail(new PostFailed({ reason: "timeout" }))
      })
    )
  })
