/**
 * Asynchronous data exports: a request queues a durable job; the worker (any process: jobs are claimed FOR
 * UPDATE SKIP LOCKED with a lease) writes the document DataExport produces, with the requester's field-level
 * view, into ~1 MiB chunks sealed under the customer's data key; the download streams them back one at a time.
 * Memory stays flat whatever the document's size. Done jobs expire after EXPORT_LINK_TTL_MINUTES and lose their
 * document; erasure deletes them with everything else (and crypto-shredding leaves any copy unreadable).
 *
 * The download link carries a token, HMAC-SHA256 of the job's id under EXPORT_LINK_KEY (by default a key derived
 * from the newest master key), and still needs the caller's credentials with `privacy:export`: a leaked link alone
 * opens nothing (docs/privacy.md).
 */
import { PgClient } from "@effect/sql-pg"
import { Cause, Clock, Config, Context, Duration, Effect, Exit, Layer, Option, Stream } from "effect"
import { createHmac, timingSafeEqual } from "node:crypto"
import { type Actor, type CommandOptions, requirePermission } from "../domain/Access.ts"
import type { CustomerId } from "../domain/Customer.ts"
import {
  DataExportNotFound,
  type DataExportJob,
  type DownloadExportErrors,
  ExportLinkExpired,
  ExportNotReady,
  type GetExportErrors,
  type RequestExportErrors
} from "../domain/DataExportJob.ts"
import type { ErrorOf } from "../domain/Errors.ts"
import { Customers } from "../customers/Customers.ts"
import { errorClass, makeWakeSignal, passWhenWoken } from "../platform/BackgroundWork.ts"
import { uuidv7 } from "../platform/Ids.ts"
import { AuditLog } from "./AuditLog.ts"
import { configuredKey } from "./ConfiguredKey.ts"
import { DataExport } from "./DataExport.ts"
import { DataExportJobRepo, type ExportJobRow } from "./DataExportJobRepo.ts"
import { retryDelay } from "./Erasure.ts"
import { Keyring } from "./Keyring.ts"

/**
 * Characters of JSON per sealed chunk (about 1 MiB; sealed as a JSON string, so its quotes are escaped once
 * more): what a chunk costs in memory, written or read.
 */
const chunkChars = 1024 * 1024
/** A claimed job is not claimed again by another process within this lease (a 100,000-event export takes seconds). */
const claimLease = Duration.minutes(10)
const maxAttempts = 5

export const downloadPath = (jobId: string, token: string) => `/api/v1/data-exports/${jobId}/download/${token}`

/** The field a chunk is sealed as: bound to its job and position, so chunks cannot be swapped or reordered. */
const chunkField = (jobId: string, seq: number) => `data-export\u0000${jobId}\u0000${seq}`

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff

const actorOf = (row: ExportJobRow): Actor => ({ subject: row.actor_subject, role: row.actor_role, kind: row.actor_kind })

export interface Download {
  readonly job: DataExportJob
  readonly body: Stream.Stream<Uint8Array>
}

export class DataExportJobs extends Context.Service<DataExportJobs, {
  request(options: CommandOptions & { readonly id: CustomerId }): Effect.Effect<DataExportJob, ErrorOf<typeof RequestExportErrors>>
  status(options: CommandOptions & { readonly exportId: string }): Effect.Effect<DataExportJob, ErrorOf<typeof GetExportErrors>>
  /** The stored document; audited. Fails before any byte when the link is unknown, expired or not ready. */
  download(
    options: CommandOptions & { readonly exportId: string; readonly token: string }
  ): Effect.Effect<Download, ErrorOf<typeof DownloadExportErrors>>
  /** One pass: expired documents purged, then due jobs run. */
  readonly runDue: Effect.Effect<void>
  readonly woken: Effect.Effect<void>
}>()("cms/privacy/DataExportJobs") {
  static readonly layer = Layer.effect(
    DataExportJobs,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const repo = yield* DataExportJobRepo
      const exports = yield* DataExport
      const customers = yield* Customers
      const keyring = yield* Keyring
      const audit = yield* AuditLog
      const signal = yield* makeWakeSignal
      const linkTtl = Duration.minutes(yield* Config.Int("EXPORT_LINK_TTL_MINUTES").pipe(Config.withDefault(60)))
      // Without EXPORT_LINK_KEY, derived from the master key: production needs one secret fewer.
      const linkKey = Option.isSome(yield* Config.Redacted("EXPORT_LINK_KEY").pipe(Config.option))
        ? yield* configuredKey({
          name: "EXPORT_LINK_KEY",
          developmentKey: "development-export-link-key-32-bytes!",
          minimumBytes: 32,
          purpose: "export download links"
        })
        : keyring.derivedKey("export-link")

      const tokenOf = (jobId: string) => createHmac("sha256", linkKey).update(`data-export\u0000${jobId}`).digest("base64url")
      const tokenMatches = (jobId: string, token: string) => {
        const expected = Buffer.from(tokenOf(jobId))
        const given = Buffer.from(token)
        return given.length === expected.length && timingSafeEqual(given, expected)
      }

      const viewOf = (row: ExportJobRow, now: number): DataExportJob => {
        const downloadable = row.status === "done" && row.expires_at !== null && row.expires_at.getTime() > now
        return {
          id: row.id,
          customerId: row.customer_id as CustomerId,
          status: row.status === "done" && !downloadable ? "expired" : row.status,
          requestedAt: row.requested_at.toISOString(),
          completedAt: row.completed_at?.toISOString() ?? null,
          expiresAt: row.expires_at?.toISOString() ?? null,
          size: row.size,
          download: downloadable ? downloadPath(row.id, tokenOf(row.id)) : null
        }
      }

      const request = Effect.fn("DataExportJobs.request")(function*(
        { actor, requestId, id }: CommandOptions & { readonly id: CustomerId }
      ) {
        yield* requirePermission(actor, "privacy:export")
        // Unknown and erased customers have nothing to export (404 now, not a failed job later).
        yield* customers.get(actor, id)
        const at = new Date(yield* Clock.currentTimeMillis)
        const row = yield* sql.withTransaction(Effect.gen(function*() {
          const row = yield* repo.insert({ id: uuidv7(), customerId: id, actor, requestId, at })
          yield* audit.record({ actor, action: "customer.export.request", customerId: id, requestId, fields: [] })
          return row
        })).pipe(Effect.orDie)
        yield* signal.wake
        return viewOf(row, at.getTime())
      })

      const found = (exportId: string) =>
        Effect.flatMap(repo.find(exportId), Option.match({
          onNone: () => Effect.fail(new DataExportNotFound({ exportId })),
          onSome: Effect.succeed
        }))

      const status = Effect.fn("DataExportJobs.status")(function*({ actor, exportId }: CommandOptions & { readonly exportId: string }) {
        yield* requirePermission(actor, "privacy:export")
        const row = yield* found(exportId)
        return viewOf(row, yield* Clock.currentTimeMillis)
      })

      const chunks = (row: ExportJobRow): Stream.Stream<Uint8Array> =>
        Stream.paginate(0, (seq: number) =>
          Effect.gen(function*() {
            const chunk = yield* repo.chunk(row.id, seq)
            // Purged (expiry, erasure) while the download was under way: the response ends short.
            if (Option.isNone(chunk)) return yield* Effect.die(new Error(`export ${row.id} lost chunk ${seq} mid-download`))
            const open = yield* keyring.openerFor(row.customer_id, chunk.value.wrapped)
            const text = yield* Effect.sync(() => open(chunkField(row.id, seq), chunk.value.sealed) as string)
            return [[text], seq + 1 < (row.chunks ?? 0) ? Option.some(seq + 1) : Option.none()] as const
          })).pipe(Stream.encodeText)

      const download = Effect.fn("DataExportJobs.download")(function*(
        { actor, requestId, exportId, token }: CommandOptions & { readonly exportId: string; readonly token: string }
      ) {
        yield* requirePermission(actor, "privacy:export")
        const row = yield* found(exportId)
        // A wrong token is answered as an unknown job: it tells nothing about which jobs exist.
        if (!tokenMatches(row.id, token)) return yield* new DataExportNotFound({ exportId })
        const job = viewOf(row, yield* Clock.currentTimeMillis)
        if (job.status === "expired") return yield* new ExportLinkExpired({ exportId })
        if (job.status !== "done") return yield* new ExportNotReady({ exportId, jobStatus: job.status })
        yield* audit.record({ actor, action: "customer.export.download", customerId: row.customer_id, requestId, fields: [] })
        return { job, body: chunks(row) }
      })

      /** Writes the document in sealed chunks, a chunk's worth of text in memory at a time; its size and chunk count. */
      const store = (row: ExportJobRow) =>
        Effect.gen(function*() {
          yield* repo.clearChunks(row.id)
          const document = yield* exports.exportOf({ actor: actorOf(row), requestId: row.request_id, id: row.customer_id as CustomerId })
          const seal = yield* keyring.sealerFor(row.customer_id)
          const decoder = new TextDecoder()
          const written = { chunks: 0, size: 0 }
          let pending = ""
          const write = (text: string) => {
            const seq = written.chunks++
            return repo.insertChunk(row.id, seq, seal(chunkField(row.id, seq), text))
          }
          /** Seals every full chunk of what is pending (a page of events can overshoot one several times). */
          const writeFull = Effect.whileLoop({
            while: () => pending.length >= chunkChars,
            body: () =>
              Effect.suspend(() => {
                // Never between the halves of a surrogate pair: each chunk is encoded to UTF-8 on its own.
                const end = isHighSurrogate(pending.charCodeAt(chunkChars - 1)) ? chunkChars - 1 : chunkChars
                const text = pending.slice(0, end)
                pending = pending.slice(end)
                return write(text)
              }),
            step: () => {}
          })
          yield* Stream.runForEach(document, (bytes) => {
            written.size += bytes.byteLength
            pending += decoder.decode(bytes, { stream: true })
            return writeFull
          })
          pending += decoder.decode()
          if (pending.length > 0 || written.chunks === 0) yield* write(pending)
          return written
        })

      const run = (row: ExportJobRow) =>
        Effect.gen(function*() {
          const outcome = yield* Effect.exit(store(row))
          const at = yield* Clock.currentTimeMillis
          if (Exit.isSuccess(outcome)) {
            const { chunks, size } = outcome.value
            return yield* repo.complete(row.id, {
              at: new Date(at),
              expiresAt: new Date(at + Duration.toMillis(linkTtl)),
              size,
              chunks
            })
          }
          if (Cause.hasInterruptsOnly(outcome.cause)) return yield* Effect.interrupt
          // The class only: a driver's message can quote a row, and rows hold personal data.
          const failure = Cause.squash(outcome.cause)
          const final = errorClass(failure) === "CustomerNotFound" || row.attempts >= maxAttempts
          yield* Effect.logWarning("data export: attempt failed").pipe(
            Effect.annotateLogs({ exportId: row.id, attempt: row.attempts, error: errorClass(failure), final })
          )
          yield* repo.attemptFailed(
            row.id,
            errorClass(failure),
            final ? null : new Date(at + Duration.toMillis(retryDelay(row.attempts)))
          )
        })

      const runDue = Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        yield* repo.expire(new Date(at))
        const claimed = yield* repo.claimDue(new Date(at), new Date(at + Duration.toMillis(claimLease)), 5)
        yield* Effect.forEach(claimed, run, { discard: true })
      }).pipe(Effect.withSpan("DataExportJobs.runDue"))

      return DataExportJobs.of({ request, status, download, runDue, woken: signal.woken })
    })
  )
}

/** The export worker: a pass when a job is requested and every 5 seconds (expiry, retries, jobs after a restart). */
export const DataExportWorkerLive = Layer.effectDiscard(Effect.gen(function*() {
  const jobs = yield* DataExportJobs
  yield* passWhenWoken("data export: pass failed", jobs.runDue, jobs.woken, "5 seconds")
}))
