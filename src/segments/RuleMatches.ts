/**
 * The rules engine's answers for one calculation: every live customer's
 * rule facts (docs/rules-engine.md: no contact details, no free text), read
 * in pages by id, are sent to the engine for each rule the criteria name
 * before the run's transaction opens (so no lock is held while the engine
 * answers); the customers it says match then go into a table of the run's
 * transaction, which the compiled predicate's `rule` leaves read (as
 * `segment` leaves read the memberships).
 */
import { Data, Effect, Option, Stream } from "effect"
import type { SqlClient, SqlError, Statement } from "effect/sql"
import type { RuleId, RuleSubject } from "../domain/Rules.ts"
import type { RulesEngine, RulesEngineUnreachable } from "../platform/RulesEngine.ts"

/** The engine no longer has a rule the criteria name: the calculation cannot be made until they change. */
export class RuleGone extends Data.TaggedError("RuleGone")<{ readonly ruleId: RuleId }> {}

interface FactsRow {
  readonly id: string
  readonly age: number | null
  readonly gender: string | null
  readonly status: string
  readonly country: string | null
  readonly tags: ReadonlyArray<string>
  readonly events: number
  readonly revenue: string
  readonly purchaseDays: number
  readonly lastSeenOn: string | null
}

/**
 * Pages being evaluated at once, and rules asked at once per page: the next pages are read while the engine
 * answers, and at most 16 requests wait on it.
 */
const pagesInFlight = 4
const rulesInFlight = 4

/** Ids per INSERT of stored matches. */
const storeSlice = 50_000

const subjectOf = ({ id, ...facts }: FactsRow): RuleSubject => ({ id, facts })

/** A predicate over `c`: the rule matched the customer, as the run's table of the engine's answers says. */
export const storedRuleMatch = (sql: Statement.Constructor) => (ruleId: RuleId): Statement.Fragment =>
  sql`EXISTS (SELECT 1 FROM segment_rule_matches r WHERE r.rule_id = ${ruleId} AND r.customer_id = c.id)`

/** Who each rule matched, by customer id. */
export type RuleMatches = ReadonlyMap<RuleId, ReadonlyArray<string>>

/** How far the asking has got: live customers the engine has answered for (every rule), of how many. */
export interface RuleMatchProgress {
  readonly done: number
  readonly total: number
}

/**
 * Asks the engine about every live customer for each rule, in pages by id, reading with statements of their own
 * (no transaction: nothing is held while the engine answers); `progress` is told after each page.
 */
export const fetchRuleMatches = <R>(
  sql: SqlClient.SqlClient,
  engine: RulesEngine["Service"],
  rules: ReadonlyArray<RuleId>,
  progress: (progress: RuleMatchProgress) => Effect.Effect<void, never, R>
): Effect.Effect<RuleMatches, RulesEngineUnreachable | RuleGone | SqlError.SqlError, R> =>
  Effect.gen(function*() {
    const matches = new Map<RuleId, Array<string>>(rules.map((ruleId) => [ruleId, []]))
    if (rules.length === 0) return matches
    const [{ total }] = yield* sql<{ readonly total: number }>`SELECT count(*)::int AS total FROM customers
      WHERE status <> 'DELETED'`
    let done = 0
    yield* progress({ done, total })
    const page = (after: string | null) =>
      sql<FactsRow>`SELECT c.id::text AS id, c.age, c.gender, c.status, c.country, c.tags,
          coalesce(a.events, 0)::float8 AS events, coalesce(a.revenue, 0::numeric(20, 4))::text AS revenue,
          coalesce(a.purchase_days, 0)::int AS "purchaseDays",
          to_char((a.last_seen_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS "lastSeenOn"
        FROM customers c LEFT JOIN customer_activity a ON a.customer_id = c.id
        WHERE c.status <> 'DELETED' AND ${after === null ? sql`TRUE` : sql`c.id > ${after}::uuid`}
        ORDER BY c.id LIMIT ${engine.batchSize}`
    const evaluatePage = (rows: ReadonlyArray<FactsRow>) => {
      const subjects = rows.map(subjectOf)
      return Effect.forEach(rules, (ruleId) =>
        Effect.gen(function*() {
          const matched = yield* engine.evaluate(ruleId, subjects)
          if (Option.isNone(matched)) return yield* new RuleGone({ ruleId })
          matches.get(ruleId)!.push(...matched.value)
        }), { concurrency: rulesInFlight, discard: true }).pipe(
          Effect.andThen(Effect.suspend(() => {
            done += rows.length
            return progress({ done: Math.min(done, total), total })
          }))
        )
    }
    yield* Stream.paginate(null as string | null, (after) =>
      Effect.map(page(after), (rows) =>
        [
          rows.length === 0 ? [] : [rows],
          rows.length < engine.batchSize ? Option.none() : Option.some(rows[rows.length - 1].id)
        ] as const)).pipe(
        Stream.mapEffect(evaluatePage, { concurrency: pagesInFlight, unordered: true }),
        Stream.runDrain
      )
    return matches
  })

/**
 * Stores the engine's answers in `segment_rule_matches` (dropped at commit) and returns the predicate over `c`
 * for a rule leaf. Must run inside the run's transaction.
 */
export const storeRuleMatches = (
  sql: SqlClient.SqlClient,
  matches: RuleMatches
): Effect.Effect<(ruleId: RuleId) => Statement.Fragment, SqlError.SqlError> =>
  Effect.gen(function*() {
    if (matches.size === 0) return storedRuleMatch(sql)
    yield* sql`CREATE TEMP TABLE segment_rule_matches (rule_id text NOT NULL, customer_id uuid NOT NULL,
      PRIMARY KEY (rule_id, customer_id)) ON COMMIT DROP`
    for (const [ruleId, customerIds] of matches) {
      // In slices, so no statement carries millions of parameters' worth of ids.
      for (let start = 0; start < customerIds.length; start += storeSlice) {
        yield* sql`INSERT INTO segment_rule_matches (rule_id, customer_id)
          SELECT ${ruleId}, unnest(${customerIds.slice(start, start + storeSlice)}::uuid[])`
      }
    }
    yield* sql`ANALYZE segment_rule_matches`
    return storedRuleMatch(sql)
  })
