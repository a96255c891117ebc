/**
 * A person's data export (GDPR art. 15 and 20): the profile, analytics and segment stays read at once, then
 * the audit trail and the events streamed page by page, so a customer with a million events is exported in
 * flat memory. The format is CustomerDataExport (docs/privacy.md).
 */
import { Clock, Context, Effect, Layer, Option, Schema, Stream } from "effect"
import { CustomerAnalytics as AnalyticsSchema } from "../domain/Analytics.ts"
import type { CommandOptions } from "../domain/Access.ts"
import { AuditEntryView } from "../domain/Audit.ts"
import { ConsentRecord, consentHistoryPageSize } from "../domain/Consent.ts"
import { auditPageSize } from "../domain/Audit.ts"
import type { CustomerId } from "../domain/Customer.ts"
import { ServedCustomer } from "../domain/CustomerQuery.ts"
import { exportFormat, SegmentStay } from "../domain/DataExport.ts"
import type { CustomerNotFound } from "../domain/Errors.ts"
import { maxTimelinePageSize, TrackedEvent } from "../domain/Event.ts"
import { CustomerAnalytics } from "../analytics/CustomerAnalytics.ts"
import { Customers } from "../customers/Customers.ts"
import { EventTimeline } from "../events/EventTimeline.ts"
import { SegmentRepo } from "../segments/SegmentRepo.ts"
import { AuditChain } from "./AuditChain.ts"
import { AuditLog } from "./AuditLog.ts"
import { ConsentRepo } from "./ConsentRepo.ts"

const json = <A, I>(schema: Schema.Codec<A, I>) => {
  const encode = Schema.encodeSync(schema)
  return (value: A) => JSON.stringify(encode(value))
}
const customerJson = json(ServedCustomer)
const analyticsJson = json(Schema.NullOr(AnalyticsSchema))
const consentJson = json(ConsentRecord)
const stayJson = json(SegmentStay)
const auditJson = json(AuditEntryView)
const eventJson = json(TrackedEvent)

/** Where a document stands: the section to write next and, in a paged section, the cursor of its next page. */
export interface ExportPosition {
  readonly section: number
  readonly cursor: string | null
}

export const documentStart: ExportPosition = { section: 0, cursor: null }

/** A stretch of a document's text (a fixed part or a page of items) and the position right after it. */
export interface ExportPiece {
  readonly text: string
  readonly next: ExportPosition
}

type Section<E> =
  | { readonly kind: "text"; readonly text: Effect.Effect<string, E> }
  | {
    readonly kind: "paged"
    readonly page: (cursor: string | null) => Effect.Effect<{ readonly items: ReadonlyArray<string>; readonly nextCursor: string | null }, E>
  }

/** The items of a keyset-paged list as JSON, a page at a time. */
const paged = <A, E>(
  page: (cursor: string | undefined) => Effect.Effect<{ readonly data: ReadonlyArray<A>; readonly nextCursor: string | null }, E>,
  itemJson: (item: A) => string
): Section<E> => ({
  kind: "paged",
  page: (cursor) =>
    Effect.map(page(cursor ?? undefined), (result) => ({ items: result.data.map(itemJson), nextCursor: result.nextCursor }))
})

/**
 * The document's pieces from `from` on. A page's items are separated by commas, and so are pages: a page after
 * the first (a cursor) starts with one, unless it is empty.
 */
const piecesFrom = <E>(sections: ReadonlyArray<Section<E>>, from: ExportPosition): Stream.Stream<ExportPiece, E> => {
  const pieceAt = (position: ExportPosition): Effect.Effect<ExportPiece, E> => {
    const section = sections[position.section]
    const after = (cursor: string | null): ExportPosition =>
      cursor === null ? { section: position.section + 1, cursor: null } : { section: position.section, cursor }
    return section.kind === "text"
      ? Effect.map(section.text, (text) => ({ text, next: after(null) }))
      : Effect.map(section.page(position.cursor), ({ items, nextCursor }) => ({
        text: (position.cursor === null || items.length === 0 ? "" : ",") + items.join(","),
        next: after(nextCursor)
      }))
  }
  return from.section >= sections.length ? Stream.empty : Stream.paginate(from, (position) =>
    Effect.map(pieceAt(position), (piece) =>
      [[piece], piece.next.section < sections.length ? Option.some(piece.next) : Option.none()] as const))
}

export class DataExport extends Context.Service<DataExport, {
  /** The export as UTF-8 JSON; fails before any byte when the customer is unknown or erased. */
  exportOf(options: CommandOptions & { readonly id: CustomerId }): Effect.Effect<Stream.Stream<Uint8Array>, CustomerNotFound>
  /**
   * The document's pieces from a position on (asynchronous exports resume where a crashed worker stopped). From
   * the start it reads and audits the profile first, and fails before any piece when the customer is unknown or
   * erased; from a later position the sections before it are not read again.
   */
  piecesFrom(
    options: CommandOptions & { readonly id: CustomerId },
    from: ExportPosition
  ): Effect.Effect<Stream.Stream<ExportPiece>, CustomerNotFound>
}>()("cms/privacy/DataExport") {
  static readonly layer = Layer.effect(
    DataExport,
    Effect.gen(function*() {
      const customers = yield* Customers
      const analytics = yield* CustomerAnalytics
      const segments = yield* SegmentRepo
      const chain = yield* AuditChain
      const timeline = yield* EventTimeline
      const audit = yield* AuditLog
      const consents = yield* ConsentRepo

      /** The head, read (and the export audited) only when the document starts afresh. */
      const headOf = Effect.fn("DataExport.head")(function*({ actor, requestId, id }: CommandOptions & { readonly id: CustomerId }) {
        const customer = yield* customers.get(actor, id)
        const [figures, stays] = yield* Effect.all([
          // No analytics for someone who withdrew consent to them: the export says so with null.
          analytics.analytics(id).pipe(Effect.catchTag("AnalyticsConsentWithdrawn", () => Effect.succeed(null))),
          segments.staysOf(id)
        ], { concurrency: 2 })
        yield* audit.record({ actor, action: "customer.export", customerId: id, requestId, fields: [] })
        const exportedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
        const text = `{"format":${JSON.stringify(exportFormat)},"exportedAt":${JSON.stringify(exportedAt)},` +
          `"customer":${customerJson(customer)},"analytics":${analyticsJson(figures)},` +
          `"consent":[`
        return { text, stays }
      })

      const piecesOf = Effect.fn("DataExport.piecesFrom")(function*(
        options: CommandOptions & { readonly id: CustomerId },
        from: ExportPosition
      ) {
        const { id } = options
        const head = from.section === 0 ? Option.some(yield* headOf(options)) : Option.none()
        const stays = Option.match(head, { onNone: () => segments.staysOf(id), onSome: ({ stays }) => Effect.succeed(stays) })
        const sections: ReadonlyArray<Section<unknown>> = [
          { kind: "text", text: Effect.succeed(Option.match(head, { onNone: () => "", onSome: ({ text }) => text })) },
          paged(
            (cursor) => consents.history(id, { limit: consentHistoryPageSize.maximum, ...(cursor === undefined ? {} : { cursor }) }),
            consentJson
          ),
          { kind: "text", text: Effect.map(stays, (stays) => `],"segments":[${stays.map(stayJson).join(",")}],"audit":[`) },
          paged(
            (cursor) => chain.customerEntries(id, { limit: auditPageSize.maximum, ...(cursor === undefined ? {} : { cursor }) }),
            auditJson
          ),
          { kind: "text", text: Effect.succeed(`],"events":[`) },
          paged(
            (cursor) => timeline.page(options.actor.role, id, { limit: maxTimelinePageSize, ...(cursor === undefined ? {} : { cursor }) }),
            eventJson
          ),
          { kind: "text", text: Effect.succeed("]}") }
        ]
        // Once the first byte is out there is no status left to answer with: a failure mid-way (the database
        // gone, the customer erased meanwhile) ends the document short, which no JSON parser accepts.
        return piecesFrom(sections, from).pipe(Stream.orDie)
      })

      const exportOf = Effect.fn("DataExport.exportOf")(function*(options: CommandOptions & { readonly id: CustomerId }) {
        const pieces = yield* piecesOf(options, documentStart)
        return pieces.pipe(Stream.map((piece) => piece.text), Stream.encodeText)
      })

      return DataExport.of({ exportOf, piecesFrom: piecesOf })
    })
  )
}
