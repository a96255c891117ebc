/**
 * What the in-memory criteria evaluator knows of a customer: the profile
 * fields criteria read and the customer's rollup rows (migrations/0005),
 * loaded for a set of customers in one statement, from one snapshot.
 * Days are UTC day numbers (analytics/Days.ts); amounts are exact
 * ten-thousandths of the reporting currency, as numeric(20, 4) holds them.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option } from "effect"
import type { Consent, CustomerId, CustomerStatus, Gender, Location, Metadata, Preferences } from "../domain/Customer.ts"
import { dayText } from "../analytics/Days.ts"
import { allDailyRows, type DailyRowsRead, moneyUnitsOfText } from "./Evaluation.ts"
import type { PurchaseRow, UnfoldedEvent } from "./UnfoldedEvents.ts"

/** customer_activity: null for a customer without events. */
export interface ActivityFacts {
  readonly lastSeenDay: number
  readonly events: number
  readonly revenue: bigint
  readonly purchaseDays: number
  readonly firstPurchaseDay: number | null
  readonly lastPurchaseDay: number | null
  /** Purchase revenue after the first purchase day (a float, as the analytics endpoint reads it). */
  readonly repeatRevenue: number
}

/** customer_type_activity: all-history events per type, and the last day of each. */
export interface TypeFacts {
  readonly type: string
  readonly events: number
  readonly lastDay: number
}

/** customer_daily_activity: events and revenue per day and type (the days and types the criteria read: Evaluation.dailyRowsRead). */
export interface DayFacts {
  readonly day: number
  readonly type: string
  readonly events: number
  readonly revenue: bigint
}

export interface CustomerFacts {
  readonly id: CustomerId
  readonly age: number | null
  readonly gender: Gender | null
  readonly status: CustomerStatus
  readonly location: Location | null
  readonly preferences: Preferences
  readonly tags: ReadonlyArray<string>
  readonly metadata: Metadata
  readonly consent: Consent
  /** The purposes whose latest consent entry is a grant (customer_consents), for consent criteria beyond the profile's. */
  readonly grantedPurposes: ReadonlyArray<string>
  readonly activity: ActivityFacts | null
  readonly types: ReadonlyArray<TypeFacts>
  readonly days: ReadonlyArray<DayFacts>
}

/**
 * The profile fields the facts hold (those criteria read): a change of another field (name, email, phone)
 * cannot move a customer in or out of a segment, so it queues no re-evaluation.
 */
export const profileFactFields: ReadonlyArray<string> = [
  "age",
  "gender",
  "status",
  "location",
  "preferences",
  "tags",
  "metadata",
  "consent",
  "grantedPurposes"
] satisfies ReadonlyArray<keyof CustomerFacts>

type Row = Omit<CustomerFacts, "activity" | "days"> & {
  readonly activity:
    | (Omit<ActivityFacts, "revenue" | "repeatRevenue"> & { readonly revenue: string; readonly repeatRevenue: string })
    | null
  readonly days: ReadonlyArray<Omit<DayFacts, "revenue"> & { readonly revenue: string }>
}

const toFacts = (row: Row): CustomerFacts => ({
  ...row,
  activity: row.activity === null ? null : {
    ...row.activity,
    revenue: moneyUnitsOfText(row.activity.revenue),
    // From the numeric's text, as PostgreSQL's numeric::float8 reads it: both round to the nearest double.
    repeatRevenue: Number(row.activity.repeatRevenue)
  },
  days: row.days.map((day) => ({ ...day, revenue: moneyUnitsOfText(day.revenue) }))
})

/** What to read beside the facts about events not folded yet (UnfoldedEvents.ts), in the same snapshot. */
export interface UnfoldedRead {
  /** This process's committed batches not known to be folded, with the customers having events in each. */
  readonly own: ReadonlyArray<{ readonly customerId: CustomerId; readonly batchId: string }>
  /** Every batch this process holds, folded or not: any other unfolded batch is read from the database. */
  readonly ownBatchIds: ReadonlyArray<string>
  /** Customers whose every purchase row is wanted (those with unfolded purchases). */
  readonly purchasesOf: ReadonlyArray<CustomerId>
  /** The fold's reporting currency: revenue in another counts 0 in the rollups. */
  readonly reportingCurrency: string
}

export interface FactsBeforeFold {
  readonly facts: CustomerFacts
  /** Of the customer's batches in `own`, those not folded yet. */
  readonly unfoldedOwn: ReadonlyArray<string>
  /** The customer's events in unfolded batches that are not in `ownBatchIds` (another process's, or missed). */
  readonly foreign: ReadonlyArray<UnfoldedEvent>
  /** Every purchase row, for customers in `purchasesOf` and those with a purchase among `foreign`. */
  readonly purchases: ReadonlyArray<PurchaseRow>
}

type UnfoldedRow = Row & {
  readonly unfolded_own: ReadonlyArray<string>
  readonly foreign: ReadonlyArray<{ readonly type: string; readonly occurredAt: number; readonly reportingRevenue: string }>
  readonly purchases: ReadonlyArray<{ readonly day: number; readonly revenue: string }>
}

export class CustomerFactsRepo extends Context.Service<CustomerFactsRepo, {
  /**
   * The facts of each customer found (erased ones included: the status criterion decides about those), with
   * the daily rows `days` says the criteria read (every one by default).
   */
  loadMany(ids: ReadonlyArray<CustomerId>, days?: DailyRowsRead): Effect.Effect<ReadonlyMap<CustomerId, CustomerFacts>>
  load(id: CustomerId, days?: DailyRowsRead): Effect.Effect<Option.Option<CustomerFacts>>
  /**
   * loadMany, and in the same statement (one snapshot, so that an event is either in the rollups or unfolded,
   * never both or neither) which of the customers' own batches are still unfolded, their events in unfolded
   * batches of others, and their purchase rows where asked.
   */
  loadBeforeFold(
    ids: ReadonlyArray<CustomerId>,
    days: DailyRowsRead,
    unfolded: UnfoldedRead
  ): Effect.Effect<ReadonlyMap<CustomerId, FactsBeforeFold>>
}>()("cms/segments/CustomerFactsRepo") {
  static readonly layer = Layer.effect(
    CustomerFactsRepo,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      // Day numbers computed by PostgreSQL, with the very expressions the SQL compiler uses.
      const dayOf = (column: string) => sql.literal(`(${column} - DATE '1970-01-01')`)

      /** The facts' columns over `customers c` (and the rollups), for the customers selected after them. */
      const factColumns = (days: DailyRowsRead) => {
        const dailyRows = days._tag === "None"
          ? sql`FALSE`
          : sql.and([
            days.from === null ? sql`TRUE` : sql`d.day >= ${dayText(days.from)}::date`,
            days.types === null ? sql`TRUE` : sql`d.type = ANY(${days.types}::text[])`
          ])
        // Revenue as text: a float would round what numeric holds exactly.
        return sql`c.id, c.age, c.gender, c.status, c.location, c.preferences, c.tags,
            c.metadata, c.consent,
            ARRAY(SELECT cc.purpose FROM customer_consents cc WHERE cc.customer_id = c.id AND cc.status = 'granted')
              AS "grantedPurposes",
            (SELECT json_build_object(
                'lastSeenDay', ${dayOf("(a.last_seen_at AT TIME ZONE 'UTC')::date")},
                'events', a.events::float8, 'revenue', a.revenue::text, 'purchaseDays', a.purchase_days,
                'firstPurchaseDay', ${dayOf("a.first_purchase_on")}, 'lastPurchaseDay', ${dayOf("a.last_purchase_on")},
                'repeatRevenue', a.repeat_revenue::text)
              FROM customer_activity a WHERE a.customer_id = c.id) AS activity,
            (SELECT coalesce(json_agg(json_build_object('type', t.type, 'events', t.events::float8,
                'lastDay', ${dayOf("t.last_on")})), '[]')
              FROM customer_type_activity t WHERE t.customer_id = c.id) AS types,
            (SELECT coalesce(json_agg(json_build_object('day', ${dayOf("d.day")}, 'type', d.type,
                'events', d.events, 'revenue', d.revenue::text)), '[]')
              FROM customer_daily_activity d WHERE d.customer_id = c.id AND ${dailyRows}) AS days`
      }

      const loadMany = Effect.fn("CustomerFactsRepo.loadMany")(function*(
        ids: ReadonlyArray<CustomerId>,
        days: DailyRowsRead = allDailyRows
      ) {
        if (ids.length === 0) return new Map<CustomerId, CustomerFacts>()
        const rows = yield* sql<Row>`SELECT ${factColumns(days)}
          FROM customers c WHERE c.id = ANY(${ids}::uuid[])`.pipe(Effect.orDie)
        return new Map(rows.map((row) => [row.id, toFacts(row)]))
      })

      const loadBeforeFold = Effect.fn("CustomerFactsRepo.loadBeforeFold")(function*(
        ids: ReadonlyArray<CustomerId>,
        days: DailyRowsRead,
        unfolded: UnfoldedRead
      ) {
        if (ids.length === 0) return new Map<CustomerId, FactsBeforeFold>()
        const currency = unfolded.reportingCurrency
        // The fold's reporting_revenue, and its UTC day (from the instant in epoch milliseconds).
        const rows = yield* sql<UnfoldedRow>`WITH own_unfolded AS MATERIALIZED (
            SELECT o.customer_id, array_agg(DISTINCT o.batch::text) AS batches
            FROM unnest(${unfolded.own.map((row) => row.customerId)}::uuid[],
              ${unfolded.own.map((row) => row.batchId)}::bigint[]) AS o (customer_id, batch)
            JOIN event_batches b ON b.id = o.batch AND b.folded_at IS NULL
            GROUP BY o.customer_id
          ),
          -- The unfolded batches this process does not hold, first and apart: usually none, and the planner must
          -- not unnest every unfolded batch for each of the customers' events.
          foreign_batches AS MATERIALIZED (
            SELECT id, event_ids, occurred FROM event_batches
            WHERE folded_at IS NULL AND NOT (id = ANY(${unfolded.ownBatchIds}::bigint[]))
          ),
          foreign_events AS MATERIALIZED (
            SELECT e.customer_id, json_agg(json_build_object('type', e.type,
                'occurredAt', (extract(epoch FROM e.occurred_at) * 1000)::float8,
                'reportingRevenue', (CASE WHEN e.currency IS NULL OR e.currency = ${currency}
                  THEN coalesce(e.revenue, 0) ELSE 0 END)::numeric(20, 4)::text)) AS events,
              bool_or(e.type = 'purchase') AS bought
            FROM foreign_batches b CROSS JOIN LATERAL unnest(b.event_ids, b.occurred) AS k (id, occurred_at)
            JOIN customer_events e ON e.id = k.id AND e.occurred_at = k.occurred_at
            WHERE e.customer_id = ANY(${ids}::uuid[])
            GROUP BY e.customer_id
          )
          SELECT ${factColumns(days)},
            coalesce(ou.batches, '{}') AS unfolded_own,
            coalesce(fe.events, '[]') AS foreign,
            CASE WHEN c.id = ANY(${unfolded.purchasesOf}::uuid[]) OR fe.bought THEN (
              SELECT coalesce(json_agg(json_build_object('day', ${dayOf("p.day")}, 'revenue', p.revenue::text)), '[]')
              FROM customer_daily_activity p WHERE p.customer_id = c.id AND p.type = 'purchase'
            ) ELSE '[]' END AS purchases
          FROM customers c
            LEFT JOIN own_unfolded ou ON ou.customer_id = c.id
            LEFT JOIN foreign_events fe ON fe.customer_id = c.id
          WHERE c.id = ANY(${ids}::uuid[])`.pipe(Effect.orDie)
        return new Map(rows.map(({ foreign, purchases, unfolded_own, ...row }): [CustomerId, FactsBeforeFold] => [row.id, {
          facts: toFacts(row),
          unfoldedOwn: unfolded_own,
          foreign: foreign.map((event) => ({
            type: event.type,
            occurredAt: event.occurredAt,
            reportingRevenue: moneyUnitsOfText(event.reportingRevenue)
          })),
          purchases: purchases.map((purchase) => ({ day: purchase.day, revenue: moneyUnitsOfText(purchase.revenue) }))
        }]))
      })

      const load = Effect.fn("CustomerFactsRepo.load")(function*(id: CustomerId, days?: DailyRowsRead) {
        const found = yield* loadMany([id], days)
        return Option.fromNullishOr(found.get(id))
      })

      return CustomerFactsRepo.of({ loadMany, load, loadBeforeFold })
    })
  )
}
