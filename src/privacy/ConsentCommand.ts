/**
 * A change of consent, run by the customer's entity (so it is serialised with the customer's other commands):
 * one transaction writes the history entries, the latest state per purpose, the profile's `consent` view
 * (version + 1), the `customer.consent-changed` event and the audit entry, and enforces what a withdrawal
 * means at once:
 * - any purpose's status changed: a real-time re-evaluation is queued, so the customer leaves the segments
 *   requiring a purpose they withdrew (and joins those requiring one they granted): a segment's required purposes
 *   are criteria of its own (effectiveCriteria in domain/Segment.ts);
 * - marketing withdrawn: queued webhook deliveries of marketing segments' joins lose the customer's id
 *   (DestinationRepo.withholdMarketing);
 * - third-party-sharing withdrawn: queued webhook deliveries to third-party destinations lose the customer's id
 *   (DestinationRepo.withholdFromThirdParties);
 * - analytics withdrawn: the customer's rollups (their profile of behaviour) are deleted and no fold adds to
 *   them while the withdrawal stands (RollupFolder.ts); their events stay stored.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Context, Effect, Layer, Option } from "effect"
import type { Actor } from "../domain/Access.ts"
import { type ConsentChange, marketingObjectionBroken, profileConsentAfter } from "../domain/Consent.ts"
import type { Customer, CustomerId } from "../domain/Customer.ts"
import { stateOf } from "../domain/CustomerState.ts"
import { CustomerNotFound, MarketingObjection, VersionConflict } from "../domain/Errors.ts"
import { CustomerRepo } from "../customers/CustomerRepo.ts"
import { DestinationRepo } from "../destinations/DestinationRepo.ts"
import { EventErasure } from "../events/EventErasure.ts"
import { Outbox } from "../platform/Outbox.ts"
import { SegmentEvaluationQueue } from "../segments/EvaluationQueue.ts"
import { AuditLog } from "./AuditLog.ts"
import { ConsentRepo } from "./ConsentRepo.ts"

export interface ConsentCommandInput {
  readonly actor: Actor
  readonly requestId: string | null
  readonly changes: ReadonlyArray<ConsentChange>
  readonly reason: string | null
  /** The customer's version the caller read (If-Match); null: any. */
  readonly expectedVersion: number | null
}

const withdraws = (changes: ReadonlyArray<ConsentChange>, purpose: string) =>
  changes.some((change) => change.purpose === purpose && change.status === "withdrawn")

export class ConsentCommand extends Context.Service<ConsentCommand, {
  change(
    id: CustomerId,
    input: ConsentCommandInput
  ): Effect.Effect<Customer, CustomerNotFound | VersionConflict | MarketingObjection>
}>()("cms/privacy/ConsentCommand") {
  static readonly layer = Layer.effect(
    ConsentCommand,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const customers = yield* CustomerRepo
      const consents = yield* ConsentRepo
      const destinations = yield* DestinationRepo
      const evaluations = yield* SegmentEvaluationQueue
      const outbox = yield* Outbox
      const audit = yield* AuditLog
      const behaviour = yield* EventErasure

      const change = Effect.fn("ConsentCommand.change")(function*(id: CustomerId, input: ConsentCommandInput) {
        const { actor, changes, expectedVersion, reason, requestId } = input
        const result = yield* sql.withTransaction(Effect.gen(function*() {
          const before = yield* customers.findById(id).pipe(
            Effect.flatMap(Option.match({
              onNone: () => Effect.fail(new CustomerNotFound({ customerId: id })),
              onSome: Effect.succeed
            }))
          )
          if (expectedVersion !== null && expectedVersion !== before.version) {
            return yield* new VersionConflict({ expectedVersion, currentVersion: before.version })
          }
          const statuses = yield* consents.statuses(id)
          const broken = marketingObjectionBroken(statuses, changes)
          if (broken !== undefined) return yield* new MarketingObjection({ field: `changes[${broken}].legalBasis` })
          const now = new Date(yield* Clock.currentTimeMillis)
          const at = now.toISOString()
          const consent = profileConsentAfter(before.consent, changes)
          const updated = yield* customers.update(id, before.version, { ...stateOf(before), consent }).pipe(
            Effect.catchTag("UniqueViolation", Effect.die)
          )
          if (Option.isNone(updated)) {
            return yield* new VersionConflict({ expectedVersion: before.version })
          }
          const after = updated.value
          for (
            const statement of consents.recordStatements(
              changes.map((change) => ({ customerId: id, change, at, actor, requestId, reason }))
            )
          ) yield* statement
          yield* outbox.append({
            type: "customer.consent-changed",
            customerId: id,
            version: after.version,
            occurredAt: after.updatedAt,
            actor: { kind: actor.kind, subject: actor.subject, role: actor.role },
            requestId,
            customer: after,
            changes
          })
          yield* audit.record({
            actor,
            action: "customer.consent",
            customerId: id,
            requestId,
            fields: changes.map((change) => `consent.${change.purpose}`),
            ...(reason === null ? {} : { reason })
          })
          const movesSegments = changes.some((change) => statuses.get(change.purpose) !== change.status)
          if (movesSegments) yield* evaluations.queueProfileStatement(sql`SELECT ${id}::uuid`, now)
          if (withdraws(changes, "marketing")) yield* destinations.withholdMarketing(id)
          if (withdraws(changes, "third-party-sharing")) yield* destinations.withholdFromThirdParties(id)
          // A fold in flight is waited for and its rows deleted, or a later fold finds the withdrawal and drops
          // the customer's events (RollupFolder.ts).
          if (withdraws(changes, "analytics")) yield* behaviour.deleteRollups(id)
          return { after, movesSegments }
        })).pipe(Effect.catchTag("SqlError", Effect.die))
        yield* outbox.committed
        if (result.movesSegments) yield* evaluations.wake
        return result.after
      })

      return ConsentCommand.of({ change })
    })
  )
}
