/**
 * The audit trail's chain (docs/audit.md). Writers only append signed entries, so they never wait on one
 * another for a chain head; a sealer links committed entries into the chain in rounds, and verification walks
 * it from the start. The chain's order is the order of sealing: an entry whose transaction commits after a
 * round is sealed by the next one, never behind the head.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Config, Context, Duration, Effect, Layer, Option, Schedule } from "effect"
import type { SqlError } from "effect/sql"
import type { AuditEntryView, AuditVerification, CustomerAuditPage, CustomerAuditQuery } from "../domain/Audit.ts"
import { auditPageSize } from "../domain/Audit.ts"
import type { Role } from "../domain/Access.ts"
import type { CustomerId } from "../domain/Customer.ts"
import { CustomerNotFound } from "../domain/Errors.ts"
import { loggingFailures, logFailure } from "../platform/BackgroundWork.ts"
import { Nats, type StreamSpec } from "../platform/Nats.ts"
import { AuditSigning, genesisHash, type SignedContent } from "./AuditSigning.ts"

interface EntryRow {
  readonly id: string
  readonly at_micros: string
  readonly actor: string
  readonly actor_role: string
  readonly action: string
  readonly customer_id: string | null
  readonly api_key_id: string | null
  readonly segment_id: string | null
  readonly destination_id: string | null
  readonly request_id: string | null
  readonly fields: ReadonlyArray<string>
  readonly reason: string | null
  readonly entry_mac: Uint8Array | null
}

interface SealedRow extends EntryRow {
  readonly chain_seq: string
  readonly chain_hash: Uint8Array
}

// Selected as text (bigints outgrow a JS number): ORDER BY must name the table's columns, not these.
const entryColumns = `id::text, (extract(epoch FROM at) * 1000000)::bigint::text AS at_micros, actor, actor_role, action,
  customer_id::text, api_key_id::text, segment_id::text, destination_id::text, request_id, fields, reason, entry_mac`

const contentOf = (row: EntryRow): SignedContent => ({
  actor: row.actor,
  actorRole: row.actor_role,
  action: row.action,
  customerId: row.customer_id,
  apiKeyId: row.api_key_id,
  segmentId: row.segment_id,
  destinationId: row.destination_id,
  requestId: row.request_id,
  fields: row.fields,
  reason: row.reason
})

const sameBytes = (a: Uint8Array | null, b: Uint8Array) => a !== null && Buffer.from(a).equals(b)

/** Rows walked per read during verification: memory stays flat however long the chain. */
const verificationPage = 5_000

/**
 * Heads published outside the database after every round, so a chain cut short whose head row was rewound too
 * (both are plain rows) still fails verification. A keyed hash says nothing about the entries.
 */
export const auditStream: StreamSpec = { name: "AUDIT", subjects: ["audit.anchor.>"] }
const anchorSubject = (chainId: string) => `audit.anchor.${chainId}`

interface Head {
  readonly chainId: string
  readonly seq: string
  readonly hash: string
}

export class AuditChain extends Context.Service<AuditChain, {
  /** Links what is committed and signed; answers how many entries it sealed and refused. */
  readonly seal: Effect.Effect<
    { readonly sealed: number; readonly refused: number; readonly head: Head | null },
    SqlError.SqlError
  >
  /** Publishes `head` to JetStream (when NATS is configured and up); a failure is logged, the next round retries. */
  anchor(head: Head): Effect.Effect<void>
  readonly verify: Effect.Effect<AuditVerification, SqlError.SqlError>
  /** Also for an erased customer (the trail is the record of the erasure); CustomerNotFound for an id never seen. */
  customerEntries(
    customerId: CustomerId,
    query: CustomerAuditQuery
  ): Effect.Effect<CustomerAuditPage, CustomerNotFound | SqlError.SqlError>
}>()("cms/privacy/AuditChain") {
  static readonly layer = Layer.effect(
    AuditChain,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const signing = yield* AuditSigning
      const nats = yield* Nats
      const sealBatch = yield* Config.Int("AUDIT_SEAL_BATCH").pipe(Config.withDefault(5_000))

      const seal = sql.withTransaction(Effect.gen(function*() {
        const [{ mine }] = yield* sql<{ readonly mine: boolean }>`SELECT pg_try_advisory_xact_lock(hashtext('cms/privacy/audit-seal')) AS mine`
        if (!mine) return { sealed: 0, refused: 0, head: null }
        const [head] = yield* sql<{
          readonly chain_id: string
          readonly head_seq: string
          readonly head_hash: Uint8Array | null
          readonly unsigned_through: string
        }>`SELECT chain_id::text, head_seq::text, head_hash, unsigned_through::text FROM audit_chain FOR UPDATE`
        const rows = yield* sql.unsafe<EntryRow>(
          `SELECT ${entryColumns} FROM audit_log
            WHERE chain_seq IS NULL AND NOT seal_refused ORDER BY audit_log.id LIMIT $1`,
          [sealBatch]
        )
        if (rows.length === 0) return { sealed: 0, refused: 0, head: null }
        const unsignedThrough = BigInt(head.unsigned_through)
        let seq = BigInt(head.head_seq)
        let previous: Uint8Array = head.head_hash ?? genesisHash
        const sealed = { ids: [] as Array<string>, seqs: [] as Array<string>, macs: [] as Array<Buffer>, hashes: [] as Array<Buffer> }
        const refused: Array<string> = []
        for (const row of rows) {
          const mac = signing.entryMac(contentOf(row))
          // Entries written before the chain existed are signed now; any later one must carry its signature (one
          // in the earlier range may carry it too: a signed write whose id was drawn before the range was set).
          const authentic = sameBytes(row.entry_mac, mac) || (BigInt(row.id) <= unsignedThrough && row.entry_mac === null)
          if (!authentic) {
            refused.push(row.id)
            continue
          }
          seq += 1n
          const hash = signing.chainHash(previous, { seq, id: row.id, atMicros: row.at_micros, entryMac: mac })
          sealed.ids.push(row.id)
          sealed.seqs.push(seq.toString())
          sealed.macs.push(mac)
          sealed.hashes.push(hash)
          previous = hash
        }
        if (sealed.ids.length > 0) {
          yield* sql`UPDATE audit_log SET chain_seq = linked.seq, chain_hash = linked.hash, entry_mac = linked.mac
            FROM unnest(${sealed.ids}::bigint[], ${sealed.seqs}::bigint[], ${sealed.macs}::bytea[], ${sealed.hashes}::bytea[])
              AS linked(id, seq, mac, hash)
            WHERE audit_log.id = linked.id`
          yield* sql`UPDATE audit_chain SET head_seq = ${seq.toString()}::bigint, head_hash = ${previous}`
        }
        if (refused.length > 0) {
          yield* sql`UPDATE audit_log SET seal_refused = true WHERE id = ANY(${refused}::bigint[])`
          yield* Effect.logError("audit: entries with a wrong signature were not sealed").pipe(
            Effect.annotateLogs({ ids: refused.join(",") })
          )
        }
        return {
          sealed: sealed.ids.length,
          refused: refused.length,
          head: sealed.ids.length === 0
            ? null
            : { chainId: head.chain_id, seq: seq.toString(), hash: Buffer.from(previous).toString("hex") }
        }
      })).pipe(Effect.withSpan("AuditChain.seal"))

      const anchor = (head: Head) =>
        Effect.flatMap(nats.jetstream, Option.match({
          onNone: () => Effect.void,
          onSome: (js) =>
            Effect.tryPromise(() =>
              js.publish(anchorSubject(head.chainId), JSON.stringify(head), { msgID: `audit-anchor-${head.chainId}-${head.seq}` })
            ).pipe(Effect.asVoid, Effect.catch((error) => logFailure("audit: publishing the chain's head failed", error)))
        }))

      /** The last head published for this chain, if NATS holds one. */
      const lastAnchor = (chainId: string) =>
        Effect.flatMap(nats.jetstream, Option.match({
          onNone: () => Effect.succeed(null),
          onSome: (js) =>
            Effect.tryPromise(async () => {
              const manager = await js.jetstreamManager()
              const message = await manager.streams.getMessage(auditStream.name, { last_by_subj: anchorSubject(chainId) })
              return message === null ? null : message.json<Head>()
            }).pipe(Effect.catch((error) =>
              Effect.as(logFailure("audit: the chain's published head could not be read", error), null)
            ))
        }))

      /**
       * The walk, in one read-only snapshot: the head and the rows as of one moment. Read apart, a round sealed
       * between them showed a chain longer than its head (a false `head-mismatch` while reads were audited).
       */
      const walkChain = (anchored: Head | null) => Effect.gen(function*() {
        yield* sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`
        const [head] = yield* sql<{ readonly chain_id: string; readonly head_seq: string; readonly head_hash: Uint8Array | null }>`
          SELECT chain_id::text, head_seq::text, head_hash FROM audit_chain`
        let hashAtAnchor: string | null = null
        const [counts] = yield* sql<{ readonly unsealed: number; readonly refused: number }>`
          SELECT count(*) FILTER (WHERE chain_seq IS NULL AND NOT seal_refused)::int AS unsealed,
            count(*) FILTER (WHERE seal_refused)::int AS refused
          FROM audit_log WHERE chain_seq IS NULL`
        let expected = 1n
        let previous: Uint8Array = genesisHash
        let firstBreak: AuditVerification["firstBreak"] = null
        walk: while (true) {
          const page = yield* sql.unsafe<SealedRow>(
            `SELECT ${entryColumns}, chain_seq::text, chain_hash FROM audit_log
              WHERE chain_seq >= $1 ORDER BY audit_log.chain_seq LIMIT $2`,
            [expected.toString(), verificationPage]
          )
          for (const row of page) {
            const seq = BigInt(row.chain_seq)
            if (seq !== expected) {
              firstBreak = { seq: expected.toString(), kind: "entry-missing" }
              break walk
            }
            const mac = signing.entryMac(contentOf(row))
            if (!sameBytes(row.entry_mac, mac)) {
              firstBreak = { seq: row.chain_seq, kind: "entry-altered" }
              break walk
            }
            const hash = signing.chainHash(previous, { seq, id: row.id, atMicros: row.at_micros, entryMac: mac })
            if (!sameBytes(row.chain_hash, hash)) {
              firstBreak = { seq: row.chain_seq, kind: "link-broken" }
              break walk
            }
            previous = hash
            if (anchored !== null && row.chain_seq === anchored.seq) hashAtAnchor = hash.toString("hex")
            expected += 1n
          }
          if (page.length < verificationPage) break
        }
        const walked = expected - 1n
        if (firstBreak === null && (walked.toString() !== head.head_seq || (walked > 0n && !sameBytes(head.head_hash, Buffer.from(previous))))) {
          firstBreak = { seq: (walked + 1n).toString(), kind: "head-mismatch" }
        }
        const anchor = anchored === null ? null : { seq: anchored.seq, matches: hashAtAnchor === anchored.hash }
        // A chain cut below its published head, with its head row rewound to match, fails here.
        if (firstBreak === null && anchor !== null && !anchor.matches) {
          firstBreak = BigInt(anchored!.seq) > walked
            ? { seq: (walked + 1n).toString(), kind: "head-mismatch" }
            : { seq: anchored!.seq, kind: "link-broken" }
        }
        return {
          intact: firstBreak === null,
          sealedEntries: Number(walked),
          unsealedEntries: counts.unsealed,
          refusedEntries: counts.refused,
          firstBreak,
          anchor,
          verifiedAt: new Date(yield* Clock.currentTimeMillis).toISOString()
        } satisfies AuditVerification
      })

      const verify = Effect.gen(function*() {
        const [{ chain_id }] = yield* sql<{ readonly chain_id: string }>`SELECT chain_id::text FROM audit_chain`
        // Read before the snapshot below, so it is never ahead of the head the snapshot holds.
        const anchored = yield* lastAnchor(chain_id)
        return yield* sql.withTransaction(walkChain(anchored))
      }).pipe(Effect.withSpan("AuditChain.verify"))

      const customerEntries = Effect.fn("AuditChain.customerEntries")(function*(customerId: CustomerId, query: CustomerAuditQuery) {
        const limit = query.limit ?? auditPageSize.default
        const known = yield* sql`SELECT 1 FROM customers WHERE id = ${customerId}`
        if (known.length === 0) return yield* new CustomerNotFound({ customerId })
        const rows = yield* sql<{
          readonly id: string
          readonly at: Date
          readonly actor: string
          readonly actor_role: Role
          readonly action: string
          readonly fields: ReadonlyArray<string>
          readonly request_id: string | null
          readonly reason: string | null
          readonly sealed: boolean
        }>`SELECT id::text, at, actor, actor_role, action, fields, request_id, reason, chain_seq IS NOT NULL AS sealed
          FROM audit_log
          WHERE customer_id = ${customerId} ${query.cursor === undefined ? sql`` : sql`AND id < ${query.cursor}::bigint`}
          ORDER BY audit_log.id DESC LIMIT ${limit + 1}`
        const data = rows.slice(0, limit).map((row): AuditEntryView => ({
          id: row.id,
          at: row.at.toISOString(),
          actor: row.actor,
          actorRole: row.actor_role,
          action: row.action,
          fields: row.fields,
          requestId: row.request_id,
          reason: row.reason,
          sealed: row.sealed
        }))
        return { data, nextCursor: rows.length > limit ? data[data.length - 1].id : null }
      })

      return AuditChain.of({ seal, anchor, verify, customerEntries })
    })
  )
}

/**
 * Seals every AUDIT_SEAL_INTERVAL (1 s), and again at once while a round finds work; each round that moved the
 * head publishes it.
 */
export const AuditSealerLive = Layer.effectDiscard(Effect.gen(function*() {
  const chain = yield* AuditChain
  const nats = yield* Nats
  yield* nats.ensureStream(auditStream)
  const interval = yield* Config.Duration("AUDIT_SEAL_INTERVAL").pipe(Config.withDefault(Duration.seconds(1)))
  const round = chain.seal.pipe(
    Effect.tap(({ head }) => head === null ? Effect.void : chain.anchor(head)),
    Effect.repeat({ while: ({ sealed, refused }) => sealed + refused > 0 }),
    loggingFailures("audit: sealing failed, will retry")
  )
  yield* Effect.forkScoped(round.pipe(Effect.repeat(Schedule.spaced(interval))))
}))
