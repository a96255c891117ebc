/**
 * Keyed hashes of personal values (HMAC-SHA256 under BLIND_INDEX_KEY): equal values give equal digests, so
 * a column of them serves exact lookup and uniqueness, and a list of them (suppression) says "this identity
 * was here" without holding it. Without the key a digest cannot be tested against guessed values. Each
 * purpose gets its own digests, so a digest of one kind cannot be matched against another's.
 */
import { Context, Effect, Layer } from "effect"
import { createHmac } from "node:crypto"
import { configuredKey } from "./ConfiguredKey.ts"

/** What a digest is of; part of the hashed input. */
export type BlindIndexPurpose = "email" | "name-token" | "email-token"

/** An email as compared for identity: letter case does not make another address (as customers' uniqueness). */
export const normalizedEmail = (email: string) => email.trim().toLowerCase()

export class BlindIndex extends Context.Service<BlindIndex, {
  digest(purpose: BlindIndexPurpose, value: string): Buffer
  /** The digest of an email, normalised first. */
  email(email: string): Buffer
}>()("cms/privacy/BlindIndex") {
  static readonly layer = Layer.effect(
    BlindIndex,
    Effect.gen(function*() {
      const key = yield* configuredKey({
        name: "BLIND_INDEX_KEY",
        developmentKey: "development-blind-index-key-not-for-production",
        minimumBytes: 32,
        purpose: "blind index"
      })
      const digest = (purpose: BlindIndexPurpose, value: string) =>
        createHmac("sha256", key).update(`${purpose}\u0000${value}`).digest()
      return BlindIndex.of({ digest, email: (email) => digest("email", normalizedEmail(email)) })
    })
  )
}
