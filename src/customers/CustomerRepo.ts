/**
 * Customer rows in PostgreSQL: reads for queries, writes for the entity's
 * commands (which run them inside its transaction).
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Data, Effect, Layer, Option, Request, RequestResolver, Struct } from "effect"
import type { SqlError, Statement } from "effect/sql"
import { type Customer, type CustomerId, customerModel } from "../domain/Customer.ts"
import { type CustomerState, erasedState, stateOf } from "../domain/CustomerState.ts"
import { type CustomerPage, type CustomerView, defaultPageSize, type ListCustomersQuery, type SortField } from "../domain/CustomerQuery.ts"
import { InvalidCursor } from "../domain/Errors.ts"
import { byteaArray } from "../platform/Database.ts"
import { BlindIndex } from "../privacy/BlindIndex.ts"
import { Keyring, type NewDataKey, type Sealer } from "../privacy/Keyring.ts"
import { decodeCursor, encodeCursor } from "./Cursor.ts"
import { sortColumns, storedSelection, type StoredRow, storedValues, toStoredCustomer } from "./CustomerRow.ts"
import { queryTokens, valueTokens } from "./SearchTokens.ts"

const isTimeSort = (field: SortField) => field === "createdAt" || field === "updatedAt" || field === "lastActivity"

/** Beyond this many matches the total is the planner's estimate: counting a million rows per page is waste. */
const exactCountLimit = 10_000

/** New customers' writes: their rows and data keys, to run with the creates' other writes as one statement. */
export interface CustomerInserts {
  readonly statements: ReadonlyArray<Statement.Statement<unknown>>
  /** To run once the statement committed: the new data keys join the cache. */
  readonly committed: Effect.Effect<void>
  /** Seals under a new customer's data key, for other copies of their data written with them. */
  readonly sealerOf: (customerId: string) => Sealer
}

export class CustomerRepo extends Context.Service<CustomerRepo, {
  /** For a command, inside its transaction. */
  findById(id: CustomerId): Effect.Effect<Option.Option<Customer>>
  /** For a query: concurrent lookups share one statement. */
  lookup(id: CustomerId): Effect.Effect<Option.Option<Customer>>
  list(query: ListCustomersQuery): Effect.Effect<CustomerPage, InvalidCursor>
  /** New customers' rows and data keys (personal fields sealed under them). */
  inserts(customers: ReadonlyArray<Customer>): CustomerInserts
  update(id: CustomerId, expectedVersion: number, state: CustomerState): Effect.Effect<Option.Option<Customer>, UniqueViolation>
  /**
   * The same change as the guard of a guarded statement (Database.ts): it matches only while the row is
   * still at `expectedVersion`, and stamps `updatedAt` with the caller's instant so the caller knows the
   * resulting customer (and its event) before the write.
   */
  updateGuard(
    id: CustomerId,
    expectedVersion: number,
    state: CustomerState,
    updatedAt: string
  ): Effect.Effect<Statement.Statement<unknown>>
  markDeleted(id: CustomerId, expectedVersion: number, erased: CustomerState): Effect.Effect<Option.Option<Customer>>
  currentVersion(id: CustomerId): Effect.Effect<Option.Option<number>>
  /**
   * Seals up to `limit` rows written before encryption at rest (clear email and name): each gets a data key, its
   * personal fields sealed, its blind index and search tokens, and its clear copies emptied. The number sealed
   * (0: none left); each call commits its batch, and concurrent passes skip each other's rows.
   */
  sealLegacyBatch(limit: number): Effect.Effect<number>
  /** Whether another live customer holds the address, under any configured blind index key. */
  emailTakenByAnother(id: CustomerId, email: string): Effect.Effect<boolean>
  /**
   * Re-indexes up to `limit` rows whose blind index and search tokens are under another key than the current one,
   * in id order after `after`, from their sealed values; each call commits its batch (resumable; concurrent passes
   * skip each other's rows). The number re-indexed (0: none left after `after`) and the last id.
   */
  reindexBatch(limit: number, after: string | null): Effect.Effect<{ readonly reindexed: number; readonly last: string | null }>
  /** Whether any row is indexed under another key than the current one (one index probe). */
  readonly hasOtherIndexVersions: Effect.Effect<boolean>
}>()("cms/customers/CustomerRepo") {
  static readonly layer = Layer.effect(
    CustomerRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const keyring = yield* Keyring
      const blindIndex = yield* BlindIndex
      const selectColumns = sql.literal(storedSelection)

      /**
       * A stored row as its customer; a sealed value that cannot be opened is a defect (a 500, logged). An erased
       * customer's row holds nothing personal (its key is destroyed): it reads as erasure describes it.
       */
      const decode = (row: StoredRow) =>
        Effect.flatMap(keyring.openerFor(row.id, row.data_key), (open) =>
          Effect.try({ try: () => toStoredCustomer(row, open), catch: (error) => error }).pipe(
            Effect.orDie,
            Effect.map((customer) =>
              customer.status === "DELETED"
                ? { ...customer, ...Struct.pick(erasedState(customer.id, stateOf(customer)), customerModel.personal) }
                : customer
            )
          ))
      const decodeFirst = (rows: ReadonlyArray<StoredRow>) =>
        rows.length === 0 ? Effect.succeedNone : Effect.asSome(decode(rows[0]))

      const findById = Effect.fn("CustomerRepo.findById")(function*(id: CustomerId) {
        const rows = yield* sql<StoredRow>`SELECT ${selectColumns} FROM customers
          WHERE id = ${id} AND status <> 'DELETED'`.pipe(Effect.orDie)
        return yield* decodeFirst(rows)
      })

      class Lookup extends Request.Class<{ readonly id: CustomerId }, Option.Option<Customer>> {}

      // Reads arriving together become one `id = ANY(...)` statement: one write to the
      // connection and one round trip instead of one per request.
      const lookups = RequestResolver.make<Lookup>((entries) =>
        sql<StoredRow>`SELECT ${selectColumns} FROM customers
          WHERE id = ANY(${entries.map((entry) => entry.request.id)}::uuid[]) AND status <> 'DELETED'`.pipe(
          Effect.orDie,
          Effect.flatMap((rows) => {
            const found = new Map(rows.map((row) => [row.id, row]))
            // Each request gets its own answer: a row that cannot be opened fails that request alone.
            return Effect.forEach(entries, (entry) => {
              const row = found.get(entry.request.id)
              return (row === undefined ? Effect.succeedNone : Effect.asSome(decode(row))).pipe(
                Effect.exit,
                Effect.map((exit) => entry.completeUnsafe(exit))
              )
            }, { discard: true })
          })
        )
      )

      const lookup = (id: CustomerId) => Effect.request(new Lookup({ id }), lookups)

      const filtersOf = (query: ListCustomersQuery) => {
        const clauses = [
          query.status === undefined ? sql`status <> 'DELETED'` : sql`status = ${query.status}`
        ]
        if (query.country !== undefined) clauses.push(sql`country = ${query.country}`)
        if (query.tag !== undefined) clauses.push(sql`tags @> ARRAY[${query.tag}]::text[]`)
        if (query.minAge !== undefined) clauses.push(sql`age >= ${query.minAge}`)
        if (query.maxAge !== undefined) clauses.push(sql`age <= ${query.maxAge}`)
        const ranges = [
          ["created_at", query.createdAfter, query.createdBefore],
          ["updated_at", query.updatedAfter, query.updatedBefore],
          ["last_activity", query.lastActivityAfter, query.lastActivityBefore]
        ] as const
        for (const [column, after, before] of ranges) {
          if (after !== undefined) clauses.push(sql`${sql(column)} >= ${after}::timestamptz`)
          if (before !== undefined) clauses.push(sql`${sql(column)} < ${before}::timestamptz`)
        }
        if (query.q !== undefined) {
          // Over keyed hashes of word prefixes (SearchTokens.ts): name and email are sealed. Without a word (only
          // punctuation) a query matches nothing. During a key rotation a row holds the hashes of one version,
          // and another key's hashes match nothing of it: the query asks for each configured version's.
          const q = query.q
          clauses.push(
            queryTokens(blindIndex, blindIndex.currentVersion, "name-token", q).length === 0
              ? sql`FALSE`
              : sql`(${
                sql.or(blindIndex.versions.flatMap((version) => [
                  sql`name_tokens @> ${queryTokens(blindIndex, version, "name-token", q)}::text[]`,
                  sql`email_tokens @> ${queryTokens(blindIndex, version, "email-token", q)}::text[]`
                ]))
              })`
          )
        }
        return clauses
      }

      const countMatches = Effect.fnUntraced(function*(where: ReturnType<typeof sql.and>) {
        const [capped] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM
          (SELECT 1 FROM customers WHERE ${where} LIMIT ${exactCountLimit + 1}) matches`
        if (capped.n <= exactCountLimit) return { total: capped.n, totalIsEstimate: false }
        // EXPLAIN's one column is named "QUERY PLAN" (it cannot be aliased).
        const [plan] = yield* sql<{
          readonly "QUERY PLAN": ReadonlyArray<{ readonly Plan: { readonly "Plan Rows": number } }>
        }>`EXPLAIN (FORMAT JSON) SELECT 1 FROM customers WHERE ${where}`
        const estimate = plan["QUERY PLAN"][0].Plan["Plan Rows"]
        return { total: Math.max(capped.n, Math.round(estimate)), totalIsEstimate: true }
      })

      const list = Effect.fn("CustomerRepo.list")(function*(query: ListCustomersQuery) {
        const sort = query.sort ?? "-createdAt"
        const descending = sort.startsWith("-")
        const field = (descending ? sort.slice(1) : sort) as SortField
        const column = sql(sortColumns[field])
        const sortKey = isTimeSort(field)
          ? sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
          : column
        const limit = query.limit ?? defaultPageSize
        const filters = filtersOf(query)
        const where = sql.and(filters)
        const seek = [...filters]
        if (query.cursor !== undefined) {
          const position = yield* Option.match(decodeCursor(query.cursor, sort, isTimeSort(field)), {
            onNone: () => Effect.fail(new InvalidCursor({ field: "cursor" })),
            onSome: Effect.succeed
          })
          const value = isTimeSort(field) ? sql`${position.value}::timestamptz` : position.value
          seek.push(
            descending
              ? sql`(${column}, id) < (${value}, ${position.id}::uuid)`
              : sql`(${column}, id) > (${value}, ${position.id}::uuid)`
          )
        }
        const order = descending ? sql.literal("DESC") : sql.literal("ASC")
        const [rows, count] = yield* Effect.all([
          sql<StoredRow & { readonly sort_key: string }>`SELECT ${selectColumns}, ${sortKey} AS sort_key
            FROM customers WHERE ${sql.and(seek)}
            ORDER BY ${column} ${order}, id ${order} LIMIT ${limit + 1}`,
          countMatches(where)
        ], { concurrency: 2 }).pipe(Effect.orDie)
        const page = yield* Effect.forEach(rows.slice(0, limit), decode)
        const last = rows.at(limit - 1)
        const nextCursor = rows.length > limit && last !== undefined
          ? encodeCursor(sort, last.sort_key, last.id)
          : null
        const data: Array<CustomerView> = query.fields === undefined ? page : page.map((customer) => {
          const view: Record<string, unknown> = { id: customer.id }
          for (const name of query.fields!) view[name] = customer[name]
          return view as CustomerView
        })
        return { data, nextCursor, ...count }
      })

      /**
       * A state as written: the stored values (CustomerRow.storedValues: sealed personal fields, their clear
       * parts, the rest as they are), then the blind index and search tokens; objects go to jsonb, lists of
       * text to text[], ciphertexts and digests to bytea. Without a sealer (erasure) nothing personal remains.
       */
      const writtenValues = (state: CustomerState, seal: Sealer | null) => {
        const values = storedValues(state, seal).map(({ column, kind, value }) => ({
          column,
          value: kind === "json" && value !== null ? sql`${sql.json(value)}` : sql`${value as string | number | boolean | Uint8Array | null}`
        }))
        values.push(...indexValues(state, seal !== null))
        return values
      }
      /** The blind index and search tokens, under the current key, and which key that is (none when not indexed). */
      const indexValues = (state: CustomerState, indexed: boolean) => {
        // Without encryption (the benchmark's baseline) there are no search tokens: what the comparison measures
        // is the whole cost of sealing, search tokens included. The blind index stays: uniqueness rests on it.
        const tokens = indexed && keyring.encrypting
        return [
          { column: "email_index", value: sql`${indexed ? blindIndex.email(state.email) : null}` },
          { column: "name_tokens", value: sql`${tokens ? valueTokens(blindIndex, "name-token", state.name) : null}::text[]` },
          { column: "email_tokens", value: sql`${tokens ? valueTokens(blindIndex, "email-token", state.email) : null}::text[]` },
          { column: "blind_index_version", value: sql`${indexed ? blindIndex.currentVersion : null}` }
        ]
      }
      const assignmentsOf = (values: ReadonlyArray<{ readonly column: string; readonly value: Statement.Fragment }>) =>
        sql.csv(values.map(({ column, value }) => sql`${sql(column)} = ${value}`))
      const assignments = (state: CustomerState, seal: Sealer | null) => assignmentsOf(writtenValues(state, seal))

      const inserts = (customers: ReadonlyArray<Customer>): CustomerInserts => {
        const keys = customers.map((customer) => keyring.newDataKey(customer.id))
        const sealers = keys.map(keyring.sealerOf)
        const rows = customers.map((customer, index) => writtenValues(customer, sealers[index]))
        const created = keys.flatMap((key): Array<NewDataKey> => Option.isSome(key) ? [key.value] : [])
        const insertColumns = sql.literal(rows[0].map(({ column }) => column).join(", "))
        const customerRows = sql`INSERT INTO customers (id, ${insertColumns}, version, created_at, updated_at, last_activity)
          VALUES ${
          sql.csv(customers.map((customer, index) =>
            sql`(${customer.id}, ${sql.csv(rows[index].map(({ value }) => value))},
              ${customer.version}, ${customer.createdAt}, ${customer.updatedAt}, ${customer.lastActivity})`
          ))
        }`
        const sealerById = new Map(customers.map((customer, index) => [customer.id as string, sealers[index]]))
        return {
          statements: created.length === 0 ? [customerRows] : [customerRows, keyring.insertStatement(created)],
          committed: Effect.forEach(created, keyring.remember, { discard: true }),
          sealerOf: (customerId) => sealerById.get(customerId)!
        }
      }

      const update = Effect.fn("CustomerRepo.update")(
        function*(id: CustomerId, expectedVersion: number, state: CustomerState) {
          const seal = yield* sealerForChange(id)
          const rows = yield* sql<StoredRow>`UPDATE customers SET ${assignments(state, seal)},
              updated_at = now(), version = version + 1
            WHERE id = ${id} AND version = ${expectedVersion} AND status <> 'DELETED'
            RETURNING ${selectColumns}`.pipe(uniqueViolationOrDie)
          return yield* decodeFirst(rows)
        }
      )

      const updateGuard = (id: CustomerId, expectedVersion: number, state: CustomerState, updatedAt: string) =>
        Effect.map(sealerForChange(id), (seal) =>
          sql`UPDATE customers SET ${assignments(state, seal)}, updated_at = ${updatedAt}, version = version + 1
            WHERE id = ${id} AND version = ${expectedVersion} AND status <> 'DELETED'
            RETURNING id`)

      /**
       * Writes the erased state it is given (what erasure keeps is CustomerState.erasedState's to say), except
       * that no personal column keeps anything, sealed or not: the customer's data key is destroyed with it.
       * Answers the customer as erased (the personal fields as `erased` has them).
       */
      const markDeleted = Effect.fn("CustomerRepo.markDeleted")(
        function*(id: CustomerId, expectedVersion: number, erased: CustomerState) {
          const rows = yield* sql<StoredRow>`UPDATE customers SET ${assignments(erased, null)},
              deleted_at = now(), updated_at = now(), version = version + 1
            WHERE id = ${id} AND version = ${expectedVersion} AND status <> 'DELETED'
            RETURNING ${selectColumns}`.pipe(Effect.orDie)
          const stored = yield* decodeFirst(rows)
          return Option.map(stored, (customer): Customer => ({ ...customer, ...erased }))
        }
      )

      /** The current version, when the customer exists and is not deleted: what a lost race reports. */
      const currentVersion = Effect.fn("CustomerRepo.currentVersion")(function*(id: CustomerId) {
        const rows = yield* sql<{ readonly version: number }>`SELECT version FROM customers
          WHERE id = ${id} AND status <> 'DELETED'`.pipe(Effect.orDie)
        return Option.map(Option.fromNullishOr(rows[0]), (row) => row.version)
      })

      /** Whether another live customer holds the address, in any letter case. */
      const emailTakenByAnother = Effect.fn("CustomerRepo.emailTakenByAnother")(
        function*(id: CustomerId, email: string) {
          // Rows written before encryption have no blind index until sealed: their clear address counts too.
          // Under every configured key: during a rotation the holder may not be re-indexed yet.
          const rows = yield* sql`SELECT 1 FROM customers
            WHERE (email_index = ANY(${byteaArray(sql, blindIndex.emailUnderEach(email))}) OR lower(email) = lower(${email}))
              AND status <> 'DELETED' AND id <> ${id}`.pipe(Effect.orDie)
          return rows.length > 0
        }
      )

      /** Rows written before encryption at rest, read as they are (the clear columns) and written as every row is now. */
      const sealLegacy = (rows: ReadonlyArray<StoredRow>) =>
        Effect.forEach(rows, (row) =>
          Effect.gen(function*() {
            // An erased row keeps nothing personal.
            const customer = yield* decode(row)
            const key = row.data_key === null ? keyring.newDataKey(row.id) : Option.none()
            const seal = customer.status === "DELETED"
              ? null
              : row.data_key === null
              ? keyring.sealerOf(key)
              : yield* keyring.sealerFor(row.id)
            if (Option.isSome(key) && seal !== null) yield* keyring.insertStatement([key.value])
            yield* sql`UPDATE customers SET ${assignments(stateOf(customer), seal)} WHERE id = ${row.id}`
          }), { discard: true })

      const sealLegacyBatch = Effect.fn("CustomerRepo.sealLegacyBatch")(function*(limit: number) {
        return yield* sql.withTransaction(Effect.gen(function*() {
          const rows = yield* sql<StoredRow>`SELECT ${selectColumns} FROM customers WHERE email IS NOT NULL
            ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`
          yield* sealLegacy(rows)
          return rows.length
        })).pipe(Effect.orDie)
      })

      /**
       * The sealer for a change of the customer. A row from before encryption at rest has no data key yet: it is
       * sealed first, in a transaction of its own (waiting for a background pass that holds it), so its change is
       * sealed like any other instead of failing.
       */
      const sealerForChange = (id: CustomerId) =>
        Effect.flatMap(keyring.keyedSealerFor(id), Option.match({
          onSome: Effect.succeed,
          onNone: () =>
            sql.withTransaction(
              Effect.flatMap(
                sql<StoredRow>`SELECT ${selectColumns} FROM customers WHERE id = ${id} AND email IS NOT NULL FOR UPDATE`,
                sealLegacy
              )
            ).pipe(Effect.orDie, Effect.andThen(keyring.sealerFor(id)))
        }))

      const reindexBatch = Effect.fn("CustomerRepo.reindexBatch")(function*(limit: number, after: string | null) {
        const current = blindIndex.currentVersion
        return yield* sql.withTransaction(Effect.gen(function*() {
          // In id order from where the last batch stopped: the pass reads each row once, however far it got.
          const rows = yield* sql<StoredRow>`SELECT ${selectColumns} FROM customers
            WHERE (blind_index_version < ${current} OR blind_index_version > ${current})
              AND ${after === null ? sql`TRUE` : sql`id > ${after}`}
            ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`
          for (const row of rows) {
            // From the sealed values: no old key is needed, so a version already gone from the configuration moves too.
            const customer = yield* decode(row)
            yield* sql`UPDATE customers SET ${assignmentsOf(indexValues(stateOf(customer), true))} WHERE id = ${row.id}`
          }
          return { reindexed: rows.length, last: rows.at(-1)?.id ?? null }
        })).pipe(Effect.orDie)
      })

      const hasOtherIndexVersions = Effect.gen(function*() {
        const current = blindIndex.currentVersion
        const rows = yield* sql`SELECT 1 FROM customers
          WHERE blind_index_version < ${current} OR blind_index_version > ${current} LIMIT 1`.pipe(Effect.orDie)
        return rows.length > 0
      })

      return CustomerRepo.of({
        reindexBatch,
        hasOtherIndexVersions,
        sealLegacyBatch,
        findById,
        lookup,
        list,
        inserts,
        update,
        updateGuard,
        markDeleted,
        currentVersion,
        emailTakenByAnother
      })
    })
  )
}

/** A unique index was hit (email, or the primary key on a replayed id): the entity says which. */
export class UniqueViolation extends Data.TaggedError("UniqueViolation")<{ readonly constraint: string }> {}

export const uniqueViolationOrDie = <A, R>(effect: Effect.Effect<A, SqlError.SqlError, R>) =>
  Effect.catch(effect, (error) =>
    error.reason._tag === "UniqueViolation"
      ? Effect.fail(new UniqueViolation({ constraint: error.reason.constraint }))
      : Effect.die(error))
