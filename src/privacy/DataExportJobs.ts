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
import { Cause, Clock, Config, Context, Data, Duration, Effect, Exit, Layer, Option, Stream } from "effect"
import { createHash, createHmac, timingSafeEqual } from "node:crypto"
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
import { DataExport, documentStart, type ExportPosition } from "./DataExport.ts"
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

/** The field a chunk's resume point is sealed as, bound like the chunk. */
const resumeField = (jobId: string, seq: number) => `data-export-resume\u0000${jobId}\u0000${seq}`

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff

/**
 * Where the document goes on after a stored chunk: regenerated from `section` (at the page `cursor`), its first
 * `skip` characters are already stored and must hash to `digest`; `chars` and `size` (UTF-8 bytes) count the
 * document through the chunk.
 */
interface ResumePoint {
  readonly section: number
  readonly cursor: string | null
  readonly skip: number
  readonly digest: string
  readonly chars: number
  readonly size: number
}

const digestOf = (text: string) => createHash("sha256").update(text).digest("base64")
const emptyDigest = digestOf("")

/** The text a resumed attempt regenerated differs from what the stored chunks hold. */
class ResumeMismatch extends Data.TaggedError("ResumeMismatch")<{}> {}

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

      /**
       * The document's state after the last stored chunk, when there is one to resume after. Chunks stored without
       * a resume point (before migration 0029) are dropped: the document starts afresh.
       */
      const resumePoint = (row: ExportJobRow) =>
        Effect.flatMap(repo.lastChunk(row.id), Option.match({
          onNone: () => Effect.succeed(Option.none<{ readonly seq: number; readonly point: ResumePoint }>()),
          onSome: ({ seq, resume, wrapped }) =>
            resume === null
              ? Effect.as(repo.clearChunks(row.id), Option.none())
              : Effect.map(keyring.openerFor(row.customer_id, wrapped), (open) =>
                Option.some({ seq, point: open(resumeField(row.id, seq), resume) as ResumePoint }))
        }))

      /**
       * Writes the document in sealed chunks, a chunk's worth of text in memory at a time (and the page a chunk
       * ends in), after the chunks an earlier attempt stored. Each chunk is stored with where the document goes on
       * after it: the position of the page it ends in and how far into that page, with a digest of that stretch.
       * A later attempt regenerates that page, checks the stretch against the digest and writes on from there;
       * should the page have changed meanwhile (an event tracked into it), the document starts afresh. Answers
       * the document's size and chunk count.
       */
      const store = (row: ExportJobRow, from: Option.Option<{ readonly seq: number; readonly point: ResumePoint }>) =>
        Effect.gen(function*() {
          const start = Option.match(from, {
            onNone: () => ({ chunks: 0, chars: 0, size: 0, skip: 0, digest: emptyDigest, position: documentStart }),
            onSome: ({ seq, point }) => ({
              chunks: seq + 1,
              chars: point.chars,
              size: point.size,
              skip: point.skip,
              digest: point.digest,
              position: { section: point.section, cursor: point.cursor }
            })
          })
          const pieces = yield* exports.piecesFrom(
            { actor: actorOf(row), requestId: row.request_id, id: row.customer_id as CustomerId },
            start.position
          )
          // After the export's own check: an unknown or erased customer fails as CustomerNotFound, for good.
          const seal = yield* keyring.sealerFor(row.customer_id)
          const written = { chunks: start.chunks, chars: start.chars, size: start.size }
          // Text from `bufferAt` (absolute characters) on: the page the next cut may fall in, then what follows.
          let buffer = ""
          let bufferAt = start.chars - start.skip
          // Where each piece in the buffer begins: a cut resumes from the last one at or before it.
          let starts: Array<{ readonly at: number; readonly from: ExportPosition }> = [{ at: bufferAt, from: start.position }]
          let toVerify = start.skip
          const write = (end: number) => {
            const cut = written.chars + end
            const text = buffer.slice(written.chars - bufferAt, cut - bufferAt)
            const resumeFrom = starts.findLast((candidate) => candidate.at <= cut)!
            const seq = written.chunks++
            written.chars = cut
            written.size += Buffer.byteLength(text)
            const point: ResumePoint = {
              section: resumeFrom.from.section,
              cursor: resumeFrom.from.cursor,
              skip: cut - resumeFrom.at,
              digest: digestOf(buffer.slice(resumeFrom.at - bufferAt, cut - bufferAt)),
              chars: written.chars,
              size: written.size
            }
            buffer = buffer.slice(resumeFrom.at - bufferAt)
            bufferAt = resumeFrom.at
            starts = starts.filter((candidate) => candidate.at >= resumeFrom.at)
            return repo.insertChunk(row.id, seq, seal(chunkField(row.id, seq), text), seal(resumeField(row.id, seq), point))
          }
          const pending = () => bufferAt + buffer.length - written.chars
          /** Seals every full chunk of what is pending (a page of events can overshoot one several times). */
          const writeFull = Effect.whileLoop({
            while: () => pending() >= chunkChars,
            body: () =>
              Effect.suspend(() => {
                // Never between the halves of a surrogate pair: each chunk is encoded to UTF-8 on its own.
                const last = buffer.charCodeAt(written.chars - bufferAt + chunkChars - 1)
                return write(isHighSurrogate(last) ? chunkChars - 1 : chunkChars)
              }),
            step: () => {}
          })
          yield* Stream.runForEach(pieces, (piece) =>
            Effect.suspend(() => {
              buffer += piece.text
              starts.push({ at: bufferAt + buffer.length, from: piece.next })
              // What the stored chunks already hold of the first page, regenerated: it must be the same text.
              if (toVerify > 0 && buffer.length >= toVerify) {
                if (digestOf(buffer.slice(0, toVerify)) !== start.digest) return Effect.fail(new ResumeMismatch())
                toVerify = 0
              }
              return toVerify > 0 ? Effect.void : writeFull
            }))
          if (toVerify > 0) return yield* new ResumeMismatch()
          if (pending() > 0 || written.chunks === 0) yield* write(pending())
          return { chunks: written.chunks, size: written.size }
        })

      /** Resumes after the stored chunks, or starts afresh when there are none or the text they end in changed. */
      const storeResuming = (row: ExportJobRow) =>
        Effect.flatMap(resumePoint(row), (from) =>
          store(row, from).pipe(Effect.catchTag("ResumeMismatch", () =>
            Effect.logInfo("data export: the document changed under the stored chunks; starting afresh").pipe(
              Effect.annotateLogs({ exportId: row.id }),
              Effect.andThen(repo.clearChunks(row.id)),
              Effect.andThen(store(row, Option.none()))
            ))))

      const run = (row: ExportJobRow) =>
        Effect.gen(function*() {
          const outcome = yield* Effect.exit(storeResuming(row))
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
