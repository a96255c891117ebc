/**
 * Pending email changes, one per customer: the hash of the single-use token and its expiry. The new address itself
 * is the customer's `pendingEmail`, sealed at rest with the other personal fields (docs/privacy.md).
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option } from "effect"
import type { Statement } from "effect/sql"
import type { CustomerId } from "../domain/Customer.ts"
import { guardName } from "../platform/Database.ts"

export interface PendingVerification {
  readonly email: string
  readonly tokenHash: string
  readonly expiresAt: Date
}

/** What is stored of a pending change. */
export type StoredVerification = Omit<PendingVerification, "email">

export class EmailVerificationRepo extends Context.Service<EmailVerificationRepo, {
  find(customerId: CustomerId): Effect.Effect<Option.Option<StoredVerification>>
  remove(customerId: CustomerId): Effect.Effect<void>
  /**
   * A new change replaces the pending one (and its token), as a write of a guarded statement (Database.ts):
   * done only when its guard matched.
   */
  saveGuardedStatement(customerId: CustomerId, pending: PendingVerification, guard?: string): Statement.Statement<unknown>
  /** `remove` as a write of a guarded statement. */
  removeGuardedStatement(customerId: CustomerId, guard?: string): Statement.Statement<unknown>
}>()("cms/customers/EmailVerificationRepo") {
  static readonly layer = Layer.effect(
    EmailVerificationRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      return EmailVerificationRepo.of({
        saveGuardedStatement: (customerId, pending, guard = guardName) =>
          sql`INSERT INTO email_verifications (customer_id, token_hash, expires_at)
            SELECT ${customerId}::uuid, ${pending.tokenHash}::text, ${pending.expiresAt}::timestamptz
            FROM ${sql.literal(guard)}
            ON CONFLICT (customer_id) DO UPDATE SET token_hash = EXCLUDED.token_hash,
              expires_at = EXCLUDED.expires_at`,
        removeGuardedStatement: (customerId, guard = guardName) =>
          sql`DELETE FROM email_verifications WHERE customer_id = ${customerId}
            AND EXISTS (SELECT 1 FROM ${sql.literal(guard)})`,
        find: Effect.fn("EmailVerificationRepo.find")(function*(customerId: CustomerId) {
          const rows = yield* sql<{ readonly token_hash: string; readonly expires_at: Date }>`
            SELECT token_hash, expires_at FROM email_verifications WHERE customer_id = ${customerId}`
            .pipe(Effect.orDie)
          return Option.map(
            Option.fromNullishOr(rows[0]),
            (row): StoredVerification => ({ tokenHash: row.token_hash, expiresAt: row.expires_at })
          )
        }),
        remove: Effect.fn("EmailVerificationRepo.remove")(function*(customerId: CustomerId) {
          yield* sql`DELETE FROM email_verifications WHERE customer_id = ${customerId}`.pipe(Effect.orDie)
        })
      })
    })
  )
}
