/**
 * Segment criteria against a real database: a fresh database with the
 * migrations applied (no service running: the evaluators need only the
 * tables), customers and their rollup rows written straight into it (with
 * their memberships and rule outcomes, the evaluators' other inputs), and
 * both evaluators asked who matches.
 */
import { PgClient } from "@effect/sql-pg"
import { Array as Arr, ConfigProvider, Effect, Layer, References } from "effect"
import { ClvModels } from "../../src/analytics/ClvModels.ts"
import type { CustomerId } from "../../src/domain/Customer.ts"
import type { RuleId } from "../../src/domain/Rules.ts"
import type { Criterion, SegmentId } from "../../src/domain/SegmentCriteria.ts"
import { DatabaseLive } from "../../src/platform/Database.ts"
import { evaluate } from "../../src/segments/CriteriaEval.ts"
import { criteriaPredicate } from "../../src/segments/CriteriaSql.ts"
import { CustomerFactsRepo } from "../../src/segments/CustomerFacts.ts"
import { dailyRowsReadByAll, type EvaluationContext, todayOf } from "../../src/segments/Evaluation.ts"
import { lifetimeValueFactors } from "../../src/segments/LifetimeValue.ts"
import { scopedDatabase } from "./TestService.ts"

/** PgClient (and the facts repository) on a database of this test file's own, migrated, with a stand-in membership table. */
export const segmentDatabase = Layer.unwrap(Effect.gen(function*() {
  const { url } = yield* scopedDatabase
  const database = DatabaseLive.pipe(
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({
      DATABASE_URL: url,
      DB_POOL_MAX: "4",
      DB_COMMAND_POOL_MAX: "1"
    })))
  )
  // The evaluators take membership of other segments as an input (memberOf / isMember). A table of the tests'
  // own holds it, free of customer_segment_memberships' foreign keys and history, which the property's random
  // worlds would have to satisfy without testing anything more of the evaluators.
  // The rules engine's answers are an input in the same way (ruleMatches / matches): a table of rule outcomes.
  const membershipTable = Layer.effectDiscard(Effect.flatMap(PgClient.PgClient, (sql) =>
    Effect.andThen(
      sql`CREATE TABLE test_segment_members (segment_id uuid NOT NULL, customer_id uuid NOT NULL,
        PRIMARY KEY (segment_id, customer_id))`,
      sql`CREATE TABLE test_rule_matches (rule_id text NOT NULL, customer_id uuid NOT NULL,
        PRIMARY KEY (rule_id, customer_id))`
    ).pipe(Effect.orDie)))
  return Layer.mergeAll(CustomerFactsRepo.layer, ClvModels.layer, membershipTable).pipe(Layer.provideMerge(database))
})).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, "Warn")))

/** A customer as the tables hold it; rollup rows as the folder would have left them (or not: any rows go). */
export interface WorldCustomer {
  readonly id: string
  readonly age: number | null
  readonly gender: string | null
  readonly status: string
  readonly location: Readonly<Record<string, string>> | null
  readonly preferences: Readonly<Record<string, unknown>>
  readonly tags: ReadonlyArray<string>
  readonly metadata: Readonly<Record<string, unknown>>
  readonly consent: { readonly marketing: boolean; readonly dataProcessing: boolean }
  /** The latest consent entry of purposes beyond the profile's two (customer_consents), by purpose. */
  readonly purposes: Readonly<Record<string, "granted" | "withdrawn">>
  readonly activity: {
    readonly lastSeenAt: string
    readonly events: number
    readonly revenue: string
    readonly purchaseDays: number
    readonly firstPurchaseOn: string | null
    readonly lastPurchaseOn: string | null
    /** numeric(20, 4) text; "0" when not given. */
    readonly repeatRevenue?: string
  } | null
  readonly types: ReadonlyArray<{ readonly type: string; readonly events: number; readonly lastOn: string }>
  readonly daily: ReadonlyArray<{ readonly day: string; readonly type: string; readonly events: number; readonly revenue: string }>
  readonly segments: ReadonlyArray<string>
  /** The rules of the rules engine this customer matches (the engine's answer, given). */
  readonly rules: ReadonlyArray<string>
}

/** A customer with nothing but what a profile must have. */
export const plainCustomer = (overrides: Partial<WorldCustomer> = {}): WorldCustomer => ({
  id: crypto.randomUUID(),
  age: null,
  gender: null,
  status: "ACTIVE",
  location: null,
  preferences: {},
  tags: [],
  metadata: {},
  consent: { marketing: false, dataProcessing: true },
  purposes: {},
  activity: null,
  types: [],
  daily: [],
  segments: [],
  rules: [],
  ...overrides
})

// Children first: consent rows reference their customer.
const customerTables = [
  "customer_consents",
  "customers",
  "customer_activity",
  "customer_type_activity",
  "customer_daily_activity",
  "test_segment_members",
  "test_rule_matches"
] as const

/** Replaces every customer (and their rollup rows and memberships) with these, a statement per table. */
export const replaceWorld = (customers: ReadonlyArray<WorldCustomer>) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    // DELETE rather than TRUNCATE: the tables hold a few rows, and TRUNCATE's file work costs far more.
    for (const table of customerTables) yield* sql`DELETE FROM ${sql(table)}`
    const insert = (table: string, rows: ReadonlyArray<Record<string, unknown>>) =>
      Arr.isReadonlyArrayNonEmpty(rows) ? sql`INSERT INTO ${sql(table)} ${sql.insert(rows)}` : Effect.void
    // jsonb as JSON text: an untyped parameter the column's type decides.
    yield* insert("customers", customers.map((customer) => ({
      id: customer.id,
      email: `${customer.id}@example.com`,
      name: "Generated",
      age: customer.age,
      gender: customer.gender,
      status: customer.status,
      location: customer.location === null ? null : JSON.stringify(customer.location),
      preferences: JSON.stringify(customer.preferences),
      tags: customer.tags,
      metadata: JSON.stringify(customer.metadata),
      consent: JSON.stringify(customer.consent)
    })))
    yield* insert("customer_consents", customers.flatMap((customer) =>
      Object.entries(customer.purposes).map(([purpose, status]) => ({
        customer_id: customer.id,
        purpose,
        status,
        legal_basis: "consent",
        source: "import",
        policy_version: "1",
        recorded_at: "2026-01-01T00:00:00Z"
      }))
    ))
    yield* insert("customer_activity", customers.flatMap((customer) =>
      customer.activity === null ? [] : [{
        customer_id: customer.id,
        first_seen_at: "2020-01-01T00:00:00Z",
        last_seen_at: customer.activity.lastSeenAt,
        events: customer.activity.events,
        revenue: customer.activity.revenue,
        purchase_days: customer.activity.purchaseDays,
        first_purchase_on: customer.activity.firstPurchaseOn,
        last_purchase_on: customer.activity.lastPurchaseOn,
        repeat_revenue: customer.activity.repeatRevenue ?? "0",
        folded_at: customer.activity.lastSeenAt
      }]
    ))
    yield* insert("customer_type_activity", customers.flatMap((customer) =>
      customer.types.map((row) => ({
        customer_id: customer.id,
        type: row.type,
        events: row.events,
        last_on: row.lastOn
      }))
    ))
    yield* insert("customer_daily_activity", customers.flatMap((customer) =>
      customer.daily.map((row) => ({
        customer_id: customer.id,
        day: row.day,
        type: row.type,
        events: row.events,
        revenue: row.revenue
      }))
    ))
    yield* insert("test_segment_members", customers.flatMap((customer) =>
      customer.segments.map((segmentId) => ({ segment_id: segmentId, customer_id: customer.id }))
    ))
    yield* insert("test_rule_matches", customers.flatMap((customer) =>
      customer.rules.map((ruleId) => ({ rule_id: ruleId, customer_id: customer.id }))
    ))
  }).pipe(Effect.orDie)

export interface Selection {
  readonly sql: ReadonlyArray<string>
  /** The SQL predicate in its WHERE-only form (`total` false), as the calculation selects with it. */
  readonly where: ReadonlyArray<string>
  readonly memory: ReadonlyArray<string>
}

/**
 * Who matches each of the criteria, by each evaluator (ids sorted): the SQL predicate run over the table (in
 * both its forms), and the in-memory evaluator over the facts CustomerFactsRepo loads (once, for every customer).
 */
export const selectEach = (criteria: ReadonlyArray<Criterion>, context: EvaluationContext) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const memberOf = (segmentId: SegmentId) =>
      sql`EXISTS (SELECT 1 FROM test_segment_members m WHERE m.segment_id = ${segmentId} AND m.customer_id = c.id)`
    const ruleMatches = (ruleId: RuleId) =>
      sql`EXISTS (SELECT 1 FROM test_rule_matches r WHERE r.rule_id = ${ruleId} AND r.customer_id = c.id)`
    const ids = yield* sql<{ readonly id: CustomerId }>`SELECT id FROM customers`.pipe(Effect.orDie)
    // Only the daily rows the criteria read: a bound too tight would show as a disagreement.
    const days = dailyRowsReadByAll(criteria, todayOf(context))
    const facts = [...(yield* (yield* CustomerFactsRepo).loadMany(ids.map((row) => row.id), days)).values()]
    const members = yield* sql<{ readonly segmentId: string; readonly customerId: string }>`SELECT
      segment_id AS "segmentId", customer_id AS "customerId" FROM test_segment_members`.pipe(Effect.orDie)
    const memberships = new Set(members.map((row) => `${row.segmentId}/${row.customerId}`))
    const ruleRows = yield* sql<{ readonly ruleId: string; readonly customerId: string }>`SELECT
      rule_id AS "ruleId", customer_id AS "customerId" FROM test_rule_matches`.pipe(Effect.orDie)
    const ruleOutcomes = new Set(ruleRows.map((row) => `${row.ruleId}/${row.customerId}`))
    const lifetimeValue = yield* lifetimeValueFactors(sql, criteria, context).pipe(Effect.orDie)
    return yield* Effect.forEach(criteria, (criterion) =>
      Effect.gen(function*() {
        const select = (total: boolean) =>
          sql<{ readonly id: string }>`SELECT c.id FROM customers c
            WHERE ${criteriaPredicate(sql, criterion, {
              ...context,
              memberOf,
              ruleMatches,
              lifetimeValueFactors: lifetimeValue
            }, total)}`.pipe(
            Effect.map((rows) => rows.map((row) => row.id).sort()),
            Effect.orDie
          )
        const inMemory = facts.filter((customer) =>
          evaluate(criterion, customer, context, {
            isMember: (segmentId) => memberships.has(`${segmentId}/${customer.id}`)
          }, { matches: (ruleId) => ruleOutcomes.has(`${ruleId}/${customer.id}`) })
        )
        return {
          sql: yield* select(true),
          where: yield* select(false),
          memory: inMemory.map((customer) => customer.id as string).sort()
        } satisfies Selection
      }))
  })

/** selectEach for one criteria tree. */
export const selectBoth = (criteria: Criterion, context: EvaluationContext) =>
  Effect.map(selectEach([criteria], context), ([selection]) => selection)
