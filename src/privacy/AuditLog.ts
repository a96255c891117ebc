/**
 * The audit trail: who did what to which customer or API key, written in the
 * same transaction as the change. Field names only, never values (no PII, no
 * secrets here). Each entry is signed as it is written; AuditChain links the
 * committed entries into a chain that verification walks (docs/audit.md).
 */
import { PgClient } from "@effect/sql-pg"
import { type Cause, Context, Effect, Fiber, Layer, Queue, Schedule } from "effect"
import type { Statement } from "effect/sql"
import type { Actor } from "../domain/Access.ts"
import { guardName } from "../platform/Database.ts"
import { AuditSigning, type SignedContent } from "./AuditSigning.ts"

export interface AuditEntry {
  readonly actor: Actor
  readonly action: string
  /** The customer concerned; absent for actions on API keys. */
  readonly customerId?: string
  readonly apiKeyId?: string
  /** The segment concerned, for changes of segments and their members. */
  readonly segmentId?: string
  /** The destination concerned, for changes of destinations and replays of their dead letters. */
  readonly destinationId?: string
  readonly requestId: string | null
  readonly fields: ReadonlyArray<string>
  /** Why, where the caller said (privacy operations name their legal ground or ticket). */
  readonly reason?: string
}

const contentOf = (entry: AuditEntry): SignedContent => ({
  actor: `${entry.actor.kind}:${entry.actor.subject}`,
  actorRole: entry.actor.role,
  action: entry.action,
  customerId: entry.customerId ?? null,
  apiKeyId: entry.apiKeyId ?? null,
  segmentId: entry.segmentId ?? null,
  destinationId: entry.destinationId ?? null,
  requestId: entry.requestId,
  fields: entry.fields,
  reason: entry.reason ?? null
})

/** Rows per insert of read entries: 11 parameters each, well below PostgreSQL's 65,535 per statement. */
const readBatchSize = 2_000
/** Read entries queued at most: 20 pages of 500; beyond, reads wait for the writer. */
const readBufferSize = 10_000

export class AuditLog extends Context.Service<AuditLog, {
  record(entry: AuditEntry): Effect.Effect<void>
  /** The same write as a statement, to run with the change as one statement. */
  recordStatement(entry: AuditEntry): Statement.Statement<unknown>
  /** Entries of several changes committed together (a group of creates), as one insert. */
  recordAllStatement(entries: ReadonlyArray<AuditEntry>): Statement.Statement<unknown>
  /** The entry written only when the guard of a guarded statement (Database.ts) matched. */
  recordGuardedStatement(entry: AuditEntry, guard?: string): Statement.Statement<unknown>
  /**
   * Entries of reads, queued and written in the background as multi-row inserts of what has gathered (across
   * requests, at most `readBatchSize` rows per statement).
   */
  recordReads(entries: ReadonlyArray<AuditEntry>): Effect.Effect<void>
}>()("cms/privacy/AuditLog") {
  static readonly layer = Layer.effect(
    AuditLog,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const signing = yield* AuditSigning
      const values = (entry: AuditEntry) => {
        const content = contentOf(entry)
        return sql`${content.actor}::text, ${content.actorRole}::text, ${content.action}::text,
          ${content.customerId}::uuid, ${content.apiKeyId}::uuid, ${content.segmentId}::uuid,
          ${content.destinationId}::uuid, ${content.requestId}::text, ${content.fields}::text[], ${content.reason}::text,
          ${signing.entryMac(content)}::bytea`
      }
      const columns = sql`(actor, actor_role, action, customer_id, api_key_id, segment_id, destination_id, request_id,
        fields, reason, entry_mac)`
      const recordAllStatement = (entries: ReadonlyArray<AuditEntry>) =>
        sql`INSERT INTO audit_log ${columns} VALUES ${sql.csv(entries.map((entry) => sql`(${values(entry)})`))}`
      const recordStatement = (entry: AuditEntry) => recordAllStatement([entry])
      const recordGuardedStatement = (entry: AuditEntry, guard = guardName) =>
        sql`INSERT INTO audit_log ${columns} SELECT ${values(entry)} FROM ${sql.literal(guard)}`
      // Read entries are buffered and written by one fiber in multi-row inserts, off the reads' path: a read
      // waits for its entry to be queued, not written (waiting for the write halved get throughput). A full
      // buffer makes reads wait (never drops entries); shutdown writes what is queued. A crash loses at most
      // the entries of the insert under way and those queued behind it.
      const readQueue = yield* Queue.bounded<AuditEntry, Cause.Done>(readBufferSize)
      const writeReads = Effect.flatMap(Queue.takeBetween(readQueue, 1, readBatchSize), (entries) =>
        recordAllStatement(entries).pipe(
          Effect.retry({ times: 5, schedule: Schedule.exponential("100 millis") }),
          Effect.catch((error) =>
            Effect.logError("audit: read entries could not be written").pipe(
              Effect.annotateLogs({ entries: entries.length, error: error._tag })
            )
          )
        ))
      const writer = yield* Effect.forkScoped(Effect.catchTag(Effect.forever(writeReads), "Done", () => Effect.void))
      yield* Effect.addFinalizer(() => Queue.end(readQueue).pipe(Effect.andThen(Fiber.join(writer)), Effect.exit, Effect.asVoid))
      return AuditLog.of({
        recordReads: Effect.fn("AuditLog.recordReads")(function*(entries: ReadonlyArray<AuditEntry>) {
          yield* Queue.offerAll(readQueue, entries)
        }),
        recordStatement,
        recordAllStatement,
        recordGuardedStatement,
        record: Effect.fn("AuditLog.record")(function*(entry: AuditEntry) {
          yield* recordStatement(entry).pipe(Effect.orDie)
        })
      })
    })
  )
}
