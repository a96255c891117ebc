/**
 * The first answer to each Idempotency-Key, per principal: read before a keyed create, written with it. Its
 * personal fields are sealed under the customer's data key, as in the customer's row (CustomerRow.ts), so
 * erasure's key destruction reaches this copy too.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option, Schema, Struct } from "effect"
import type { Statement } from "effect/sql"
import { Customer, type CustomerId, customerModel } from "../domain/Customer.ts"
import { Keyring, type Sealer } from "../privacy/Keyring.ts"

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

/** The name the sealed part of a stored answer is bound to. */
const sealedResponse = "idempotency_response"

export class IdempotencyKeyRepo extends Context.Service<IdempotencyKeyRepo, {
  find(principal: string, key: string): Effect.Effect<Option.Option<IdempotencyRecord>>
  /** The first answers to keys, as a statement run with their creates' other writes. */
  recordStatement(records: ReadonlyArray<KeyedAnswer>, sealerOf: (customerId: string) => Sealer): Statement.Statement<unknown>
  /** Erasure: the stored answers carry the person's data. */
  forgetResponses(customerId: CustomerId): Effect.Effect<void>
}>()("cms/customers/IdempotencyKeyRepo") {
  static readonly layer = Layer.effect(
    IdempotencyKeyRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const keyring = yield* Keyring
      return IdempotencyKeyRepo.of({
        find: Effect.fn("IdempotencyKeyRepo.find")(function*(principal: string, key: string) {
          const rows = yield* sql<{
            readonly customer_id: string
            readonly request_hash: string | null
            readonly response: Customer | null
            readonly response_sealed: Uint8Array | null
            readonly data_key: Uint8Array | null
          }>`SELECT customer_id, request_hash, response, response_sealed,
              (SELECT wrapped FROM customer_keys.data_keys d WHERE d.customer_id = k.customer_id) AS data_key
            FROM idempotency_keys k WHERE principal = ${principal} AND key = ${key}`.pipe(Effect.orDie)
          if (rows.length === 0) return Option.none()
          const [row] = rows
          if (row.response === null || row.response_sealed === null) {
            return Option.some({ requestHash: row.request_hash, response: row.response })
          }
          const open = yield* keyring.openerFor(row.customer_id, row.data_key)
          const personal = yield* Effect.try({
            try: () => open(sealedResponse, row.response_sealed!) as Partial<Customer>,
            catch: (error) => error
          }).pipe(Effect.orDie)
          return Option.some({ requestHash: row.request_hash, response: { ...row.response, ...personal } })
        }),
        recordStatement: (records, sealerOf) =>
          sql`INSERT INTO idempotency_keys (principal, key, request_hash, response, response_sealed, customer_id)
            VALUES ${
            sql.csv(records.map(({ principal, key, requestHash, customer }) => {
              const encoded = encodeCustomer(customer)
              const sealed = sealerOf(customer.id)(sealedResponse, Struct.pick(encoded, customerModel.personal))
              return sql`(${principal}, ${key}, ${requestHash}, ${sql.json(Struct.omit(encoded, customerModel.personal))},
                ${sealed}, ${customer.id})`
            }))
          }`,
        forgetResponses: Effect.fn("IdempotencyKeyRepo.forgetResponses")(function*(customerId: CustomerId) {
          yield* sql`UPDATE idempotency_keys SET response = NULL, request_hash = NULL WHERE customer_id = ${customerId}`
            .pipe(Effect.orDie)
        })
      })
    })
  )
}
