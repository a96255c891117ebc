/**
 * The audit trail: who did what to which customer or API key, written in the
 * same transaction as the change. Field names only, never values (no PII, no
 * secrets here). Each entry is signed as it is written; AuditChain links the
 * committed entries into a chain that verification walks (docs/audit.md).
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Context, Effect, Layer } from "effect"
import type { SqlClient, Statement } from "effect/sql"
import type { Actor } from "../domain/Access.ts"
import { CommandSql, guardName } from "../platform/Database.ts"
import { groupCommit } from "../platform/GroupCommit.ts"
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

/**
 * Rows a group of read entries gathers up to (it may pass it by one list page of 500): 11 parameters each, well
 * below PostgreSQL's 65,535 per statement.
 */
const readGroupRows = 2_000

export class AuditLog extends Context.Service<AuditLog, {
  record(entry: AuditEntry): Effect.Effect<void>
  /** The same write as a statement, to run with the change as one statement. */
  recordStatement(entry: AuditEntry): Statement.Statement<unknown>
  /** Entries of several changes committed together (a group of creates), as one insert. */
  recordAllStatement(entries: ReadonlyArray<AuditEntry>): Statement.Statement<unknown>
  /** The entry written only when the guard of a guarded statement (Database.ts) matched. */
  recordGuardedStatement(entry: AuditEntry, guard?: string): Statement.Statement<unknown>
  /**
   * Entries of a read, committed before it succeeds: the reads of the same moment (across requests) share one
   * multi-row insert. A failed insert is a defect, so the read answers 500 and serves nothing (fail closed).
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
      // Any number of entries as one statement text, the rows as one JSON parameter: a VALUES list per count
      // would be parsed and prepared again for every group size, in PostgreSQL and in the driver.
      const insertAll = (client: SqlClient.SqlClient, entries: ReadonlyArray<AuditEntry>) => {
        const rows = entries.map((entry) => {
          const content = contentOf(entry)
          return { ...content, entryMac: signing.entryMac(content).toString("hex") }
        })
        return client`INSERT INTO audit_log ${columns}
          SELECT actor, "actorRole", action, "customerId", "apiKeyId", "segmentId", "destinationId", "requestId",
            fields, reason, decode("entryMac", 'hex')
          FROM ROWS FROM (jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS (actor text, "actorRole" text,
            action text, "customerId" uuid, "apiKeyId" uuid, "segmentId" uuid, "destinationId" uuid, "requestId" text,
            fields text[], reason text, "entryMac" text)) WITH ORDINALITY AS entry (actor, "actorRole", action,
            "customerId", "apiKeyId", "segmentId", "destinationId", "requestId", fields, reason, "entryMac", position)
          ORDER BY position`
      }
      const recordAllStatement = (entries: ReadonlyArray<AuditEntry>) => insertAll(sql, entries)
      const recordStatement = (entry: AuditEntry) => recordAllStatement([entry])
      const recordGuardedStatement = (entry: AuditEntry, guard = guardName) =>
        sql`INSERT INTO audit_log ${columns} SELECT ${values(entry)} FROM ${sql.literal(guard)}`
      // A read is answered only once its entries are committed (a crash loses no answered read's entry). Group
      // commit keeps that cheap: while one insert runs, the next reads' entries gather for the following one. On
      // the commands' pool: a commit on the queries' pool would hold up the reads pipelined behind it.
      const commandSql = yield* CommandSql
      const readWriters = yield* Config.Int("AUDIT_READ_WRITERS").pipe(Config.withDefault(2))
      const reads = yield* groupCommit({
        writers: readWriters,
        maxRows: readGroupRows,
        rowsOf: (entries: ReadonlyArray<AuditEntry>) => entries.length,
        write: (groups) => Effect.as(insertAll(commandSql, groups.flat()), groups.map(() => undefined))
      })
      return AuditLog.of({
        recordReads: Effect.fn("AuditLog.recordReads")(function*(entries: ReadonlyArray<AuditEntry>) {
          if (entries.length > 0) yield* reads.submit(entries).pipe(Effect.orDie)
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
