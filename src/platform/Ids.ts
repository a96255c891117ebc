/** Identifier generation: time-ordered ids for new rows, deterministic ids for idempotent requests. */
import { createHash, randomBytes } from "node:crypto"

const format = (bytes: Uint8Array) => {
  const hex = Buffer.from(bytes).toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

/** RFC 9562 UUIDv7: time-ordered, so new rows land at the right edge of the primary-key index. */
export const uuidv7 = (now = Date.now()): string => {
  const bytes = randomBytes(16)
  bytes.writeUIntBE(now, 0, 6)
  bytes[6] = (bytes[6] & 0x0f) | 0x70
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  return format(bytes)
}

/** RFC 9562 UUIDv8 from a SHA-256 of the parts: the same parts always give the same id. */
export const uuidFromParts = (...parts: ReadonlyArray<string>): string => {
  const bytes = createHash("sha256").update(parts.join("\u0000")).digest().subarray(0, 16)
  bytes[6] = (bytes[6] & 0x0f) | 0x80
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  return format(bytes)
}

export const sha256 = (text: string): string => createHash("sha256").update(text).digest("base64url")

export const randomToken = (): string => randomBytes(24).toString("base64url")
