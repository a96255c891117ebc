/** Pending email changes, one per customer: the new address and the hash of its single-use token. */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option } from "effect"
import type { CustomerId } from "../domain/Customer.ts"

export interface PendingVerification {
  readonly email: string
  readonly tokenHash: string
  readonly expiresAt: Date
}

export class EmailVerificationRepo extends Context.Service<EmailVerificationRepo, {
  find(customerId: CustomerId): Effect.Effect<Option.Option<PendingVerification>>
  /** A new change replaces the pending one (and its token). */
  save(customerId: CustomerId, pending: PendingVerification): Effect.Effect<void>
  remove(customerId: CustomerId): Effect.Effect<void>
}>()("cms/customers/EmailVerificationRepo") {
  static readonly layer = Layer.effect(
    EmailVerificationRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      return EmailVerificationRepo.of({
        find: Effect.fn("EmailVerificationRepo.find")(function*(customerId: CustomerId) {
          const rows = yield* sql<{ readonly email: string; readonly token_hash: string; readonly expires_at: Date }>`
            SELECT email, token_hash, expires_at FROM email_verifications WHERE customer_id = ${customerId}`
            .pipe(Effect.orDie)
          return Option.map(
            Option.fromNullishOr(rows[0]),
            (row): PendingVerification => ({ email: row.email, tokenHash: row.token_hash, expiresAt: row.expires_at })
          )
        }),
        save: Effect.fn("EmailVerificationRepo.save")(function*(customerId: CustomerId, pending: PendingVerification) {
          yield* sql`INSERT INTO email_verifications (customer_id, email, token_hash, expires_at)
            VALUES (${customerId}, ${pending.email}, ${pending.tokenHash}, ${pending.expiresAt})
            ON CONFLICT (customer_id) DO UPDATE SET email = EXCLUDED.email, token_hash = EXCLUDED.token_hash,
              expires_at = EXCLUDED.expires_at`.pipe(Effect.orDie)
        }),
        remove: Effect.fn("EmailVerificationRepo.remove")(function*(customerId: CustomerId) {
          yield* sql`DELETE FROM email_verifications WHERE customer_id = ${customerId}`.pipe(Effect.orDie)
        })
      })
    })
  )
}
