/**
 * The list's `q` over sealed names and emails: each value is stored with the keyed hashes (BlindIndex, under
 * the current blind index key) of the lower-cased prefixes of its words (letters and digits; "ada.lovelace@example.com" has
 * the words ada, lovelace, example, com), up to `maxPrefix` characters. A query matches the values holding the
 * hash of every one of its words, so `q` means "every word of q begins a word of the name (or of the email),
 * ignoring case": "love" and "Ada Lov" find Ada Lovelace, "velace" does not. A query word longer than `maxPrefix`
 * is matched by its first `maxPrefix` characters. Without the key the hashes cannot be tested against guessed
 * text, but equal prefixes give equal hashes: the database sees which rows share a word prefix and how often each
 * occurs (see docs/privacy.md).
 */
import type { BlindIndex, BlindIndexPurpose } from "../privacy/BlindIndex.ts"

/** The longest prefix indexed: a word's first 16 characters tell it apart from nearly every other. */
export const maxPrefix = 16

/**
 * Tokens already computed, per BlindIndex and key version: a create hashes a few dozen prefixes, most of them common
 * to many names and addresses ("lo", "ada", "example"), and an HMAC costs microseconds each. Bounded: cleared
 * when full. It holds nothing the key does not already give whoever reads this process's memory.
 */
const tokenCaches = new WeakMap<BlindIndex["Service"], Map<string, string>>()
const tokenCacheSize = 200_000

/** The hashes are cut to 8 bytes (16 hex characters): a chance collision is negligible, the index 4x smaller. */
const tokenOf = (blindIndex: BlindIndex["Service"], version: string, purpose: BlindIndexPurpose, gram: string) => {
  let cache = tokenCaches.get(blindIndex)
  if (cache === undefined) {
    cache = new Map()
    tokenCaches.set(blindIndex, cache)
  }
  const key = `${version}\u0000${purpose}\u0000${gram}`
  let token = cache.get(key)
  if (token === undefined) {
    token = blindIndex.digestUnder(version, purpose, gram).toString("hex", 0, 8)
    if (cache.size >= tokenCacheSize) cache.clear()
    cache.set(key, token)
  }
  return token
}

const words = (text: string): Array<Array<string>> =>
  text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((word) => word !== "").map((word) => [...word])

/** What a stored value is found by: under the current key. */
export const valueTokens = (blindIndex: BlindIndex["Service"], purpose: BlindIndexPurpose, value: string) => {
  const prefixes = new Set<string>()
  for (const word of words(value)) {
    for (let length = 1; length <= Math.min(word.length, maxPrefix); length++) prefixes.add(word.slice(0, length).join(""))
  }
  return [...prefixes].map((prefix) => tokenOf(blindIndex, blindIndex.currentVersion, purpose, prefix))
}

/**
 * What a query needs a value stored under key `version` to hold: its words' prefixes (none when q has no letter
 * or digit).
 */
export const queryTokens = (blindIndex: BlindIndex["Service"], version: string, purpose: BlindIndexPurpose, query: string) =>
  [...new Set(words(query).map((word) => word.slice(0, maxPrefix).join("")))].map((prefix) =>
    tokenOf(blindIndex, version, purpose, prefix)
  )
