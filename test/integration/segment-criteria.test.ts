/**
 * Each criterion kind on the real database, worked out by hand: the SQL
 * compiler's predicate and the in-memory evaluator (over the facts
 * CustomerFactsRepo loads) must both select exactly the expected customers,
 * at window edges, with exact money, and with missing data (a leaf on
 * missing data is false; `not` of it is true).
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { dayOfInstant, dayText } from "../../src/analytics/Days.ts"
import { customerLifetimeValue, probabilityAlive } from "../../src/analytics/Clv.ts"
import { type Criterion, SegmentCriteria } from "../../src/domain/SegmentCriteria.ts"
import { currentEvaluationContext, type EvaluationContext } from "../../src/segments/Evaluation.ts"
import { toValuePrecision } from "../../src/segments/LifetimeValue.ts"
import { plainCustomer, replaceWorld, segmentDatabase, selectBoth, type WorldCustomer } from "../support/Segments.ts"

const now = Date.parse("2026-03-15T12:00:00Z")
const today = dayOfInstant(now)
/** The UTC day `ago` days before 2026-03-15 (negative: after it). */
const daysAgo = (ago: number) => dayText(today - ago)
const context: EvaluationContext = { now, churnModel: null, spendModel: null }

/**
 * The evaluation context with the Clock at `millis`: a TestClock of its own, so that moving it does not move
 * the database pool's timers.
 */
const contextAt = (millis: number) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(millis)
    return yield* currentEvaluationContext
  }).pipe(Effect.provide(TestClock.layer()))

/** Customers under labels; the world holds exactly these. */
const world = (customers: Record<string, Partial<WorldCustomer>>) => {
  const byLabel = Object.fromEntries(Object.entries(customers).map(([label, fields]) => [label, plainCustomer(fields)]))
  return Effect.as(replaceWorld(Object.values(byLabel)), byLabel)
}

/** Both evaluators select exactly the labelled customers. */
const expectMatches = (
  customers: Record<string, WorldCustomer>,
  criteria: unknown,
  expected: ReadonlyArray<string>,
  evaluation: EvaluationContext = context
) =>
  Effect.gen(function*() {
    // Through the schema, as criteria will arrive.
    const decoded: Criterion = Schema.decodeUnknownSync(SegmentCriteria)(criteria)
    const { memory, sql } = yield* selectBoth(decoded, evaluation)
    const labelOf = new Map(Object.entries(customers).map(([label, customer]) => [customer.id, label]))
    const names = (ids: ReadonlyArray<string>) => ids.map((id) => labelOf.get(id) ?? id).sort()
    const wanted = [...expected].sort()
    assert.deepStrictEqual(names(sql), wanted, `SQL, for ${JSON.stringify(criteria)}`)
    assert.deepStrictEqual(names(memory), wanted, `in memory, for ${JSON.stringify(criteria)}`)
  })

const activity = (lastSeenAt: string, fields: Partial<NonNullable<WorldCustomer["activity"]>> = {}) => ({
  lastSeenAt,
  events: 1,
  revenue: "0.0000",
  purchaseDays: 0,
  firstPurchaseOn: null,
  lastPurchaseOn: null,
  ...fields
})

layer(segmentDatabase)("segment criteria, both evaluators", (it) => {
  it.effect("age and gender; no age or gender never matches, and its negation does", () =>
    Effect.gen(function*() {
      const customers = yield* world({
        minor: { age: 17, gender: "FEMALE" },
        adult: { age: 18, gender: "MALE" },
        senior: { age: 65, gender: "OTHER" },
        unknown: {}
      })
      yield* expectMatches(customers, { kind: "age", atLeast: 18, atMost: 64 }, ["adult"])
      yield* expectMatches(customers, { kind: "not", criterion: { kind: "age", atLeast: 18, atMost: 64 } }, [
        "minor",
        "senior",
        "unknown"
      ])
      yield* expectMatches(customers, { kind: "age", atMost: 17 }, ["minor"])
      yield* expectMatches(customers, { kind: "gender", in: ["FEMALE", "OTHER"] }, ["minor", "senior"])
      yield* expectMatches(customers, { kind: "not", criterion: { kind: "gender", in: ["MALE"] } }, [
        "minor",
        "senior",
        "unknown"
      ])
    }))

  it.effect("status, country, region and city; text matches exactly", () =>
    Effect.gen(function*() {
      const customers = yield* world({
        london: { location: { country: "GB", region: "England", city: "London" } },
        paris: { location: { country: "FR", city: "Paris" }, status: "INACTIVE" },
        londonLower: { location: { country: "GB", city: "london" } },
        nowhere: { status: "SUSPENDED" }
      })
      yield* expectMatches(customers, { kind: "country", in: ["GB"] }, ["london", "londonLower"])
      yield* expectMatches(customers, { kind: "region", in: ["England"] }, ["london"])
      yield* expectMatches(customers, { kind: "not", criterion: { kind: "region", in: ["England"] } }, [
        "paris",
        "londonLower",
        "nowhere"
      ])
      yield* expectMatches(customers, { kind: "city", in: ["London", "Paris"] }, ["london", "paris"])
      yield* expectMatches(customers, { kind: "status", in: ["INACTIVE", "SUSPENDED"] }, ["paris", "nowhere"])
      // A value that would be SQL if it were pasted into the statement is only a value.
      yield* expectMatches(customers, { kind: "city", in: ["x'; DROP TABLE customers; --"] }, [])
      yield* expectMatches(customers, { kind: "country", in: ["FR"] }, ["paris"])
    }))

  it.effect("event counts over relative and absolute windows, edges included, and over all history", () =>
    Effect.gen(function*() {
      const customers = yield* world({
        // 2 purchases on the window's first day (29 days ago) and 1 today: 3 in the last 30 days.
        edge: {
          daily: [
            { day: daysAgo(29), type: "purchase", events: 2, revenue: "0" },
            { day: daysAgo(0), type: "purchase", events: 1, revenue: "0" },
            { day: daysAgo(0), type: "page_view", events: 7, revenue: "0" }
          ],
          types: [{ type: "purchase", events: 3, lastOn: daysAgo(0) }],
          activity: activity(`${daysAgo(0)}T10:00:00Z`, { events: 10 })
        },
        // 2 of its 3 purchases are a day before the window.
        outside: {
          daily: [
            { day: daysAgo(30), type: "purchase", events: 2, revenue: "0" },
            { day: daysAgo(1), type: "purchase", events: 1, revenue: "0" }
          ],
          types: [{ type: "purchase", events: 3, lastOn: daysAgo(1) }],
          activity: activity(`${daysAgo(1)}T10:00:00Z`, { events: 3 })
        },
        // Stamped ahead of the clock: tomorrow still counts as within the last 30 days.
        ahead: {
          daily: [{ day: daysAgo(-1), type: "purchase", events: 3, revenue: "0" }],
          types: [{ type: "purchase", events: 3, lastOn: daysAgo(-1) }],
          activity: activity(`${daysAgo(-1)}T00:05:00Z`, { events: 3 })
        },
        never: {}
      })
      const purchases = (window: unknown, range: Record<string, number>) => ({
        kind: "eventCount",
        type: "purchase",
        ...(window === undefined ? {} : { window }),
        ...range
      })
      yield* expectMatches(customers, purchases({ lastDays: 30 }, { atLeast: 3 }), ["edge", "ahead"])
      yield* expectMatches(customers, purchases({ lastDays: 31 }, { atLeast: 3 }), ["edge", "outside", "ahead"])
      // A customer without events has counted zero: counts are known for everyone.
      yield* expectMatches(customers, purchases({ lastDays: 30 }, { atMost: 0 }), ["never"])
      yield* expectMatches(customers, purchases({ from: daysAgo(30), to: daysAgo(29) }, { atLeast: 2, atMost: 2 }), [
        "edge",
        "outside"
      ])
      yield* expectMatches(customers, purchases({ to: daysAgo(30) }, { atLeast: 1 }), ["outside"])
      yield* expectMatches(customers, purchases(undefined, { atLeast: 3 }), ["edge", "outside", "ahead"])
      yield* expectMatches(customers, { kind: "eventCount", window: { lastDays: 1 }, atLeast: 8 }, ["edge"])
      yield* expectMatches(customers, { kind: "eventCount", atLeast: 4 }, ["edge"])
      yield* expectMatches(customers, { kind: "eventCount", type: "signup", atMost: 0 }, [
        "edge",
        "outside",
        "ahead",
        "never"
      ])
    }))

  it.effect("last activity by UTC day; never seen matches no window, and its negation", () =>
    Effect.gen(function*() {
      const customers = yield* world({
        // The last instant of the seventh day back: within the last 7 days.
        lateInDay: {
          activity: activity(`${daysAgo(6)}T23:59:59.999Z`),
          types: [{ type: "login", events: 1, lastOn: daysAgo(6) }]
        },
        eightDays: {
          activity: activity(`${daysAgo(7)}T23:59:59.999Z`),
          types: [{ type: "purchase", events: 1, lastOn: daysAgo(7) }]
        },
        never: {}
      })
      yield* expectMatches(customers, { kind: "lastSeen", window: { lastDays: 7 } }, ["lateInDay"])
      yield* expectMatches(customers, { kind: "not", criterion: { kind: "lastSeen", window: { lastDays: 7 } } }, [
        "eightDays",
        "never"
      ])
      yield* expectMatches(customers, { kind: "lastSeen", window: { to: daysAgo(7) } }, ["eightDays"])
      yield* expectMatches(customers, { kind: "lastSeen", type: "purchase", window: { lastDays: 8 } }, ["eightDays"])
      yield* expectMatches(customers, { kind: "lastSeen", type: "login", window: { from: daysAgo(6), to: daysAgo(6) } }, [
        "lateInDay"
      ])
    }))

  it.effect("revenue, exact to the ten-thousandth over windows and all history", () =>
    Effect.gen(function*() {
      const customers = yield* world({
        // 0.1 + 0.2 is 0.30000000000000004 in floating point: exactly 0.3 here.
        tenths: {
          daily: [
            { day: daysAgo(2), type: "purchase", events: 1, revenue: "0.1000" },
            { day: daysAgo(1), type: "purchase", events: 1, revenue: "0.2000" },
            { day: daysAgo(40), type: "purchase", events: 1, revenue: "100.0000" }
          ],
          activity: activity(`${daysAgo(1)}T08:00:00Z`, { revenue: "100.3000" })
        },
        refunded: {
          daily: [
            { day: daysAgo(1), type: "purchase", events: 1, revenue: "50.0000" },
            { day: daysAgo(0), type: "refund", events: 1, revenue: "-50.0001" }
          ],
          activity: activity(`${daysAgo(0)}T08:00:00Z`, { revenue: "-0.0001" })
        },
        never: {}
      })
      yield* expectMatches(customers, { kind: "revenue", window: { lastDays: 30 }, atLeast: 0.3, atMost: 0.3 }, [
        "tenths"
      ])
      yield* expectMatches(customers, { kind: "revenue", window: { lastDays: 30 }, atMost: 0 }, ["refunded", "never"])
      yield* expectMatches(customers, { kind: "revenue", window: { lastDays: 30 }, atMost: -0.0001 }, ["refunded"])
      yield* expectMatches(customers, { kind: "revenue", atLeast: 100.3 }, ["tenths"])
      yield* expectMatches(customers, { kind: "revenue", atLeast: 0 }, ["tenths", "never"])
    }))

  it.effect("churn risk under a fitted model; unknown without a model or without purchases", () =>
    Effect.gen(function*() {
      const model = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 }
      const customers = yield* world({
        // Bought on 6 days over the first 70 of 400 days, none since: likely gone.
        lapsed: {
          activity: activity(`${daysAgo(330)}T09:00:00Z`, {
            purchaseDays: 6,
            firstPurchaseOn: daysAgo(400),
            lastPurchaseOn: daysAgo(330)
          })
        },
        // Bought on 6 days up to yesterday.
        regular: {
          activity: activity(`${daysAgo(1)}T09:00:00Z`, {
            purchaseDays: 6,
            firstPurchaseOn: daysAgo(400),
            lastPurchaseOn: daysAgo(1)
          })
        },
        // One purchase day: BG/NBD cannot have seen it drop out, so its risk is 0.
        once: {
          activity: activity(`${daysAgo(300)}T09:00:00Z`, {
            purchaseDays: 1,
            firstPurchaseOn: daysAgo(300),
            lastPurchaseOn: daysAgo(300)
          })
        },
        browser: { activity: activity(`${daysAgo(1)}T09:00:00Z`) }
      })
      const risk = (lastAgo: number) => 1 - probabilityAlive(model, 5, (400 - lastAgo) / 7, 400 / 7)
      assert.isAbove(risk(330), 0.5)
      assert.isBelow(risk(1), 0.5)
      const withModel = { now, churnModel: model, spendModel: null }
      yield* expectMatches(customers, { kind: "churnRisk", atLeast: 0.5 }, ["lapsed"], withModel)
      yield* expectMatches(customers, { kind: "churnRisk", atMost: 0.5 }, ["regular", "once"], withModel)
      yield* expectMatches(customers, { kind: "not", criterion: { kind: "churnRisk", atMost: 0.5 } }, [
        "lapsed",
        "browser"
      ], withModel)
      yield* expectMatches(customers, { kind: "churnRisk", atLeast: 0 }, [])
    }))

  it.effect("lifetime value as the analytics function computes it, threshold included; unknown without both models", () =>
    Effect.gen(function*() {
      const churnModel = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 }
      const spendModel = { p: 6.25, q: 3.74, v: 15.44 }
      const summary = (purchaseDays: number, firstAgo: number, lastAgo: number, repeatRevenue: string) =>
        activity(`${daysAgo(lastAgo)}T09:00:00Z`, {
          purchaseDays,
          firstPurchaseOn: daysAgo(firstAgo),
          lastPurchaseOn: daysAgo(lastAgo),
          repeatRevenue
        })
      const customers = yield* world({
        regular: { activity: summary(6, 400, 1, "250.0000") },
        lapsed: { activity: summary(6, 400, 330, "250.0000") },
        once: { activity: summary(1, 30, 30, "0.0000") },
        browser: { activity: activity(`${daysAgo(1)}T09:00:00Z`) }
      })
      const valueOf = (x: number, firstAgo: number, lastAgo: number, repeatRevenue: number) =>
        toValuePrecision(customerLifetimeValue(churnModel, spendModel, {
          x,
          tX: (firstAgo - lastAgo) / 7,
          T: firstAgo / 7,
          meanSpend: x > 0 ? repeatRevenue / x : 0
        }))
      const regular = valueOf(5, 400, 1, 250)
      const lapsed = valueOf(5, 400, 330, 250)
      const once = valueOf(0, 30, 30, 0)
      assert.isBelow(lapsed, once)
      assert.isBelow(once, regular)
      const models = { now, churnModel, spendModel }
      yield* expectMatches(customers, { kind: "lifetimeValue", atLeast: regular }, ["regular"], models)
      yield* expectMatches(customers, { kind: "lifetimeValue", atLeast: once, atMost: regular }, ["once", "regular"], models)
      yield* expectMatches(customers, { kind: "lifetimeValue", atMost: lapsed }, ["lapsed"], models)
      // Unknown is false, and its negation true: the browser has no purchase.
      yield* expectMatches(customers, { kind: "not", criterion: { kind: "lifetimeValue", atLeast: once } }, [
        "lapsed",
        "browser"
      ], models)
      // No spend model, or one without a finite mean (q <= 1): unknown for everyone.
      yield* expectMatches(customers, { kind: "lifetimeValue", atLeast: -1000 }, [], { now, churnModel, spendModel: null })
      yield* expectMatches(customers, { kind: "lifetimeValue", atLeast: -1000 }, [], {
        now,
        churnModel,
        spendModel: { ...spendModel, q: 1 }
      })
      yield* expectMatches(customers, { kind: "lifetimeValue", atLeast: -1000 }, [], { now, churnModel: null, spendModel })
    }))

  it.effect("engagement score as analytics reports it, rounding included", () =>
    Effect.gen(function*() {
      const customers = yield* world({
        // Active today only, 5 events: 100 (0.4 + 0.35 / 3 + 0.25 / 2) = 64.17, scored 64.
        today: {
          daily: [
            { day: daysAgo(0), type: "page_view", events: 3, revenue: "0" },
            { day: daysAgo(0), type: "purchase", events: 2, revenue: "0" }
          ],
          activity: activity(`${daysAgo(0)}T09:00:00Z`, { events: 5 })
        },
        // A day older than the engagement window counts for nothing but recency.
        ancient: {
          daily: [{ day: daysAgo(400), type: "page_view", events: 50, revenue: "0" }],
          activity: activity(`${daysAgo(400)}T09:00:00Z`, { events: 50 })
        },
        never: {}
      })
      yield* expectMatches(customers, { kind: "engagementScore", atLeast: 64, atMost: 64 }, ["today"])
      yield* expectMatches(customers, { kind: "engagementScore", atLeast: 65 }, [])
      yield* expectMatches(customers, { kind: "engagementScore", atMost: 0 }, ["ancient", "never"])
    }))

  it.effect("tags, preferences, consent", () =>
    Effect.gen(function*() {
      const customers = yield* world({
        vip: {
          tags: ["vip", "beta"],
          preferences: { language: "en-GB", notifications: { email: true, sms: false, push: false } },
          consent: { marketing: true, dataProcessing: true }
        },
        beta: { tags: ["beta"], preferences: { language: "fr-FR" } },
        none: {}
      })
      yield* expectMatches(customers, { kind: "tags", match: "any", tags: ["vip", "beta"] }, ["vip", "beta"])
      yield* expectMatches(customers, { kind: "tags", match: "all", tags: ["vip", "beta"] }, ["vip"])
      yield* expectMatches(customers, { kind: "preference", setting: "language", in: ["en-GB", "de-DE"] }, ["vip"])
      yield* expectMatches(customers, { kind: "preferenceFlag", setting: "notifications.email", is: true }, ["vip"])
      yield* expectMatches(customers, { kind: "preferenceFlag", setting: "notifications.sms", is: false }, ["vip"])
      yield* expectMatches(customers, {
        kind: "not",
        criterion: { kind: "preferenceFlag", setting: "notifications.sms", is: false }
      }, ["beta", "none"])
      yield* expectMatches(customers, { kind: "consent", purpose: "marketing", given: true }, ["vip"])
      yield* expectMatches(customers, { kind: "consent", purpose: "marketing", given: false }, ["beta", "none"])
    }))

  it.effect("metadata paths: presence, JSON equality, numeric order, arrays, and values that look like SQL", () =>
    Effect.gen(function*() {
      const customers = yield* world({
        gold: {
          metadata: { plan: { name: "gold", seats: 12 }, devices: ["ios", "web"], note: "O'Brien \"x\" \\ '; --" }
        },
        silver: { metadata: { plan: { name: "silver", seats: 0.30000000000000004 }, devices: [] } },
        textSeats: { metadata: { plan: { name: "1", seats: "12" }, cleared: null } },
        none: {}
      })
      const plan = (field: string, operator: string, value?: unknown) => ({
        kind: "metadata",
        path: ["plan", field],
        operator,
        ...(value === undefined ? {} : { value })
      })
      yield* expectMatches(customers, plan("name", "exists"), ["gold", "silver", "textSeats"])
      yield* expectMatches(customers, { kind: "metadata", path: ["cleared"], operator: "exists" }, [])
      yield* expectMatches(customers, plan("name", "eq", "gold"), ["gold"])
      // JSON equality: the string "1" is not the number 1, nor "12" the number 12.
      yield* expectMatches(customers, plan("name", "eq", 1), [])
      yield* expectMatches(customers, plan("seats", "in", [12, "nope"]), ["gold"])
      yield* expectMatches(customers, plan("seats", "in", ["12"]), ["textSeats"])
      // Numbers compare by value, exactly as written: 0.30000000000000004 is above 0.3.
      yield* expectMatches(customers, plan("seats", "gt", 0.3), ["gold", "silver"])
      yield* expectMatches(customers, plan("seats", "lte", 0.30000000000000004), ["silver"])
      yield* expectMatches(customers, plan("seats", "gte", 12), ["gold"])
      // Strings are not ordered: the text "12" is no number, and neither it nor its negation errs.
      yield* expectMatches(customers, { kind: "not", criterion: plan("seats", "lt", 100) }, ["textSeats", "none"])
      yield* expectMatches(customers, { kind: "metadata", path: ["devices", "1"], operator: "eq", value: "web" }, ["gold"])
      yield* expectMatches(customers, { kind: "metadata", path: ["devices", "0"], operator: "exists" }, ["gold"])
      yield* expectMatches(customers, { kind: "metadata", path: ["plan", "0"], operator: "exists" }, [])
      yield* expectMatches(customers, {
        kind: "metadata",
        path: ["note"],
        operator: "eq",
        value: "O'Brien \"x\" \\ '; --"
      }, ["gold"])
    }))

  it.effect("membership of other segments, and nested combinators", () =>
    Effect.gen(function*() {
      const vips = "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35"
      const customers = yield* world({
        member: { segments: [vips], age: 30 },
        young: { age: 20 },
        other: {}
      })
      yield* expectMatches(customers, { kind: "segment", segmentId: vips }, ["member"])
      yield* expectMatches(customers, {
        kind: "any",
        criteria: [
          { kind: "segment", segmentId: vips },
          { kind: "all", criteria: [{ kind: "age", atMost: 25 }, { kind: "not", criterion: { kind: "age", atMost: 18 } }] }
        ]
      }, ["member", "young"])
      yield* expectMatches(customers, { kind: "not", criterion: { kind: "any", criteria: [{ kind: "age", atLeast: 0 }] } }, [
        "other"
      ])
      // The database is untouched by the hostile-looking values above.
      const [count] = yield* Effect.flatMap(PgClient.PgClient, (sql) =>
        sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM customers`.pipe(Effect.orDie))
      assert.strictEqual(count.n, 3)
    }))

  it.effect("rules of the rules engine, as the engine answered for each customer; unanswered is no match", () =>
    Effect.gen(function*() {
      const customers = yield* world({
        both: { rules: ["vip-gb", "big-spender"], age: 40 },
        vip: { rules: ["vip-gb"], age: 20 },
        neither: { age: 40 }
      })
      yield* expectMatches(customers, { kind: "rule", ruleId: "vip-gb" }, ["both", "vip"])
      yield* expectMatches(customers, { kind: "not", criterion: { kind: "rule", ruleId: "big-spender" } }, ["vip", "neither"])
      yield* expectMatches(customers, { kind: "rule", ruleId: "never-answered" }, [])
      yield* expectMatches(customers, {
        kind: "all",
        criteria: [{ kind: "rule", ruleId: "vip-gb" }, { kind: "age", atLeast: 30 }]
      }, ["both"])
    }))

  it.effect("an evaluation takes its instant from the Clock and its churn model from the latest fit", () =>
    Effect.gen(function*() {
      const customers = yield* world({
        // Seen at the last instant of 2026-03-09: within the last 7 days until 2026-03-15 ends.
        weekAgo: {
          activity: activity("2026-03-09T23:59:59.999Z", {
            purchaseDays: 6,
            firstPurchaseOn: "2025-02-08",
            lastPurchaseOn: "2025-04-19"
          })
        }
      })
      const sql = yield* PgClient.PgClient
      yield* sql`INSERT INTO clv_models (id, status, trigger, period_to, r, alpha, a, b, bg_nbd_log_likelihood,
          requested_at, finished_at)
        VALUES (${crypto.randomUUID()}, 'succeeded', 'requested', now(), 0.243, 4.414, 0.793, 2.426, -9000,
          now(), now())`.pipe(Effect.orDie)
      const recent = { kind: "all", criteria: [{ kind: "lastSeen", window: { lastDays: 7 } }, { kind: "churnRisk", atLeast: 0.5 }] }

      const lastInstant = yield* contextAt(Date.parse("2026-03-15T23:59:59.999Z"))
      assert.strictEqual(lastInstant.now, Date.parse("2026-03-15T23:59:59.999Z"))
      assert.deepStrictEqual(lastInstant.churnModel, { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 })
      yield* expectMatches(customers, recent, ["weekAgo"], lastInstant)

      const nextDay = yield* contextAt(Date.parse("2026-03-16T00:00:00.000Z"))
      yield* expectMatches(customers, recent, [], nextDay)
      yield* expectMatches(customers, { kind: "lastSeen", window: { lastDays: 8 } }, ["weekAgo"], nextDay)
    }))
})
