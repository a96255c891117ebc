/**
 * The key that makes the audit trail tamper-evident: every entry is signed when written and every link of the
 * chain is keyed, so someone who can edit the table but does not hold AUDIT_KEY cannot make an edited, removed
 * or forged entry verify (docs/audit.md).
 */
import { Context, Effect, Layer } from "effect"
import { createHmac } from "node:crypto"
import { configuredKey } from "./ConfiguredKey.ts"

/** What an entry says, as the table holds it: the signed content (its time and id are sealed by the chain). */
export interface SignedContent {
  readonly actor: string
  readonly actorRole: string
  readonly action: string
  readonly customerId: string | null
  readonly apiKeyId: string | null
  readonly segmentId: string | null
  readonly destinationId: string | null
  readonly requestId: string | null
  readonly fields: ReadonlyArray<string>
  readonly reason: string | null
}

/** A link of the chain: the entry at `seq`, written at `atMicros` (microseconds since the epoch, as stored). */
export interface ChainLink {
  readonly seq: bigint
  readonly id: string
  readonly atMicros: string
  readonly entryMac: Uint8Array
}

export const genesisHash = new Uint8Array(32)

const lowerOrNull = (id: string | null) => id === null ? null : id.toLowerCase()

export class AuditSigning extends Context.Service<AuditSigning, {
  entryMac(content: SignedContent): Buffer
  /** The chain's hash at `link`, following `previous`. */
  chainHash(previous: Uint8Array, link: ChainLink): Buffer
}>()("cms/privacy/AuditSigning") {
  static readonly layer = Layer.effect(
    AuditSigning,
    Effect.gen(function*() {
      const key = yield* configuredKey({
        name: "AUDIT_KEY",
        developmentKey: "development-audit-key-not-for-production-use",
        minimumBytes: 32,
        purpose: "audit"
      })
      const hmac = (text: string) => createHmac("sha256", key).update(text).digest()
      return AuditSigning.of({
        // Ids are compared as PostgreSQL prints them (lower case), whatever case they were written in.
        entryMac: (content) =>
          hmac(JSON.stringify([
            "entry/v1",
            content.actor,
            content.actorRole,
            content.action,
            lowerOrNull(content.customerId),
            lowerOrNull(content.apiKeyId),
            lowerOrNull(content.segmentId),
            lowerOrNull(content.destinationId),
            content.requestId,
            content.fields,
            content.reason
          ])),
        chainHash: (previous, link) =>
          hmac(JSON.stringify([
            "link/v1",
            Buffer.from(previous).toString("hex"),
            link.seq.toString(),
            link.id,
            link.atMicros,
            Buffer.from(link.entryMac).toString("hex")
          ]))
      })
    })
  )
}
