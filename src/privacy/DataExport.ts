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

/**
 * The items of a keyset-paged list as JSON array elements: one chunk of text per page, pages separated by a
 * comma (only the last page can be short, and only a first page can be empty).
 */
const pagedItems = <A, E>(
  page: (cursor: string | undefined) => Effect.Effect<{ readonly data: ReadonlyArray<A>; readonly nextCursor: string | null }, E>,
  itemJson: (item: A) => string
): Stream.Stream<string, E> =>
  Stream.paginate(undefined as string | undefined, (cursor) =>
    Effect.map(page(cursor), (result) =>
      [
        result.data.length === 0 ? [] : [result.data.map(itemJson).join(",")],
        result.nextCursor === null ? Option.none() : Option.some(result.nextCursor)
      ] as const)).pipe(Stream.intersperse(","))

export class DataExport extends Context.Service<DataExport, {
  /** The export as UTF-8 JSON; fails before any byte when the customer is unknown or erased. */
  exportOf(options: CommandOptions & { readonly id: CustomerId }): Effect.Effect<Stream.Stream<Uint8Array>, CustomerNotFound>
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

      const exportOf = Effect.fn("DataExport.exportOf")(function*(options: CommandOptions & { readonly id: CustomerId }) {
        const { actor, requestId, id } = options
        const customer = yield* customers.get(actor, id)
        const [figures, stays] = yield* Effect.all([
          // No analytics for someone who withdrew consent to them: the export says so with null.
          analytics.analytics(id).pipe(Effect.catchTag("AnalyticsConsentWithdrawn", () => Effect.succeed(null))),
          segments.staysOf(id)
        ], { concurrency: 2 })
        yield* audit.record({ actor, action: "customer.export", customerId: id, requestId, fields: [] })
        const exportedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
        const head = `{"format":${JSON.stringify(exportFormat)},"exportedAt":${JSON.stringify(exportedAt)},` +
          `"customer":${customerJson(customer)},"analytics":${analyticsJson(figures)},` +
          `"consent":[`
        const consentEntries = pagedItems(
          (cursor) =>
            consents.history(id, { limit: consentHistoryPageSize.maximum, ...(cursor === undefined ? {} : { cursor }) }),
          consentJson
        )
        const segmentsAndAudit = `],"segments":[${stays.map(stayJson).join(",")}],"audit":[`
        const auditEntries = pagedItems(
          (cursor) => chain.customerEntries(id, { limit: auditPageSize.maximum, ...(cursor === undefined ? {} : { cursor }) }),
          auditJson
        )
        const events = pagedItems(
          (cursor) => timeline.page(actor.role, id, { limit: maxTimelinePageSize, ...(cursor === undefined ? {} : { cursor }) }),
          eventJson
        )
        // Once the first byte is out there is no status left to answer with: a failure mid-way (the database
        // gone, the customer erased meanwhile) ends the response short, which no JSON parser accepts.
        return Stream.make(head).pipe(
          Stream.concat(consentEntries),
          Stream.concat(Stream.make(segmentsAndAudit)),
          Stream.concat(auditEntries),
          Stream.concat(Stream.make(`],"events":[`)),
          Stream.concat(events),
          Stream.concat(Stream.make("]}")),
          Stream.orDie,
          Stream.encodeText
        )
      })

      return DataExport.of({ exportOf })
    })
  )
}
