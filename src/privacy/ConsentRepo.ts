/**
 * Consent's SQL (migrations/0022_consent.sql): the append-only history, the latest entry per purpose beside
 * it, and the questions enforcement asks of them.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer } from "effect"
import type { Statement } from "effect/sql"
import type { Actor } from "../domain/Access.ts"
import {
  type ConsentChange,
  type ConsentHistoryPage,
  type ConsentHistoryQuery,
  consentHistoryPageSize,
  type ConsentPurpose,
  type ConsentRecord,
  type ConsentStatus,
  type CurrentConsent,
  type PurposeConsent
} from "../domain/Consent.ts"
import type { CustomerId } from "../domain/Customer.ts"

/** One choice as recorded: by whom, in which request, why, when. */
export interface ConsentEntry {
  readonly customerId: CustomerId
  readonly change: ConsentChange
  readonly at: string
  readonly actor: Actor
  readonly requestId: string | null
  readonly reason: string | null
}

type PurposeRow = Omit<PurposeConsent, "recordedAt"> & { readonly recordedAt: Date }

const toPurpose = (row: PurposeRow): PurposeConsent => ({
  purpose: row.purpose,
  status: row.status,
  legalBasis: row.legalBasis,
  source: row.source,
  policyVersion: row.policyVersion,
  recordedAt: row.recordedAt.toISOString()
})

export class ConsentRepo extends Context.Service<ConsentRepo, {
  /** The history entries and the latest state of their purposes, as two statements (one transaction or statement). */
  recordStatements(entries: ReadonlyArray<ConsentEntry>): ReadonlyArray<Statement.Statement<unknown>>
  /** The latest entry of every purpose recorded for the customer, by purpose. */
  current(customerId: CustomerId): Effect.Effect<ReadonlyArray<PurposeConsent>>
  /** The latest status of every purpose recorded, read under the customer's entity (nothing else writes it). */
  statuses(customerId: CustomerId): Effect.Effect<CurrentConsent>
  history(customerId: CustomerId, query: ConsentHistoryQuery): Effect.Effect<ConsentHistoryPage>
  /** Whether the customer's latest word on analytics is a withdrawal (absent: not withdrawn). */
  analyticsWithdrawn(customerId: CustomerId): Effect.Effect<boolean>
  /** Which of `purposes` the customer's latest word withdrew (absent: not withdrawn). */
  withdrawnOf(customerId: CustomerId, purposes: ReadonlyArray<ConsentPurpose>): Effect.Effect<ReadonlySet<string>>
}>()("cms/privacy/ConsentRepo") {
  static readonly layer = Layer.effect(
    ConsentRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient

      const recordStatements = (entries: ReadonlyArray<ConsentEntry>) => {
        const values = (entry: ConsentEntry) =>
          sql`${entry.customerId}::uuid, ${entry.change.purpose}::text, ${entry.change.status}::text,
            ${entry.change.legalBasis}::text, ${entry.change.source}::text, ${entry.change.policyVersion}::text,
            ${entry.at}::timestamptz`
        return [
          sql`INSERT INTO customer_consent_history (customer_id, purpose, status, legal_basis, source, policy_version,
              recorded_at, recorded_by, request_id, reason)
            VALUES ${
            sql.csv(entries.map((entry) =>
              sql`(${values(entry)}, ${`${entry.actor.kind}:${entry.actor.subject}`}::text, ${entry.requestId}::text,
                ${entry.reason}::text)`
            ))
          }`,
          sql`INSERT INTO customer_consents AS c (customer_id, purpose, status, legal_basis, source, policy_version,
              recorded_at)
            VALUES ${sql.csv(entries.map((entry) => sql`(${values(entry)})`))}
            ON CONFLICT (customer_id, purpose) DO UPDATE SET status = EXCLUDED.status,
              legal_basis = EXCLUDED.legal_basis, source = EXCLUDED.source, policy_version = EXCLUDED.policy_version,
              recorded_at = EXCLUDED.recorded_at`
        ]
      }

      const current = Effect.fn("ConsentRepo.current")(function*(customerId: CustomerId) {
        const rows = yield* sql<PurposeRow>`SELECT purpose, status, legal_basis AS "legalBasis", source,
            policy_version AS "policyVersion", recorded_at AS "recordedAt"
          FROM customer_consents WHERE customer_id = ${customerId} ORDER BY purpose`.pipe(Effect.orDie)
        return rows.map(toPurpose)
      })

      const statuses = Effect.fn("ConsentRepo.statuses")(function*(customerId: CustomerId) {
        const rows = yield* sql<{ readonly purpose: string; readonly status: ConsentStatus }>`SELECT purpose, status
          FROM customer_consents WHERE customer_id = ${customerId}`.pipe(Effect.orDie)
        return new Map(rows.map((row) => [row.purpose, row.status]))
      })

      const history = Effect.fn("ConsentRepo.history")(function*(customerId: CustomerId, query: ConsentHistoryQuery) {
        const limit = query.limit ?? consentHistoryPageSize.default
        const before = query.cursor === undefined ? sql`TRUE` : sql`id < ${query.cursor}::bigint`
        const rows = yield* sql<PurposeRow & Pick<ConsentRecord, "id" | "recordedBy" | "requestId" | "reason">>`
          SELECT id::text AS id, purpose, status, legal_basis AS "legalBasis", source, policy_version AS "policyVersion",
            recorded_at AS "recordedAt", recorded_by AS "recordedBy", request_id AS "requestId", reason
          FROM customer_consent_history WHERE customer_id = ${customerId} AND ${before}
          ORDER BY id DESC LIMIT ${limit + 1}`.pipe(Effect.orDie)
        const page = rows.slice(0, limit).map((row): ConsentRecord => ({
          id: row.id,
          ...toPurpose(row),
          recordedBy: row.recordedBy,
          requestId: row.requestId,
          reason: row.reason
        }))
        return { data: page, nextCursor: rows.length > limit ? page[page.length - 1].id : null }
      })

      const analyticsWithdrawn = Effect.fn("ConsentRepo.analyticsWithdrawn")(function*(customerId: CustomerId) {
        const rows = yield* sql`SELECT 1 FROM customer_consents
          WHERE customer_id = ${customerId} AND purpose = 'analytics' AND status = 'withdrawn'`.pipe(Effect.orDie)
        return rows.length > 0
      })

      const withdrawnOf = Effect.fn("ConsentRepo.withdrawnOf")(
        function*(customerId: CustomerId, purposes: ReadonlyArray<ConsentPurpose>) {
          const rows = yield* sql<{ readonly purpose: string }>`SELECT purpose FROM customer_consents
            WHERE customer_id = ${customerId} AND purpose = ANY(${purposes}::text[]) AND status = 'withdrawn'`
            .pipe(Effect.orDie)
          return new Set(rows.map((row) => row.purpose))
        }
      )

      return ConsentRepo.of({ recordStatements, current, statuses, history, analyticsWithdrawn, withdrawnOf })
    })
  )
}
