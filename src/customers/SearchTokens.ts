/**
 * The list's `q` (name or email contains a text, ignoring letter case) over sealed values: each value is stored
 * with the keyed hashes (BlindIndex, under BLIND_INDEX_KEY) of its lower-cased 2- and 3-character substrings,
 * and a query matches the rows holding every hash of its own substrings (its one bigram when it is 2 characters
 * long, else its trigrams). Without the key the hashes cannot be tested against guessed text, but equal
 * substrings give equal hashes: the database sees which rows share a substring and how often each occurs.
 * A query longer than 3 characters may match a value holding all its trigrams in another order (rare; see
 * docs/privacy.md): what search finds is "contains every trigram", which equals "contains" for 2-3 characters.
 */
import type { BlindIndex, BlindIndexPurpose } from "../privacy/BlindIndex.ts"

/**
 * Tokens already computed, per BlindIndex (so per key): a create hashes about a hundred substrings, most of them
 * common to many names and addresses ("an", "son", "@ex"), and an HMAC costs microseconds each. Bounded: cleared
 * when full. It holds nothing the key does not already give whoever reads this process's memory.
 */
const tokenCaches = new WeakMap<BlindIndex["Service"], Map<string, string>>()
const tokenCacheSize = 200_000

/** The hashes are cut to 8 bytes (16 hex characters): a chance collision is negligible, the index 4x smaller. */
const tokenOf = (blindIndex: BlindIndex["Service"], purpose: BlindIndexPurpose, gram: string) => {
  let cache = tokenCaches.get(blindIndex)
  if (cache === undefined) {
    cache = new Map()
    tokenCaches.set(blindIndex, cache)
  }
  const key = `${purpose}\u0000${gram}`
  let token = cache.get(key)
  if (token === undefined) {
    token = blindIndex.digest(purpose, gram).toString("hex", 0, 8)
    if (cache.size >= tokenCacheSize) cache.clear()
    cache.set(key, token)
  }
  return token
}

const grams = (text: string, length: number): Array<string> => {
  const points = [...text.toLowerCase()]
  const found: Array<string> = []
  for (let i = 0; i + length <= points.length; i++) found.push(points.slice(i, i + length).join(""))
  return found
}

/** What a stored value is found by. */
export const valueTokens = (blindIndex: BlindIndex["Service"], purpose: BlindIndexPurpose, value: string) =>
  [...new Set([...grams(value, 2), ...grams(value, 3)])].map((gram) => tokenOf(blindIndex, purpose, gram))

/** What a query needs a stored value to hold (q has at least 2 characters). */
export const queryTokens = (blindIndex: BlindIndex["Service"], purpose: BlindIndexPurpose, query: string) => {
  const length = [...query].length
  return [...new Set(grams(query, length === 2 ? 2 : 3))].map((gram) => tokenOf(blindIndex, purpose, gram))
}
