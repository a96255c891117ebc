/**
 * Destinations and their deliveries in PostgreSQL (migrations/0014). Every
 * statement of the destination feature is here: definitions, delivery status,
 * the fan-out of an event into deliveries, the delivery claims (FOR UPDATE SKIP
 * LOCKED with a lease, so several processes share the work), outcomes, dead
 * letters and their replay.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Context, Effect, Layer, Option } from "effect"
import type { Statement } from "effect/sql"
import type { CustomerId } from "../domain/Customer.ts"
import type {
  DeadLetter,
  DestinationChanges,
  DeadLetterPage,
  DeadLettersQuery,
  DeliveryId,
  Destination,
  DestinationId,
  DestinationPage,
  ListDestinationsQuery
} from "../domain/Destination.ts"
import { destinationPageSize } from "../domain/Destination.ts"
import type { SegmentId } from "../domain/SegmentCriteria.ts"
import { uuidv7 } from "../platform/Ids.ts"
import type { GuardedOutcome } from "../segments/SegmentRepo.ts"

interface DestinationRow {
  readonly id: DestinationId
  readonly name: string
  readonly url: string
  readonly segment_id: SegmentId | null
  readonly enabled: boolean
  readonly third_party: boolean
  readonly version: number
  readonly created_at: Date
  readonly updated_at: Date
  readonly last_success_at: Date | null
  readonly last_failure_at: Date | null
  readonly last_http_status: number | null
  readonly last_error: string | null
  readonly consecutive_failures: number
  readonly failing_since: Date | null
  readonly auto_disabled_at: Date | null
  readonly delivered_count: string
  readonly pending: number
  readonly dead: number
  readonly erased: number
}

const iso = (date: Date | null) => date === null ? null : date.toISOString()

const toDestination = (row: DestinationRow): Destination => ({
  id: row.id,
  name: row.name,
  url: row.url,
  segmentId: row.segment_id,
  enabled: row.enabled,
  thirdParty: row.third_party,
  version: row.version,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  status: {
    pending: row.pending,
    delivered: Number(row.delivered_count),
    dead: row.dead,
    erased: row.erased,
    lastSuccessAt: iso(row.last_success_at),
    lastFailureAt: iso(row.last_failure_at),
    lastHttpStatus: row.last_http_status,
    lastError: row.last_error,
    consecutiveFailures: row.consecutive_failures,
    failingSince: iso(row.failing_since),
    autoDisabledAt: iso(row.auto_disabled_at)
  }
})

interface DeadLetterRow {
  readonly id: DeliveryId
  readonly event_id: string
  readonly event_type: string
  readonly attempts: number
  readonly created_at: Date
  readonly finished_at: Date
  readonly last_http_status: number | null
  readonly last_error: string | null
}

const toDeadLetter = (row: DeadLetterRow): DeadLetter => ({
  id: row.id,
  eventId: row.event_id,
  type: row.event_type,
  attempts: row.attempts,
  createdAt: row.created_at.toISOString(),
  diedAt: row.finished_at.toISOString(),
  lastHttpStatus: row.last_http_status,
  lastError: row.last_error
})

/** A new destination's row. */
export interface NewDestination {
  readonly id: DestinationId
  readonly name: string
  readonly url: string
  readonly segmentId: SegmentId | null
  readonly enabled: boolean
  readonly thirdParty: boolean
  readonly secret: string
  readonly at: Date
}


/** A segment event as the fan-out files it: the body is the message as published, sent as it is. */
export interface FannedOutEvent {
  readonly eventId: string
  readonly type: string
  readonly segmentId: string
  /** The customers the event names, as far as the fan-out read them. */
  readonly customerIds?: ReadonlyArray<string> | undefined
  readonly body: string
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu

/** A delivery claimed for one attempt: where to, signed with which secrets, and which attempt this is. */
export interface ClaimedDelivery {
  readonly id: DeliveryId
  readonly destinationId: DestinationId
  readonly url: string
  /** The current secret first, then the one before a rotation while it is still honoured. */
  readonly secrets: ReadonlyArray<string>
  readonly body: string
  readonly attempt: number
}

/** An attempt that failed: what it got, and when to try again (none: the delivery is dead). */
export interface FailedAttempt {
  readonly httpStatus: number | null
  readonly error: string
  readonly nextAttemptAt: Option.Option<Date>
}

/**
 * When a failing destination is disabled: after at least `failures` consecutive failed attempts, the first of
 * them at `failingSince` or earlier.
 */
export interface DisableWhen {
  readonly failures: number
  readonly failingSince: Date
}

export class DestinationRepo extends Context.Service<DestinationRepo, {
  insert(destination: NewDestination, audit: Statement.Statement<unknown>): Effect.Effect<void>
  findById(id: DestinationId): Effect.Effect<Option.Option<Destination>>
  list(query: ListDestinationsQuery): Effect.Effect<DestinationPage>
  /** Applies the changes when the destination is at `expectedVersion` (any version when null). */
  update(
    id: DestinationId,
    expectedVersion: number | null,
    changes: DestinationChanges,
    at: Date,
    audit: Statement.Statement<unknown>
  ): Effect.Effect<GuardedOutcome<Destination>>
  /** Deletes the destination when it is at `expectedVersion` (any version when null). */
  delete(
    id: DestinationId,
    expectedVersion: number | null,
    audit: Statement.Statement<unknown>
  ): Effect.Effect<GuardedOutcome<void>>
  /** The new secret signs from now on; the old one beside it until `previousExpiresAt`. Whether it exists. */
  rotateSecret(
    id: DestinationId,
    secret: string,
    previousExpiresAt: Date,
    at: Date,
    audit: Statement.Statement<unknown>
  ): Effect.Effect<boolean>
  deadLetters(id: DestinationId, query: DeadLettersQuery): Effect.Effect<DeadLetterPage>
  /** Queues the destination's dead letters (those of `ids`, or all) again, attempts from zero; how many. */
  replay(
    id: DestinationId,
    ids: ReadonlyArray<DeliveryId> | undefined,
    at: Date,
    audit: Statement.Statement<unknown>
  ): Effect.Effect<number>
  /**
   * One delivery per destination of the event's segment and per destination of every segment (when the
   * segment is this service's), due at once; a delivery that exists already is kept. How many were added.
   */
  fanOut(event: FannedOutEvent, at: Date): Effect.Effect<number>
  /**
   * Claims up to `limit` due deliveries of enabled destinations until `leasedUntil`, at most `perDestination`
   * in flight per destination counting those already leased, soonest first.
   */
  claim(now: Date, leasedUntil: Date, limit: number, perDestination: number): Effect.Effect<ReadonlyArray<ClaimedDelivery>>
  /** Records the attempt's 2xx, unless the claim was lost meanwhile (its lease passed and another took it). */
  delivered(delivery: ClaimedDelivery, httpStatus: number, at: Date): Effect.Effect<void>
  /**
   * Records the failed attempt: the delivery waits for its next attempt or is dead, and the destination is
   * disabled when it has been failing as `disable` says. Whether this attempt disabled it.
   */
  failed(delivery: ClaimedDelivery, outcome: FailedAttempt, disable: DisableWhen, at: Date): Effect.Effect<boolean>
  /**
   * Erasure, inside its transaction: every delivery's body loses the customer's id, as the outbox's segment
   * events do (a body still to be sent, or replayed, no longer names the person); one still to be sent or dead
   * that names no one any more is dropped (`erased`).
   */
  eraseCustomer(customerId: CustomerId): Effect.Effect<void>
  /**
   * Marketing consent withdrawn, inside its transaction: deliveries of joins of marketing segments not yet
   * delivered lose the customer's id, as erasure's do (one naming no one any more is dropped).
   */
  withholdMarketing(customerId: CustomerId): Effect.Effect<void>
  /**
   * Third-party-sharing withdrawn, inside its transaction: deliveries to third-party destinations lose the
   * customer's id, joins and leaves alike (one naming no one any more is dropped).
   */
  withholdFromThirdParties(customerId: CustomerId): Effect.Effect<void>
  /** Deletes deliveries delivered (or dropped as erased) before `cutoff`. */
  prune(cutoff: Date): Effect.Effect<void>
  /** When the oldest destination was created; none when there is none. */
  readonly firstCreatedAt: Effect.Effect<Option.Option<Date>>
}>()("cms/destinations/DestinationRepo") {
  static readonly layer = Layer.effect(
    DestinationRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient

      const selectDestinations = (where: Statement.Fragment, limit: number) =>
        sql<DestinationRow>`SELECT d.id, d.name, d.url, d.segment_id, d.enabled, d.third_party, d.version, d.created_at, d.updated_at,
            d.last_success_at, d.last_failure_at, d.last_http_status, d.last_error, d.consecutive_failures,
            d.failing_since, d.auto_disabled_at, d.delivered_count::text AS delivered_count,
            d.pending_count AS pending, d.dead_count AS dead, d.erased_count AS erased
          FROM destinations d WHERE ${where} ORDER BY d.id LIMIT ${limit}`.pipe(Effect.orDie)

      const versionGuard = (expectedVersion: number | null) =>
        expectedVersion === null ? sql`TRUE` : sql`version = ${expectedVersion}`

      /** What a guarded write that changed nothing met: no destination, or another version. */
      const currentVersion = (id: DestinationId) =>
        sql<{ readonly version: number }>`SELECT version FROM destinations WHERE id = ${id}`.pipe(
          Effect.map((rows): GuardedOutcome<never> =>
            rows.length === 0 ? { _tag: "NotFound" } : { _tag: "Stale", currentVersion: rows[0].version }
          )
        )

      const findById = Effect.fn("DestinationRepo.findById")(function*(id: DestinationId) {
        const rows = yield* selectDestinations(sql`d.id = ${id}`, 1)
        return Option.map(Option.fromNullishOr(rows[0]), toDestination)
      })

      /**
       * The customers `leaves` selects (a condition on `member`, one element of a body's `customerIds`) leave the
       * bodies of the deliveries `scope` selects; one still to be sent or dead that names no one any more is
       * dropped (`erased`, with `why`), never sent or replayed.
       */
      const withhold = (scope: Statement.Fragment, leaves: Statement.Fragment, why: string) => Effect.gen(function*() {
        const at = new Date(yield* Clock.currentTimeMillis)
        // A delivery left naming no one (still to be sent, or dead) would tell its receiver nothing but that
        // someone was erased: it is dropped as `erased`, never sent or replayed. Delivered ones keep their state.
        yield* sql`WITH named AS (
            SELECT x.id, x.destination_id, x.status, COALESCE(
                (SELECT jsonb_agg(member) FROM jsonb_array_elements(x.payload::jsonb -> 'customerIds') AS member
                  WHERE NOT (${leaves})),
                '[]'::jsonb) AS kept
            FROM destination_deliveries x
            WHERE ${scope} AND EXISTS (
              SELECT 1 FROM jsonb_array_elements(x.payload::jsonb -> 'customerIds') AS member WHERE ${leaves})
            FOR UPDATE
          ), judged AS (
            SELECT named.*, named.status IN ('pending', 'dead') AND named.kept = '[]'::jsonb AS dropped FROM named
          ), scrubbed AS (
            UPDATE destination_deliveries x SET payload = jsonb_set(x.payload::jsonb, '{customerIds}', judged.kept)::text,
              status = CASE WHEN judged.dropped THEN 'erased' ELSE x.status END,
              finished_at = CASE WHEN judged.dropped THEN COALESCE(x.finished_at, ${at}) ELSE x.finished_at END,
              leased_until = CASE WHEN judged.dropped THEN NULL ELSE x.leased_until END,
              last_error = CASE WHEN judged.dropped THEN ${why} ELSE x.last_error END
            FROM judged WHERE x.id = judged.id
          )
          UPDATE destinations d SET pending_count = d.pending_count - dropped.pending,
            dead_count = d.dead_count - dropped.dead, erased_count = d.erased_count + dropped.pending + dropped.dead
          FROM (SELECT destination_id, count(*) FILTER (WHERE status = 'pending')::int AS pending,
              count(*) FILTER (WHERE status = 'dead')::int AS dead
            FROM judged WHERE dropped GROUP BY destination_id) AS dropped
          WHERE d.id = dropped.destination_id`.pipe(Effect.orDie)
      })

      const theCustomer = (customerId: CustomerId) => sql`member = to_jsonb(${customerId}::text)`

      const eraseCustomer = Effect.fn("DestinationRepo.eraseCustomer")((customerId: CustomerId) =>
        withhold(sql`TRUE`, theCustomer(customerId), "every customer it named was erased")
      )

      // Joins of marketing segments only: a leave tells the receiver to stop, which is what the person asked.
      const marketingJoins = sql`x.event_type = 'segment.joined' AND (x.payload::jsonb ->> 'segmentId')::uuid IN (
        SELECT id FROM customer_segments WHERE marketing)`

      const withholdMarketing = Effect.fn("DestinationRepo.withholdMarketing")((customerId: CustomerId) =>
        withhold(marketingJoins, theCustomer(customerId), "every customer it named withdrew marketing consent")
      )

      // Joins and leaves alike: that a person left a segment is theirs too, and a third party is owed none of it.
      const toThirdParties = sql`x.destination_id IN (SELECT id FROM destinations WHERE third_party)`
      const notSharing = "no customer it named granted third-party-sharing"

      const withholdFromThirdParties = Effect.fn("DestinationRepo.withholdFromThirdParties")(
        (customerId: CustomerId) => withhold(toThirdParties, theCustomer(customerId), notSharing)
      )

      /** A member who has not granted third-party-sharing (one that is no customer id has not either). */
      const notSharingMember = sql`NOT COALESCE((SELECT c.status = 'granted' FROM customer_consents c
        WHERE c.purpose = 'third-party-sharing' AND c.customer_id = CASE
          WHEN member #>> '{}' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
          THEN (member #>> '{}')::uuid END), false)`

      return DestinationRepo.of({
        insert: Effect.fn("DestinationRepo.insert")(function*(destination, audit) {
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`INSERT INTO destinations (id, name, url, segment_id, enabled, third_party, secret, created_at,
                updated_at)
              VALUES (${destination.id}, ${destination.name}, ${destination.url}, ${destination.segmentId},
                ${destination.enabled}, ${destination.thirdParty}, ${destination.secret}, ${destination.at},
                ${destination.at})`
            yield* audit
          })).pipe(Effect.orDie)
        }),

        findById,

        list: Effect.fn("DestinationRepo.list")(function*(query) {
          const limit = query.limit ?? destinationPageSize.default
          const after = query.cursor === undefined ? sql`TRUE` : sql`d.id > ${query.cursor}`
          const rows = yield* selectDestinations(after, limit + 1)
          const page = rows.slice(0, limit).map(toDestination)
          return { data: page, nextCursor: rows.length > limit ? page[page.length - 1].id : null }
        }),

        update: Effect.fn("DestinationRepo.update")(function*(id, expectedVersion, changes, at, audit) {
          const set = {
            ...(changes.name === undefined ? {} : { name: changes.name }),
            ...(changes.url === undefined ? {} : { url: changes.url }),
            ...(changes.segmentId === undefined ? {} : { segment_id: changes.segmentId }),
            ...(changes.enabled === undefined ? {} : { enabled: changes.enabled }),
            ...(changes.thirdParty === undefined ? {} : { third_party: changes.thirdParty }),
            // Enabled again (by a user): the destination's failing starts over, so it gets a fresh allowance.
            ...(changes.enabled === true ? { auto_disabled_at: null, failing_since: null, consecutive_failures: 0 } : {}),
            updated_at: at
          }
          const updated = yield* sql.withTransaction(Effect.gen(function*() {
            const result = yield* sql`UPDATE destinations SET ${sql.update(set)}, version = version + 1
              WHERE id = ${id} AND ${versionGuard(expectedVersion)} RETURNING id`
            if (result.length === 0) return yield* currentVersion(id)
            // Marked a third party: what it has still to receive (or may be replayed) is shared no more than
            // what it will receive.
            if (changes.thirdParty === true) {
              yield* withhold(
                sql`x.destination_id = ${id} AND x.status IN ('pending', 'dead')`,
                notSharingMember,
                notSharing
              )
            }
            yield* audit
            return { _tag: "Done", value: undefined } as const
          })).pipe(Effect.orDie)
          if (updated._tag !== "Done") return updated
          return yield* Option.match(yield* findById(id), {
            onNone: () => Effect.succeed({ _tag: "NotFound" } as const),
            onSome: (value) => Effect.succeed({ _tag: "Done", value } as const)
          })
        }),

        delete: Effect.fn("DestinationRepo.delete")(function*(id, expectedVersion, audit) {
          return yield* sql.withTransaction(Effect.gen(function*() {
            const rows = yield* sql`DELETE FROM destinations WHERE id = ${id} AND ${versionGuard(expectedVersion)}
              RETURNING id`
            if (rows.length === 0) return yield* currentVersion(id)
            yield* audit
            return { _tag: "Done", value: undefined } as const
          })).pipe(Effect.orDie)
        }),

        rotateSecret: Effect.fn("DestinationRepo.rotateSecret")(function*(id, secret, previousExpiresAt, at, audit) {
          return yield* sql.withTransaction(Effect.gen(function*() {
            const rows = yield* sql`UPDATE destinations SET previous_secret = secret,
                previous_secret_expires_at = ${previousExpiresAt}, secret = ${secret}, updated_at = ${at},
                version = version + 1
              WHERE id = ${id} RETURNING id`
            if (rows.length === 0) return false
            yield* audit
            return true
          })).pipe(Effect.orDie)
        }),

        deadLetters: Effect.fn("DestinationRepo.deadLetters")(function*(id, query) {
          const limit = query.limit ?? destinationPageSize.default
          const rows = yield* sql<DeadLetterRow>`SELECT id, event_id::text AS event_id, event_type, attempts,
              created_at, finished_at, last_http_status, last_error
            FROM destination_deliveries
            WHERE destination_id = ${id} AND status = 'dead'
              AND ${query.cursor === undefined ? sql`TRUE` : sql`id > ${query.cursor}`}
            ORDER BY id LIMIT ${limit + 1}`.pipe(Effect.orDie)
          const page = rows.slice(0, limit).map(toDeadLetter)
          return { data: page, nextCursor: rows.length > limit ? page[page.length - 1].id : null }
        }),

        replay: Effect.fn("DestinationRepo.replay")(function*(id, ids, at, audit) {
          return yield* sql.withTransaction(Effect.gen(function*() {
            const [{ replayed }] = yield* sql<{ readonly replayed: number }>`WITH replayed AS (
                UPDATE destination_deliveries SET status = 'pending', attempts = 0,
                  next_attempt_at = ${at}, leased_until = NULL, finished_at = NULL
                WHERE destination_id = ${id} AND status = 'dead'
                  AND ${ids === undefined ? sql`TRUE` : sql`id = ANY(${ids}::uuid[])`}
                RETURNING id
              ), counted AS (
                UPDATE destinations SET pending_count = pending_count + (SELECT count(*) FROM replayed),
                  dead_count = dead_count - (SELECT count(*) FROM replayed)
                WHERE id = ${id}
              )
              SELECT count(*)::int AS replayed FROM replayed`
            yield* audit
            return replayed
          })).pipe(Effect.orDie)
        }),

        fanOut: Effect.fn("DestinationRepo.fanOut")(function*(event, at) {
          const destinations = yield* sql<{ readonly id: string }>`SELECT id FROM destinations
            WHERE segment_id = ${event.segmentId}::uuid
              OR (segment_id IS NULL AND EXISTS (SELECT 1 FROM customer_segments WHERE id = ${event.segmentId}::uuid))`
            .pipe(Effect.orDie)
          if (destinations.length === 0) return 0
          const ids = destinations.map(() => uuidv7(at.getTime()))
          const insert = sql<{ readonly added: number }>`WITH added AS (
            INSERT INTO destination_deliveries
              (id, destination_id, event_id, event_type, payload, status, next_attempt_at, created_at)
            SELECT delivery.id, delivery.destination_id, ${event.eventId}::uuid, ${event.type}, ${event.body},
              'pending', ${at}, ${at}
            FROM unnest(${ids}::uuid[], ${destinations.map((row) => row.id)}::uuid[]) AS delivery (id, destination_id)
            ON CONFLICT (destination_id, event_id) DO NOTHING
            RETURNING destination_id
          ), counted AS (
            UPDATE destinations d SET pending_count = d.pending_count + 1 FROM added WHERE d.id = added.destination_id
          )
          SELECT count(*)::int AS added FROM added`
          // An event published before a customer's erasure and filed after it still names them: the erasure's
          // scrub is applied to the new deliveries before anyone can claim them (same transaction).
          const named = (event.customerIds ?? []).filter((id) => uuidPattern.test(id))
          return yield* sql.withTransaction(Effect.gen(function*() {
            const [{ added }] = yield* insert
            if (added === 0 || named.length === 0) return added
            const erased = yield* sql<{ readonly id: CustomerId }>`SELECT id FROM customers
              WHERE id = ANY(${named}::uuid[]) AND status = 'DELETED'`
            for (const { id } of erased) yield* eraseCustomer(id)
            // Likewise a join of a marketing segment naming someone who withdrew marketing consent since.
            if (event.type === "segment.joined") {
              const withdrawn = yield* sql<{ readonly id: CustomerId }>`SELECT id FROM customers
                WHERE id = ANY(${named}::uuid[]) AND status <> 'DELETED' AND NOT (consent ->> 'marketing')::boolean`
              for (const { id } of withdrawn) yield* withholdMarketing(id)
            }
            // A third party's deliveries name only those who granted sharing, whatever the event.
            yield* withhold(
              sql`x.event_id = ${event.eventId}::uuid AND ${toThirdParties}`,
              notSharingMember,
              notSharing
            )
            return added
          })).pipe(Effect.orDie)
        }),

        claim: Effect.fn("DestinationRepo.claim")(function*(now, leasedUntil, limit, perDestination) {
          const rows = yield* sql<{
            readonly id: DeliveryId
            readonly destination_id: DestinationId
            readonly url: string
            readonly secret: string
            readonly previous_secret: string | null
            readonly payload: string
            readonly attempts: number
          }>`WITH candidates AS (
                SELECT x.id, x.destination_id, x.next_attempt_at FROM destination_deliveries x
                WHERE x.status = 'pending' AND x.next_attempt_at <= ${now}
                  AND (x.leased_until IS NULL OR x.leased_until <= ${now})
                  AND EXISTS (SELECT 1 FROM destinations d WHERE d.id = x.destination_id AND d.enabled)
                ORDER BY x.next_attempt_at, x.id
                LIMIT ${limit * 4}
                FOR UPDATE OF x SKIP LOCKED
              ), ranked AS (
                SELECT c.id, row_number() OVER (PARTITION BY c.destination_id ORDER BY c.next_attempt_at, c.id)
                  + (SELECT count(*) FROM destination_deliveries b
                      WHERE b.destination_id = c.destination_id AND b.status = 'pending' AND b.leased_until > ${now})
                  AS place
                FROM candidates c
              ), chosen AS (
                SELECT id FROM ranked WHERE place <= ${perDestination} ORDER BY id LIMIT ${limit}
              )
              UPDATE destination_deliveries x SET leased_until = ${leasedUntil}, attempts = x.attempts + 1
              FROM chosen, destinations d
              WHERE x.id = chosen.id AND d.id = x.destination_id
              RETURNING x.id, x.destination_id, d.url, d.secret,
                CASE WHEN d.previous_secret_expires_at > ${now} THEN d.previous_secret END AS previous_secret,
                x.payload, x.attempts`.pipe(Effect.orDie)
          return rows.map((row) => ({
            id: row.id,
            destinationId: row.destination_id,
            url: row.url,
            secrets: row.previous_secret === null ? [row.secret] : [row.secret, row.previous_secret],
            body: row.payload,
            attempt: row.attempts
          }))
        }),

        delivered: Effect.fn("DestinationRepo.delivered")(function*(delivery, httpStatus, at) {
          yield* sql`WITH done AS (
              UPDATE destination_deliveries SET status = 'delivered', finished_at = ${at}, leased_until = NULL,
                last_http_status = ${httpStatus}, last_error = NULL
              WHERE id = ${delivery.id} AND status = 'pending' AND attempts = ${delivery.attempt}
              RETURNING destination_id
            )
            UPDATE destinations SET last_success_at = ${at}, last_http_status = ${httpStatus}, last_error = NULL,
              consecutive_failures = 0, failing_since = NULL, delivered_count = delivered_count + 1,
              pending_count = pending_count - 1
            WHERE id IN (SELECT destination_id FROM done)`.pipe(Effect.orDie)
        }),

        failed: Effect.fn("DestinationRepo.failed")(function*(delivery, outcome, disable, at) {
          const next = Option.getOrNull(outcome.nextAttemptAt)
          // Over the row as it is when updated (concurrent attempts of one destination count each other).
          const failingLongEnough = sql`(d.consecutive_failures + 1 >= ${disable.failures}
            AND COALESCE(d.failing_since, ${at}) <= ${disable.failingSince})`
          const rows = yield* sql<{ readonly disabled: boolean }>`WITH failed AS (
              UPDATE destination_deliveries SET
                status = ${next === null ? "dead" : "pending"},
                finished_at = ${next === null ? at : null}::timestamptz,
                next_attempt_at = COALESCE(${next}::timestamptz, next_attempt_at),
                leased_until = NULL, last_http_status = ${outcome.httpStatus}::int, last_error = ${outcome.error}
              WHERE id = ${delivery.id} AND status = 'pending' AND attempts = ${delivery.attempt}
              RETURNING destination_id
            )
            UPDATE destinations d SET last_failure_at = ${at}, last_http_status = ${outcome.httpStatus}::int,
              last_error = ${outcome.error}, consecutive_failures = d.consecutive_failures + 1,
              pending_count = d.pending_count - ${next === null ? 1 : 0}::int,
              dead_count = d.dead_count + ${next === null ? 1 : 0}::int,
              failing_since = COALESCE(d.failing_since, ${at}),
              enabled = d.enabled AND NOT ${failingLongEnough},
              auto_disabled_at = CASE WHEN d.enabled AND ${failingLongEnough} THEN ${at} ELSE d.auto_disabled_at END,
              version = d.version + CASE WHEN d.enabled AND ${failingLongEnough} THEN 1 ELSE 0 END
            WHERE d.id IN (SELECT destination_id FROM failed)
            RETURNING NOT d.enabled AND d.auto_disabled_at = ${at} AS disabled`.pipe(Effect.orDie)
          return rows[0]?.disabled === true
        }),

        eraseCustomer,
        withholdMarketing,
        withholdFromThirdParties,

        prune: Effect.fn("DestinationRepo.prune")(function*(cutoff) {
          yield* sql`DELETE FROM destination_deliveries WHERE status = 'delivered' AND finished_at < ${cutoff}`
            .pipe(Effect.orDie)
          yield* sql`DELETE FROM destination_deliveries WHERE status = 'erased' AND finished_at < ${cutoff}`
            .pipe(Effect.orDie)
        }),

        firstCreatedAt: sql<{ readonly first: Date | null }>`SELECT min(created_at) AS first FROM destinations`.pipe(
          Effect.map(([row]) => Option.fromNullishOr(row?.first)),
          Effect.orDie,
          Effect.withSpan("DestinationRepo.firstCreatedAt")
        )
      })
    })
  )
}
