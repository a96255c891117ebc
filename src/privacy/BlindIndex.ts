/**
 * Keyed hashes of personal values (HMAC-SHA256): equal values give equal digests, so a column of them serves
 * exact lookup and uniqueness, and a list of them (suppression) says "this identity was here" without holding it.
 * Without the key a digest cannot be tested against guessed values. Each purpose gets its own digests, so a
 * digest of one kind cannot be matched against another's.
 *
 * - The index keys are versioned, current first: BLIND_INDEX_KEYS `v2:<secret>,v1:<secret>` (BLIND_INDEX_KEY
 *   alone is version v1). New digests are made under the current key; lookups try every configured version, so a
 *   rotation needs no downtime; the re-index pass (KeyUpkeep.ts) moves rows to the current key, then the old one
 *   can go.
 * - The suppression list cannot be re-keyed (the erased address is gone), so it has a key that does not rotate:
 *   SUPPRESSION_KEY, or by default the v1 index key (what it was made under before there were versions).
 */
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import { createHmac } from "node:crypto"
import { configuredKey, refusedInProduction } from "./ConfiguredKey.ts"

/** What a digest is of; part of the hashed input. */
export type BlindIndexPurpose = "email" | "name-token" | "email-token"

/** An email as compared for identity: letter case does not make another address (as customers' uniqueness). */
export const normalizedEmail = (email: string) => email.trim().toLowerCase()

export interface BlindIndexKey {
  readonly version: string
  readonly key: string
}

/** The version BLIND_INDEX_KEY has, and so every digest made before versions existed (migration 0028). */
export const firstVersion = "v1"

const developmentKey = "development-blind-index-key-not-for-production"

/**
 * `v2:<secret>,v1:<secret>`: current first, each version named once. A secret is the text after the version's
 * colon, taken as BLIND_INDEX_KEY takes it (so a former BLIND_INDEX_KEY moves in as `v1:<it>`). An entry ends at a
 * comma followed by the next `<version>:`, so a secret may hold a comma, though not one followed by a word and a colon.
 */
export const parseBlindIndexKeys = (text: string): ReadonlyArray<BlindIndexKey> => {
  const entries = text.split(/,(?=\s*[A-Za-z0-9_-]{1,32}:)/)
  const keys = entries.map((entry) => entry.trim()).filter((entry) => entry !== "").map((entry) => {
    const separator = entry.indexOf(":")
    const version = entry.slice(0, separator)
    const key = entry.slice(separator + 1)
    if (separator < 1 || !/^[A-Za-z0-9_-]{1,32}$/.test(version) || key === "") {
      throw new Error("BLIND_INDEX_KEYS: each entry is <version>:<secret>, current first")
    }
    return { version, key }
  })
  if (keys.length === 0) throw new Error("BLIND_INDEX_KEYS: at least one key")
  if (new Set(keys.map((key) => key.version)).size !== keys.length) throw new Error("BLIND_INDEX_KEYS: a version twice")
  return keys
}

const hmac = (key: string, purpose: BlindIndexPurpose, value: string) =>
  createHmac("sha256", key).update(`${purpose}\u0000${value}`).digest()

export class BlindIndex extends Context.Service<BlindIndex, {
  /** The version new digests are made under. */
  readonly currentVersion: string
  /** Every configured version, current first: what lookups try. */
  readonly versions: ReadonlyArray<string>
  /** A digest under the given configured version's key. */
  digestUnder(version: string, purpose: BlindIndexPurpose, value: string): Buffer
  /** The digest of an email (normalised first), under the current key. */
  email(email: string): Buffer
  /** The email's digest under every configured version, current first: what a lookup matches. */
  emailUnderEach(email: string): ReadonlyArray<Buffer>
  /** The email's digest on the suppression list (and the key of its advisory lock): under a key that does not rotate. */
  suppression(email: string): Buffer
}>()("cms/privacy/BlindIndex") {
  static readonly layer = Layer.effect(
    BlindIndex,
    Effect.gen(function*() {
      const versioned = yield* Config.Redacted("BLIND_INDEX_KEYS").pipe(Config.option)
      const single = yield* Config.Redacted("BLIND_INDEX_KEY").pipe(Config.option)
      if (Option.isSome(versioned) && Option.isSome(single)) {
        return yield* Effect.die(new Error("set BLIND_INDEX_KEYS or BLIND_INDEX_KEY, not both (BLIND_INDEX_KEY is v1:<it>)"))
      }
      const keys = Option.isSome(versioned)
        ? yield* Effect.try({ try: () => parseBlindIndexKeys(Redacted.value(versioned.value)), catch: (error) => error })
          .pipe(Effect.orDie)
        : [{
          version: firstVersion,
          key: yield* configuredKey({ name: "BLIND_INDEX_KEY", developmentKey, minimumBytes: 32, purpose: "blind index" })
        }]
      for (const { key, version } of keys) {
        yield* refusedInProduction({ name: `BLIND_INDEX_KEYS (${version})`, developmentKey, minimumBytes: 32 }, key)
      }
      const configuredSuppression = yield* Config.Redacted("SUPPRESSION_KEY").pipe(Config.option)
      const suppressionKey = Option.isSome(configuredSuppression)
        ? Redacted.value(configuredSuppression.value)
        : keys.find((key) => key.version === firstVersion)?.key
      if (suppressionKey === undefined) {
        return yield* Effect.die(
          new Error(`SUPPRESSION_KEY must be set once ${firstVersion} leaves BLIND_INDEX_KEYS (to the former ${firstVersion} key: the suppression list was made under it)`)
        )
      }
      yield* refusedInProduction({ name: "SUPPRESSION_KEY", developmentKey, minimumBytes: 32 }, suppressionKey)

      const byVersion = new Map(keys.map(({ key, version }) => [version, key]))
      const current = keys[0]
      const digestUnder = (version: string, purpose: BlindIndexPurpose, value: string) => {
        const key = byVersion.get(version)
        if (key === undefined) throw new Error(`blind index key ${version} is not configured`)
        return hmac(key, purpose, value)
      }
      return BlindIndex.of({
        currentVersion: current.version,
        versions: keys.map((key) => key.version),
        digestUnder,
        email: (email) => hmac(current.key, "email", normalizedEmail(email)),
        emailUnderEach: (email) => keys.map(({ key }) => hmac(key, "email", normalizedEmail(email))),
        // The input the list was made with before it had a key of its own, so entries from then still match.
        suppression: (email) => hmac(suppressionKey, "email", normalizedEmail(email))
      })
    })
  )
}
