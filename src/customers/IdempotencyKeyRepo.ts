/** The first answer to each Idempotency-Key, per principal: read before a keyed create, written with it. */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option, Schema } from "effect"
import type { Statement } from "effect/sql"
import { Customer, type CustomerId } from "../domain/Customer.ts"

export interface IdempotencyRecord {
  /** Both null once the customer was erased: a replay learns that, never the erased profile. */
  readonly requestHash: string | null
  readonly response: Customer | null
}

/** A keyed create's answer, recorded with the create. */
export interface KeyedAnswer {
  readonly principal: string
  readonly key: string
  readonly requestHash: string
  readonly customer: Customer
}

const encodeCustomer = Schema.encodeSync(Customer)

export class IdempotencyKeyRepo extends Context.Service<IdempotencyKeyRepo, {
  find(principal: string, key: string): Effect.Effect<Option.Option<IdempotencyRecord>>
  /** The first answers to keys, as a statement run with their creates' other writes. */
  recordStatement(records: ReadonlyArray<KeyedAnswer>): Statement.Statement<unknown>
  /** Erasure: the stored answers carry the person's data. */
  forgetResponses(customerId: CustomerId): Effect.Effect<void>
}>()("cms/customers/IdempotencyKeyRepo") {
  static readonly layer = Layer.effect(
    IdempotencyKeyRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      return IdempotencyKeyRepo.of({
        find: Effect.fn("IdempotencyKeyRepo.find")(function*(principal: string, key: string) {
          const rows = yield* sql<{ readonly request_hash: string | null; readonly response: Customer | null }>`
            SELECT request_hash, response FROM idempotency_keys
            WHERE principal = ${principal} AND key = ${key}`.pipe(Effect.orDie)
          return Option.map(
            Option.fromNullishOr(rows[0]),
            (row): IdempotencyRecord => ({ requestHash: row.request_hash, response: row.response })
          )
        }),
        recordStatement: (records) =>
          sql`INSERT INTO idempotency_keys (principal, key, request_hash, response, customer_id)
            VALUES ${
            sql.csv(records.map(({ principal, key, requestHash, customer }) =>
              sql`(${principal}, ${key}, ${requestHash}, ${sql.json(encodeCustomer(customer))}, ${customer.id})`
            ))
          }`,
        forgetResponses: Effect.fn("IdempotencyKeyRepo.forgetResponses")(function*(customerId: CustomerId) {
          yield* sql`UPDATE idempotency_keys SET response = NULL, request_hash = NULL WHERE customer_id = ${customerId}`
            .pipe(Effect.orDie)
        })
      })
    })
  )
}
