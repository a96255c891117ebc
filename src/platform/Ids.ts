/** Identifier generation: time-ordered ids for new rows, deterministic ids for idempotent requests. */
import { createHash, randomBytes } from "node:crypto"

const format = (bytes: Uint8Array) => {
  const hex = Buffer.from(bytes).toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

/**
 * Random bytes for ids, drawn 4 KiB at a time (as crypto.randomUUID caches its entropy): one system call per
 * 256 ids instead of one each, which showed as 6 % of the service's time when tracking events without ids.
 */
const entropyPool = 4096
let entropy = Buffer.alloc(0)
let drawn = entropyPool

const sixteenRandomBytes = (): Buffer => {
  if (drawn >= entropy.length) {
    entropy = randomBytes(entropyPool)
    drawn = 0
  }
  // Each slice is handed out once, so the caller may write into it.
  const bytes = entropy.subarray(drawn, drawn + 16)
  drawn += 16
  return bytes
}

/** RFC 9562 UUIDv7: time-ordered, so new rows land at the right edge of the primary-key index. */
export const uuidv7 = (now = Date.now()): string => {
  const bytes = sixteenRandomBytes()
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
