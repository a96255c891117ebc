/**
 * Segment rows, the references between segments and hand-kept membership in
 * PostgreSQL (migrations/0009). Every statement of the segment feature is here,
 * except the calculation's (SegmentCalculation.ts, which owns its job table).
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option } from "effect"
import type { SqlError, Statement } from "effect/sql"
import type { ConsentPurpose } from "../domain/Consent.ts"
import type { CustomerId } from "../domain/Customer.ts"
import { InvalidCursor } from "../domain/Errors.ts"
import {
  type CustomerSegment,
  defaultSegmentPageSize,
  type ListSegmentsQuery,
  type MembershipOutcome,
  type Segment,
  type SegmentSortField,
  type SegmentType
} from "../domain/Segment.ts"
import {
  defaultMembersPageSize,
  type SegmentMembersPage,
  type SegmentMembersQuery
} from "../domain/SegmentCalculation.ts"
import type { Criterion, SegmentId } from "../domain/SegmentCriteria.ts"
import type { SegmentStay } from "../domain/DataExport.ts"
import { decodeCursor, encodeCursor } from "../customers/Cursor.ts"
import { guardedStatement, guardName } from "../platform/Database.ts"

interface SegmentRow {
  readonly id: SegmentId
  readonly name: string
  readonly description: string | null
  readonly type: SegmentType
  readonly criteria: unknown
  readonly marketing: boolean
  readonly required_purposes: ReadonlyArray<ConsentPurpose>
  readonly member_count: number
  readonly last_calculated_at: Date | null
  readonly created_by: string
  readonly version: number
  readonly created_at: Date
  readonly updated_at: Date
}

const segmentColumns = "id, name, description, type, criteria, marketing, required_purposes, member_count, last_calculated_at, created_by, " +
  "version, created_at, updated_at"

// Criteria are stored as they were decoded (the tree's encoded and decoded forms are the same JSON).
const toSegment = (row: SegmentRow): Segment => ({
  id: row.id,
  name: row.name,
  description: row.description,
  type: row.type,
  criteria: row.criteria as Criterion | null,
  marketing: row.marketing,
  requiredPurposes: row.required_purposes,
  memberCount: row.member_count,
  lastCalculatedAt: row.last_calculated_at === null ? null : row.last_calculated_at.toISOString(),
  createdBy: row.created_by,
  version: row.version,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString()
})

/** What a version-guarded write found. */
export type GuardedOutcome<A> =
  | { readonly _tag: "Done"; readonly value: A }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "Stale"; readonly currentVersion: number }

export interface SegmentChanges {
  readonly name?: string
  readonly description?: string | null
  readonly criteria?: Criterion
  readonly requiredPurposes?: ReadonlyArray<ConsentPurpose>
}

export type UpdateOutcome =
  | GuardedOutcome<Segment>
  /** The new criteria's references (those given) lead back to the segment itself. */
  | { readonly _tag: "Cycle"; readonly through: ReadonlyArray<SegmentId> }

export type DeleteOutcome =
  | GuardedOutcome<void>
  | { readonly _tag: "InUse"; readonly referencedBy: ReadonlyArray<SegmentId> }

/** A unique index refused the name. */
export class NameTaken {
  readonly _tag = "NameTaken"
}

/** A segment the new criteria name was deleted between the check and the write (its foreign key refused). */
export class ReferenceGone {
  readonly _tag = "ReferenceGone"
}

const sortColumns: Record<SegmentSortField, string> = { name: "name", createdAt: "created_at" }

/** How many referring segments a refused delete names. */
const maxReferrersReported = 20

/**
 * Reference changes are serialised by this transaction-scoped advisory lock, so that two updates adding the
 * two halves of a cycle (A -> B, B -> A) cannot both pass the check.
 */
const referencesLockKey = 0x5e6_0001

/** The refusals a definition's write can meet: the name's unique index, a referenced segment's foreign key. */
const refusalsOrDie = <A, R>(effect: Effect.Effect<A, SqlError.SqlError, R>) =>
  Effect.catch(effect, (error): Effect.Effect<never, NameTaken | ReferenceGone> =>
    error.reason._tag === "UniqueViolation" && error.reason.constraint.includes("name")
      ? Effect.fail(new NameTaken())
      : error.reason._tag === "ConstraintError"
      ? Effect.fail(new ReferenceGone())
      : Effect.die(error))

export class SegmentRepo extends Context.Service<SegmentRepo, {
  /** The segment's row, its references, `audit` and `alongside` (statements), as one statement. */
  insert(
    segment: Segment,
    references: ReadonlyArray<SegmentId>,
    audit: Statement.Statement<unknown>,
    alongside: ReadonlyArray<Statement.Statement<unknown>>
  ): Effect.Effect<void, NameTaken | ReferenceGone>
  findById(id: SegmentId): Effect.Effect<Option.Option<Segment>>
  list(query: ListSegmentsQuery): Effect.Effect<
    { readonly data: ReadonlyArray<Segment>; readonly nextCursor: string | null; readonly total: number },
    InvalidCursor
  >
  /** Which of the ids name existing segments. */
  existing(ids: ReadonlyArray<SegmentId>): Effect.Effect<ReadonlySet<SegmentId>>
  /**
   * Applies the changes when the segment is at `expectedVersion` (any version when null); `references` (when
   * the criteria change) replace the segment's references after a cycle check, and `audit` and `alongside`
   * (statements) are written, all in one transaction.
   */
  update(
    id: SegmentId,
    expectedVersion: number | null,
    changes: SegmentChanges,
    references: ReadonlyArray<SegmentId> | undefined,
    updatedAt: string,
    audit: Statement.Statement<unknown>,
    alongside: ReadonlyArray<Statement.Statement<unknown>>
  ): Effect.Effect<UpdateOutcome, NameTaken | ReferenceGone>
  /** `audit` is a guarded statement (Database.ts): written only when the row is deleted. */
  delete(id: SegmentId, expectedVersion: number | null, audit: Statement.Statement<unknown>): Effect.Effect<DeleteOutcome>
  /** Current members after `query.cursor` (a customer id), by customer id. */
  members(segmentId: SegmentId, query: SegmentMembersQuery): Effect.Effect<SegmentMembersPage>
  /** The customer's current segments, by name. */
  segmentsOf(customerId: CustomerId): Effect.Effect<ReadonlyArray<CustomerSegment>>
  /** Every stay of the customer in a segment, current and past, oldest first (for their data export). */
  staysOf(customerId: CustomerId): Effect.Effect<ReadonlyArray<SegmentStay>>
  /**
   * Erasure: the customer's memberships and their history go (they say which audiences the person was in), and
   * the segments they were in count one member fewer. Runs in the erasing transaction.
   */
  eraseCustomer(customerId: CustomerId): Effect.Effect<void>
  /**
   * Adds or removes customers of a manual segment in one statement: per id, in the order given, what happened.
   * None when the segment does not exist; `type` says when it is not manual (and nothing changed). `audit` is a
   * guarded statement (Database.ts), written only when the segment is manual.
   */
  changeMembers(
    segmentId: SegmentId,
    action: "add" | "remove",
    customerIds: ReadonlyArray<CustomerId>,
    at: string,
    audit: Statement.Statement<unknown>
  ): Effect.Effect<
    Option.Option<{
      readonly type: SegmentType
      readonly outcomes: ReadonlyArray<MembershipOutcome>
      readonly memberCount: number
    }>
  >
}>()("cms/segments/SegmentRepo") {
  static readonly layer = Layer.effect(
    SegmentRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const columns = sql.literal(segmentColumns)

      const insertReferences = (id: SegmentId, references: ReadonlyArray<SegmentId>) =>
        sql`INSERT INTO customer_segment_references (segment_id, referenced_segment_id)
          SELECT ${id}, referenced FROM unnest(${references}::uuid[]) AS referenced`

      const insert = Effect.fn("SegmentRepo.insert")(function*(
        segment: Segment,
        references: ReadonlyArray<SegmentId>,
        audit: Statement.Statement<unknown>,
        alongside: ReadonlyArray<Statement.Statement<unknown>>
      ) {
        // `marketing` is generated from the required purposes (migrations/0027).
        const row = sql`INSERT INTO customer_segments (id, name, description, type, criteria, required_purposes, version,
            member_count, last_calculated_at, created_by, created_at, updated_at)
          VALUES (${segment.id}, ${segment.name}, ${segment.description}, ${segment.type},
            ${segment.criteria === null ? null : sql.json(segment.criteria)}, ${segment.requiredPurposes}::text[], ${segment.version}, ${segment.memberCount},
            ${segment.lastCalculatedAt}, ${segment.createdBy}, ${segment.createdAt}, ${segment.updatedAt})`
        // The references' foreign keys are checked at the end of the statement, after the segment's row exists.
        const writes = [sql`segment AS (${row})`, sql`audit AS (${audit})`]
        if (references.length > 0) writes.push(sql`refs AS (${insertReferences(segment.id, references)})`)
        alongside.forEach((write, index) => writes.push(sql`${sql.literal(`alongside_${index}`)} AS (${write})`))
        yield* sql`WITH ${sql.csv(writes)} SELECT 1`.pipe(refusalsOrDie)
      })

      const findById = Effect.fn("SegmentRepo.findById")(function*(id: SegmentId) {
        const rows = yield* sql<SegmentRow>`SELECT ${columns} FROM customer_segments WHERE id = ${id}`.pipe(Effect.orDie)
        return Option.map(Option.fromNullishOr(rows[0]), toSegment)
      })

      const list = Effect.fn("SegmentRepo.list")(function*(query: ListSegmentsQuery) {
        const sort = query.sort ?? "name"
        const descending = sort.startsWith("-")
        const field = (descending ? sort.slice(1) : sort) as SegmentSortField
        const isTime = field === "createdAt"
        const column = sql(sortColumns[field])
        const sortKey = isTime ? sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` : column
        const limit = query.limit ?? defaultSegmentPageSize
        const filter = query.type === undefined ? sql`TRUE` : sql`type = ${query.type}`
        const seek = [filter]
        if (query.cursor !== undefined) {
          const position = yield* Option.match(decodeCursor(query.cursor, `segments:${sort}`, isTime), {
            onNone: () => Effect.fail(new InvalidCursor({ field: "cursor" })),
            onSome: Effect.succeed
          })
          const value = isTime ? sql`${position.value}::timestamptz` : position.value
          seek.push(
            descending
              ? sql`(${column}, id) < (${value}, ${position.id}::uuid)`
              : sql`(${column}, id) > (${value}, ${position.id}::uuid)`
          )
        }
        const order = descending ? sql.literal("DESC") : sql.literal("ASC")
        const [rows, [count]] = yield* Effect.all([
          sql<SegmentRow & { readonly sort_key: string }>`SELECT ${columns}, ${sortKey} AS sort_key
            FROM customer_segments WHERE ${sql.and(seek)}
            ORDER BY ${column} ${order}, id ${order} LIMIT ${limit + 1}`,
          sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM customer_segments WHERE ${filter}`
        ], { concurrency: 2 }).pipe(Effect.orDie)
        const last = rows.at(limit - 1)
        return {
          data: rows.slice(0, limit).map(toSegment),
          nextCursor: rows.length > limit && last !== undefined
            ? encodeCursor(`segments:${sort}`, last.sort_key, last.id)
            : null,
          total: count.n
        }
      })

      const existing = Effect.fn("SegmentRepo.existing")(function*(ids: ReadonlyArray<SegmentId>) {
        if (ids.length === 0) return new Set<SegmentId>()
        const rows = yield* sql<{ readonly id: SegmentId }>`SELECT id FROM customer_segments
          WHERE id = ANY(${ids}::uuid[])`.pipe(Effect.orDie)
        return new Set(rows.map((row) => row.id))
      })

      const currentVersion = (id: SegmentId) =>
        sql<{ readonly version: number }>`SELECT version FROM customer_segments WHERE id = ${id}`.pipe(
          Effect.map((rows): GuardedOutcome<never> =>
            rows.length === 0 ? { _tag: "NotFound" } : { _tag: "Stale", currentVersion: rows[0].version }
          )
        )

      /** The given references from which the references lead back to `id` (itself included). */
      const cycleThrough = (id: SegmentId, references: ReadonlyArray<SegmentId>) =>
        sql<{ readonly start: SegmentId }>`WITH RECURSIVE reach (start, id) AS (
            SELECT start, start FROM unnest(${references}::uuid[]) AS start
            UNION
            SELECT reach.start, r.referenced_segment_id FROM customer_segment_references r
              JOIN reach ON r.segment_id = reach.id
          )
          SELECT DISTINCT start FROM reach WHERE id = ${id}`.pipe(Effect.map((rows) => rows.map((row) => row.start)))

      const update = Effect.fn("SegmentRepo.update")(function*(
        id: SegmentId,
        expectedVersion: number | null,
        changes: SegmentChanges,
        references: ReadonlyArray<SegmentId> | undefined,
        updatedAt: string,
        audit: Statement.Statement<unknown>,
        alongside: ReadonlyArray<Statement.Statement<unknown>>
      ) {
        const assignments = [sql`version = version + 1`, sql`updated_at = ${updatedAt}`]
        if (changes.name !== undefined) assignments.push(sql`name = ${changes.name}`)
        if (changes.description !== undefined) assignments.push(sql`description = ${changes.description}`)
        if (changes.criteria !== undefined) assignments.push(sql`criteria = ${sql.json(changes.criteria)}`)
        if (changes.requiredPurposes !== undefined) {
          assignments.push(sql`required_purposes = ${changes.requiredPurposes}::text[]`)
        }
        const versionGuard = expectedVersion === null ? sql`TRUE` : sql`version = ${expectedVersion}`
        return yield* sql.withTransaction(Effect.gen(function*() {
          if (references !== undefined && references.length > 0) {
            yield* sql`SELECT pg_advisory_xact_lock(${referencesLockKey})`
            const through = yield* cycleThrough(id, references)
            if (through.length > 0) return { _tag: "Cycle", through } as const
          }
          const rows = yield* sql<SegmentRow>`UPDATE customer_segments SET ${sql.csv(assignments)}
            WHERE id = ${id} AND ${versionGuard} RETURNING ${columns}`
          if (rows.length === 0) return yield* currentVersion(id)
          if (references !== undefined) {
            yield* sql`DELETE FROM customer_segment_references WHERE segment_id = ${id}`
            if (references.length > 0) yield* insertReferences(id, references)
          }
          yield* audit
          for (const write of alongside) yield* write
          return { _tag: "Done", value: toSegment(rows[0]) } as const
        })).pipe(refusalsOrDie)
      })

      const referrers = (id: SegmentId) =>
        sql<{ readonly segment_id: SegmentId }>`SELECT segment_id FROM customer_segment_references
          WHERE referenced_segment_id = ${id} ORDER BY segment_id LIMIT ${maxReferrersReported}`.pipe(
          Effect.map((rows) => rows.map((row) => row.segment_id))
        )

      const remove = Effect.fn("SegmentRepo.delete")(function*(
        id: SegmentId,
        expectedVersion: number | null,
        audit: Statement.Statement<unknown>
      ) {
        const versionGuard = expectedVersion === null ? sql`TRUE` : sql`version = ${expectedVersion}`
        return yield* Effect.gen(function*() {
          const referencedBy = yield* referrers(id)
          if (referencedBy.length > 0) return { _tag: "InUse", referencedBy } as const
          const deletion = sql`DELETE FROM customer_segments WHERE id = ${id} AND ${versionGuard} RETURNING id`
          // A calculation locks its job row, then the segment's; the deletion's cascade reaches the job rows, so it
          // takes them first as well, or the two deadlock (seen as a 500 on a DELETE right after a create).
          const jobsFirst = sql`SELECT 1 FROM segment_calculations WHERE segment_id = ${id} FOR UPDATE`
          return yield* sql.withTransaction(Effect.andThen(jobsFirst, guardedStatement(sql, deletion, [audit]))).pipe(
            Effect.flatMap((deleted): Effect.Effect<DeleteOutcome, SqlError.SqlError> =>
              deleted ? Effect.succeed({ _tag: "Done", value: undefined }) : currentVersion(id)
            ),
            // A reference added since the check above: its foreign key keeps the segment.
            Effect.catchIf(
              (error) => error.reason._tag === "ConstraintError",
              () => Effect.map(referrers(id), (referencedBy) => ({ _tag: "InUse", referencedBy } as const))
            )
          )
        }).pipe(Effect.orDie)
      })

      // Served by the partial unique index on current stays (segment_id, customer_id).
      const members = Effect.fn("SegmentRepo.members")(function*(segmentId: SegmentId, query: SegmentMembersQuery) {
        const limit = query.limit ?? defaultMembersPageSize
        const after = query.cursor === undefined ? sql`TRUE` : sql`customer_id > ${query.cursor}`
        const rows = yield* sql<{ readonly customer_id: CustomerId; readonly joined_at: Date }>`SELECT customer_id, joined_at
          FROM customer_segment_memberships
          WHERE segment_id = ${segmentId} AND left_at IS NULL AND ${after}
          ORDER BY customer_id LIMIT ${limit + 1}`.pipe(Effect.orDie)
        const page = rows.slice(0, limit)
        return {
          data: page.map((row) => ({ customerId: row.customer_id, joinedAt: row.joined_at.toISOString() })),
          nextCursor: rows.length > limit ? page[page.length - 1].customer_id : null
        }
      })

      const segmentsOf = Effect.fn("SegmentRepo.segmentsOf")(function*(customerId: CustomerId) {
        const rows = yield* sql<{
          readonly id: SegmentId
          readonly name: string
          readonly type: SegmentType
          readonly joined_at: Date
        }>`SELECT s.id, s.name, s.type, m.joined_at FROM customer_segment_memberships m
            JOIN customer_segments s ON s.id = m.segment_id
          WHERE m.customer_id = ${customerId} AND m.left_at IS NULL
          ORDER BY s.name, s.id`.pipe(Effect.orDie)
        return rows.map((row) => ({ id: row.id, name: row.name, type: row.type, joinedAt: row.joined_at.toISOString() }))
      })

      const staysOf = Effect.fn("SegmentRepo.staysOf")(function*(customerId: CustomerId) {
        const rows = yield* sql<{
          readonly segment_id: SegmentId
          readonly name: string | null
          readonly joined_at: Date
          readonly left_at: Date | null
        }>`SELECT m.segment_id, s.name, m.joined_at, m.left_at FROM customer_segment_memberships m
            LEFT JOIN customer_segments s ON s.id = m.segment_id
          WHERE m.customer_id = ${customerId}
          ORDER BY m.joined_at, m.id`.pipe(Effect.orDie)
        return rows.map((row): SegmentStay => ({
          segmentId: row.segment_id,
          name: row.name,
          joinedAt: row.joined_at.toISOString(),
          leftAt: row.left_at?.toISOString() ?? null
        }))
      })

      /**
       * One statement: the segment's row is locked (concurrent changes of one segment queue up, and its count
       * stays exact), the ids are matched with live customers, the stays opened or closed set-wise, the count
       * moved by as many, and each id's outcome read back in the request's order.
       */
      const changeMembers = Effect.fn("SegmentRepo.changeMembers")(function*(
        segmentId: SegmentId,
        action: "add" | "remove",
        customerIds: ReadonlyArray<CustomerId>,
        at: string,
        audit: Statement.Statement<unknown>
      ) {
        const change = action === "add"
          ? sql`INSERT INTO customer_segment_memberships (segment_id, customer_id, joined_at)
              SELECT target.id, input.customer_id, ${at}::timestamptz FROM input, target WHERE input.live
              ON CONFLICT (segment_id, customer_id) WHERE left_at IS NULL DO NOTHING
              RETURNING customer_id`
          : sql`UPDATE customer_segment_memberships m SET left_at = greatest(m.joined_at, ${at}::timestamptz)
              FROM input, target
              WHERE m.segment_id = target.id AND m.customer_id = input.customer_id AND input.live AND m.left_at IS NULL
              RETURNING m.customer_id`
        const changedOutcome = action === "add" ? "added" : "removed"
        const unchangedOutcome = action === "add" ? "already-member" : "not-member"
        const delta = sql.literal(action === "add" ? "+" : "-")
        const rows = yield* sql<{
          readonly outcome: MembershipOutcome
          readonly segment_type: SegmentType | null
          readonly member_count: number | null
        }>`WITH target AS (
              SELECT id FROM customer_segments WHERE id = ${segmentId} AND type = 'manual' FOR UPDATE
            ),
            input AS (
              SELECT given.customer_id, given.position, c.id IS NOT NULL AS live
              FROM unnest(${customerIds}::uuid[]) WITH ORDINALITY AS given (customer_id, position)
              LEFT JOIN customers c ON c.id = given.customer_id AND c.status <> 'DELETED'
            ),
            ${sql.literal(guardName)} AS (SELECT id FROM target),
            audited AS (${audit}),
            changed AS (${change}),
            counted AS (
              UPDATE customer_segments s SET member_count = s.member_count ${delta} (SELECT count(*) FROM changed)
              FROM target WHERE s.id = target.id
              RETURNING s.member_count
            )
          SELECT CASE WHEN NOT input.live THEN 'customer-not-found'
                   WHEN changed.customer_id IS NOT NULL THEN ${changedOutcome}
                   ELSE ${unchangedOutcome} END AS outcome,
            (SELECT type FROM customer_segments WHERE id = ${segmentId}) AS segment_type,
            (SELECT member_count FROM counted) AS member_count
          FROM input LEFT JOIN changed ON changed.customer_id = input.customer_id
          ORDER BY input.position`.pipe(Effect.orDie)
        const first = rows[0]
        if (first === undefined || first.segment_type === null) return Option.none()
        return Option.some({
          type: first.segment_type,
          outcomes: rows.map((row) => row.outcome),
          memberCount: first.member_count ?? 0
        })
      })

      const eraseCustomer = Effect.fn("SegmentRepo.eraseCustomer")(function*(customerId: CustomerId) {
        // The segments' rows first, in id order, as a membership change locks its segment before its stays:
        // the other order could deadlock with a concurrent bulk change.
        yield* sql`SELECT 1 FROM customer_segments WHERE id IN (
            SELECT segment_id FROM customer_segment_memberships WHERE customer_id = ${customerId} AND left_at IS NULL)
          ORDER BY id FOR UPDATE`.pipe(Effect.orDie)
        yield* sql`WITH erased AS (
              DELETE FROM customer_segment_memberships WHERE customer_id = ${customerId}
              RETURNING segment_id, left_at IS NULL AS current
            )
          UPDATE customer_segments s SET member_count = s.member_count - left_now.members
          FROM (SELECT segment_id, count(*)::int AS members FROM erased WHERE current GROUP BY segment_id) left_now
          WHERE s.id = left_now.segment_id`.pipe(Effect.orDie)
      })

      return SegmentRepo.of({
        insert,
        findById,
        list,
        existing,
        update,
        delete: remove,
        members,
        segmentsOf,
        staysOf,
        eraseCustomer,
        changeMembers
      })
    })
  )
}
