/**
 * The SQL of asynchronous data exports: the jobs and their sealed chunks (migration 0025). Sealing, the worker
 * and the download live in DataExportJobs.ts; erasure (CustomerEntity Delete) removes a customer's jobs here.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option } from "effect"
import type { Actor } from "../domain/Access.ts"

export interface ExportJobRow {
  readonly id: string
  readonly customer_id: string
  readonly actor_subject: string
  readonly actor_role: Actor["role"]
  readonly actor_kind: Actor["kind"]
  readonly request_id: string | null
  readonly status: "queued" | "running" | "done" | "failed" | "expired"
  readonly requested_at: Date
  readonly attempts: number
  readonly completed_at: Date | null
  readonly expires_at: Date | null
  readonly size: number | null
  readonly chunks: number | null
}

/** bigint comes back from the driver as text: the size is read as a double (exact below 2^53 bytes). */
const columns = `id, customer_id, actor_subject, actor_role, actor_kind, request_id, status, requested_at, attempts,
  completed_at, expires_at, size::float8 AS size, chunks`

export class DataExportJobRepo extends Context.Service<DataExportJobRepo, {
  insert(job: {
    readonly id: string
    readonly customerId: string
    readonly actor: Actor
    readonly requestId: string | null
    readonly at: Date
  }): Effect.Effect<ExportJobRow>
  find(id: string): Effect.Effect<Option.Option<ExportJobRow>>
  /** Marks up to `limit` due jobs running until `leaseEnd` (a crashed worker's jobs come back after it). */
  claimDue(at: Date, leaseEnd: Date, limit: number): Effect.Effect<ReadonlyArray<ExportJobRow>>
  /** Drops the stored chunks, so the document starts afresh. */
  clearChunks(jobId: string): Effect.Effect<void>
  /**
   * A chunk and where the document continues after it (sealed), committed together. Fails (a foreign key
   * violation) when the job is gone meanwhile: its customer was erased.
   */
  insertChunk(jobId: string, seq: number, sealed: Uint8Array, resume: Uint8Array): Effect.Effect<void>
  /** The last chunk stored, to resume after: its position and sealed resume point, with the customer's wrapped key. */
  lastChunk(jobId: string): Effect.Effect<Option.Option<{ readonly seq: number; readonly resume: Uint8Array | null; readonly wrapped: Uint8Array | null }>>
  complete(jobId: string, done: { readonly at: Date; readonly expiresAt: Date; readonly size: number; readonly chunks: number }): Effect.Effect<void>
  /** A failed attempt: queued again at `retryAt` (its chunks kept, to resume after), or failed for good when it is null (its chunks dropped). */
  attemptFailed(jobId: string, reason: string, retryAt: Date | null): Effect.Effect<void>
  /** The sealed chunk with the customer's wrapped data key (null once destroyed). */
  chunk(jobId: string, seq: number): Effect.Effect<Option.Option<{ readonly sealed: Uint8Array; readonly wrapped: Uint8Array | null }>>
  /** Done jobs past their expiry become `expired` and lose their document; how many. */
  expire(at: Date): Effect.Effect<number>
  /** Erasure: the customer's jobs and stored documents, in the caller's transaction. */
  eraseCustomer(customerId: string): Effect.Effect<void>
}>()("cms/privacy/DataExportJobRepo") {
  static readonly layer = Layer.effect(
    DataExportJobRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const selected = sql.literal(columns)
      return DataExportJobRepo.of({
        insert: Effect.fn("DataExportJobRepo.insert")(function*({ id, customerId, actor, requestId, at }) {
          const [row] = yield* sql<ExportJobRow>`INSERT INTO data_export_jobs (id, customer_id, actor_subject, actor_role,
              actor_kind, request_id, status, requested_at, next_attempt_at)
            VALUES (${id}, ${customerId}, ${actor.subject}, ${actor.role}, ${actor.kind}, ${requestId}, 'queued', ${at}, ${at})
            RETURNING ${selected}`.pipe(Effect.orDie)
          return row
        }),
        find: Effect.fn("DataExportJobRepo.find")(function*(id: string) {
          const rows = yield* sql<ExportJobRow>`SELECT ${selected} FROM data_export_jobs WHERE id = ${id}`.pipe(Effect.orDie)
          return Option.fromNullishOr(rows[0])
        }),
        claimDue: Effect.fn("DataExportJobRepo.claimDue")(function*(at: Date, leaseEnd: Date, limit: number) {
          return yield* sql<ExportJobRow>`UPDATE data_export_jobs SET status = 'running', attempts = attempts + 1,
              next_attempt_at = ${leaseEnd}
            WHERE id IN (SELECT id FROM data_export_jobs WHERE status IN ('queued', 'running') AND next_attempt_at <= ${at}
              ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
            RETURNING ${selected}`.pipe(Effect.orDie)
        }),
        clearChunks: (jobId) => sql`DELETE FROM data_export_chunks WHERE job_id = ${jobId}`.pipe(Effect.orDie, Effect.asVoid),
        insertChunk: (jobId, seq, sealed, resume) =>
          sql`INSERT INTO data_export_chunks (job_id, seq, sealed, resume) VALUES (${jobId}, ${seq}, ${sealed}, ${resume})`.pipe(
            Effect.orDie,
            Effect.asVoid
          ),
        lastChunk: Effect.fn("DataExportJobRepo.lastChunk")(function*(jobId: string) {
          const rows = yield* sql<{ readonly seq: number; readonly resume: Uint8Array | null; readonly wrapped: Uint8Array | null }>`
            SELECT c.seq, c.resume, k.wrapped
            FROM data_export_chunks c JOIN data_export_jobs j ON j.id = c.job_id
            LEFT JOIN customer_keys.data_keys k ON k.customer_id = j.customer_id
            WHERE c.job_id = ${jobId} ORDER BY c.seq DESC LIMIT 1`.pipe(Effect.orDie)
          return Option.fromNullishOr(rows[0])
        }),
        complete: (jobId, { at, chunks, expiresAt, size }) =>
          sql`UPDATE data_export_jobs SET status = 'done', completed_at = ${at}, expires_at = ${expiresAt},
              size = ${size}, chunks = ${chunks}, last_error = NULL
            WHERE id = ${jobId} AND status = 'running'`.pipe(Effect.orDie, Effect.asVoid),
        attemptFailed: (jobId, reason, retryAt) =>
          sql.withTransaction(Effect.gen(function*() {
            if (retryAt === null) yield* sql`DELETE FROM data_export_chunks WHERE job_id = ${jobId}`
            yield* sql`UPDATE data_export_jobs SET last_error = ${reason},
                status = ${retryAt === null ? "failed" : "queued"}, next_attempt_at = coalesce(${retryAt}, next_attempt_at)
              WHERE id = ${jobId} AND status = 'running'`
          })).pipe(Effect.orDie),
        chunk: Effect.fn("DataExportJobRepo.chunk")(function*(jobId: string, seq: number) {
          const rows = yield* sql<{ readonly sealed: Uint8Array; readonly wrapped: Uint8Array | null }>`SELECT c.sealed, k.wrapped
            FROM data_export_chunks c JOIN data_export_jobs j ON j.id = c.job_id
            LEFT JOIN customer_keys.data_keys k ON k.customer_id = j.customer_id
            WHERE c.job_id = ${jobId} AND c.seq = ${seq}`.pipe(Effect.orDie)
          return Option.fromNullishOr(rows[0])
        }),
        expire: Effect.fn("DataExportJobRepo.expire")(function*(at: Date) {
          const rows = yield* sql<{ readonly id: string }>`WITH expired AS (
              UPDATE data_export_jobs SET status = 'expired' WHERE status = 'done' AND expires_at <= ${at} RETURNING id
            ), removed AS (
              DELETE FROM data_export_chunks WHERE job_id IN (SELECT id FROM expired)
            )
            SELECT id FROM expired`.pipe(Effect.orDie)
          return rows.length
        }),
        eraseCustomer: (customerId) =>
          sql`DELETE FROM data_export_jobs WHERE customer_id = ${customerId}`.pipe(Effect.orDie, Effect.asVoid)
      })
    })
  )
}
