/**
 * Segments naming rules of the external rules engine, against the stand-in
 * on loopback (the only fake: a service we do not own) and the real
 * PostgreSQL: rule ids checked on create and update (422 naming the node,
 * 503 when the engine cannot answer, nothing stored either way), lookups
 * cached, the engine slow, failing (retries, then the circuit breaker opens
 * and closes after its cool-down) and down, calculation by the engine's
 * answers, calculation without rules untouched by the engine's absence,
 * /ready reporting it; and production without an engine configured.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { Readiness } from "../../src/api/SystemApi.ts"
import { InvalidSegmentCriteria, RuleId, RulesEngineUnavailable } from "../../src/client/index.ts"
import type { SegmentCalculation, SegmentMembersPage } from "../../src/domain/SegmentCalculation.ts"
import { newCustomer, unique } from "../support/Customers.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { withRpcClient } from "../support/Rpc.ts"
import { latestCalculation, serviceWithStandInEngine, StandInEngine } from "../support/RulesEngine.ts"
import { createSegment, dynamicSegment, segmentPath, segmentsPath } from "../support/SegmentsApi.ts"
import { json } from "../support/TestService.ts"

const unavailable = "/problems/rules-engine-unavailable"
const invalidCriteria = "/problems/invalid-segment-criteria"

const rule = (ruleId: string) => ({ kind: "rule", ruleId })
const taggedWith = (tag: string) => ({ kind: "tags", match: "any", tags: [tag] })
/** Criteria naming a rule as the second node of `all`: its id's path is criteria.criteria.1.ruleId. */
const withRule = (ruleId: string, tag = `rules-${unique()}`) => ({ kind: "all", criteria: [taggedWith(tag), rule(ruleId)] })

/** A rule id the stand-in does not have, never asked before (nothing of it cached). */
const unknownRule = () => `missing-${unique()}`

const postSegment = (criteria: unknown) => call("POST", segmentsPath, { body: dynamicSegment({ criteria }) })

/** How many segments, audit entries and calculations there are: unchanged, nothing was written. */
const segmentWrites = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ readonly segments: number; readonly audit: number; readonly calculations: number }>`SELECT
    (SELECT count(*) FROM customer_segments)::int AS segments,
    (SELECT count(*) FROM audit_log)::int AS audit,
    (SELECT count(*) FROM segment_calculations)::int AS calculations`.pipe(
    Effect.map(([counts]) => counts),
    Effect.orDie
  ))

const writesNothing = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const before = yield* segmentWrites
    const result = yield* effect
    assert.deepStrictEqual(yield* segmentWrites, before)
    return result
  })

const readiness = Effect.flatMap(call("GET", "/ready", { auth: false }), (response) =>
  Effect.map(json<Readiness>(response), (body) => ({ httpStatus: response.status, ...body })))

/**
 * The stand-in back to normal and the client's breaker closed: a lookup of an unknown rule reaches the engine
 * (a 404 is an answer: the breaker counts it a success, which also ends any run of failures).
 */
const engineRestored = Effect.gen(function*() {
  const engine = yield* StandInEngine
  engine.setFailing(false)
  engine.setLatency(0)
  yield* Effect.promise(() => engine.up())
  const probe = unknownRule()
  yield* eventually("the rules engine to answer again", postSegment(rule(probe)), (response) => response.status === 422)
})

const membersOf = (segmentId: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${segmentPath(segmentId)}/customers`)
    assert.strictEqual(response.status, 200)
    return (yield* json<SegmentMembersPage>(response)).data.map((member) => member.customerId).sort()
  })

layer(
  serviceWithStandInEngine({
    env: {
      RULES_ENGINE_TIMEOUT: "300 millis",
      RULES_ENGINE_RETRIES: "2",
      RULES_ENGINE_RETRY_BASE: "20 millis",
      RULES_ENGINE_BREAKER_FAILURES: "3",
      RULES_ENGINE_BREAKER_COOLDOWN: "1 second",
      RULES_ENGINE_BATCH_SIZE: "2",
      SEGMENT_CALCULATION_POLL_SECONDS: "0.2"
    }
  }),
  { excludeTestServices: true, timeout: "60 seconds" }
)("rules engine", (it) => {
  it.effect("a segment naming a rule the engine has is created with its criteria", () =>
    Effect.gen(function*() {
      const criteria = withRule("vip-gb")
      const segment = yield* createSegment(dynamicSegment({ criteria }))
      assert.deepStrictEqual(segment.criteria, criteria)
    }))

  it.effect("a rule the engine does not have is refused with 422 naming the node's path, and nothing is stored", () =>
    Effect.gen(function*() {
      const missing = unknownRule()
      const response = yield* writesNothing(postSegment(withRule(missing)))
      const problem = yield* expectProblem(response, 422, invalidCriteria)
      assert.deepStrictEqual(problem.errors, [{
        path: ["criteria", "criteria", 1, "ruleId"],
        message: `no rule ${missing} in the rules engine`
      }])
    }))

  it.effect("a malformed rule id is a 400 naming it, and the engine is not asked", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      const lookups = engine.requests.lookups
      for (const ruleId of ["", "-leading-dash", "with space", "x".repeat(65)]) {
        const problem = yield* expectProblem(yield* writesNothing(postSegment(withRule(ruleId))), 400, "/problems/invalid-request")
        assert.include(invalidPaths(problem), "payload.criteria.criteria.1.ruleId", ruleId)
      }
      assert.strictEqual(engine.requests.lookups, lookups)
    }))

  it.effect("changing criteria to name a rule the engine does not have is refused with 422, the segment unchanged", () =>
    Effect.gen(function*() {
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(`rules-${unique()}`) }))
      const response = yield* call("PATCH", segmentPath(segment.id), {
        body: { criteria: { kind: "not", criterion: rule(unknownRule()) } }
      })
      const problem = yield* expectProblem(response, 422, invalidCriteria)
      assert.deepStrictEqual(problem.errors?.map((error) => error.path), [["criteria", "criterion", "ruleId"]])
      const after = yield* json<{ readonly version: number }>(yield* call("GET", segmentPath(segment.id)))
      assert.strictEqual(after.version, segment.version)
    }))

  it.effect("a rule looked up once is not asked for again while cached", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      yield* createSegment(dynamicSegment({ criteria: withRule("active-eu") }))
      const lookups = engine.requests.lookups
      yield* createSegment(dynamicSegment({ criteria: { kind: "any", criteria: [rule("active-eu"), rule("active-eu")] } }))
      assert.strictEqual(engine.requests.lookups, lookups)
    }))

  it.effect("with the engine down, creating a rule-backed segment answers 503 with Retry-After and stores nothing", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      yield* Effect.promise(() => engine.down())
      const response = yield* writesNothing(postSegment(withRule(unknownRule())))
      assert.strictEqual(response.headers.get("retry-after"), "1")
      const problem = yield* expectProblem(response, 503, unavailable)
      assert.match(problem.detail ?? "", /connection failed/)
      yield* engineRestored
    }))

  it.effect("with the engine down, changing a segment's criteria to name a rule answers 503 and changes nothing", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(`rules-${unique()}`) }))
      yield* Effect.promise(() => engine.down())
      const response = yield* call("PATCH", segmentPath(segment.id), { body: { criteria: withRule(unknownRule()) } })
      yield* expectProblem(response, 503, unavailable)
      const after = yield* json<{ readonly version: number }>(yield* call("GET", segmentPath(segment.id)))
      assert.strictEqual(after.version, segment.version)
      yield* engineRestored
    }))

  it.effect("over RPC the same refusals arrive as the domain's errors: unknown rule with its path, engine unavailable", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      const create = (ruleId: string) =>
        withRpcClient((client) =>
          client.CreateSegment({
            input: { name: `Rpc rules ${unique()}`, type: "dynamic", criteria: { kind: "rule", ruleId: RuleId.make(ruleId) } }
          }), "admin").pipe(Effect.flip)
      const unknown = yield* create(unknownRule())
      assert.instanceOf(unknown, InvalidSegmentCriteria)
      assert.deepStrictEqual((unknown as InvalidSegmentCriteria).errors.map((error) => error.path), [["criteria", "ruleId"]])
      yield* Effect.promise(() => engine.down())
      assert.instanceOf(yield* writesNothing(create(unknownRule())), RulesEngineUnavailable)
      yield* engineRestored
    }))

  it.effect("a slow engine (answers later than the timeout) is a 503, after the retries", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      engine.setLatency(1_000)
      const lookups = engine.requests.lookups
      const response = yield* writesNothing(postSegment(withRule(unknownRule())))
      const problem = yield* expectProblem(response, 503, unavailable)
      assert.match(problem.detail ?? "", /timed out/)
      // The stand-in counts a request when it answers it: wait for the three it was sent.
      yield* eventually("the attempts to reach the stand-in", Effect.sync(() => engine.requests.lookups - lookups), (seen) => seen === 3)
      yield* engineRestored
    }))

  it.effect("a failing engine is retried, then its breaker opens and requests stop reaching it until the cool-down", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      engine.setFailing(true)
      const before = engine.requests.lookups
      // Three failed calls (each one request and two retries) open the breaker.
      for (let call = 1; call <= 3; call++) {
        yield* expectProblem(yield* postSegment(withRule(unknownRule())), 503, unavailable)
        assert.strictEqual(engine.requests.lookups - before, 3 * call)
      }
      const refused = yield* expectProblem(yield* postSegment(withRule(unknownRule())), 503, unavailable)
      assert.match(refused.detail ?? "", /circuit breaker open/)
      assert.strictEqual(engine.requests.lookups - before, 9)
      const open = yield* readiness
      assert.strictEqual(open.httpStatus, 200)
      assert.strictEqual(open.status, "degraded")
      assert.strictEqual(open.checks.rulesEngine.status, "open")

      // The engine recovers; after the cool-down one probe goes through, and its success closes the breaker.
      engine.setFailing(false)
      yield* Effect.sleep("1100 millis")
      yield* createSegment(dynamicSegment({ criteria: withRule("adult-buyer") }))
      assert.strictEqual(engine.requests.lookups - before, 10)
      const closed = yield* readiness
      assert.strictEqual(closed.checks.rulesEngine.status, "up")
      yield* engineRestored
    }))

  it.effect("calculating a rule-backed segment makes members of the customers the engine's rule matches", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      const tag = `rules-${unique()}`
      const customer = (country: string, tags: ReadonlyArray<string>) =>
        Effect.map(createCustomer(newCustomer({ location: { country }, tags: [...tags] })), (created) => created.id)
      const gbVip = yield* customer("GB", [tag, "vip"])
      yield* customer("GB", [tag])
      yield* customer("FR", [tag, "vip"])
      const gbVipToo = yield* customer("GB", ["vip", tag])
      const evaluated = engine.requests.evaluated
      const segment = yield* createSegment(dynamicSegment({ criteria: withRule("vip-gb", tag) }))
      const job = yield* latestCalculation(segment.id)
      assert.strictEqual(job.status, "succeeded", job.error ?? "")
      assert.deepStrictEqual(yield* membersOf(segment.id), [gbVip, gbVipToo].sort())
      // Every live customer's facts were sent, in batches of RULES_ENGINE_BATCH_SIZE.
      assert.isAtLeast(engine.requests.evaluated - evaluated, 4)
    }))

  it.effect("with the engine down, a segment without rules still calculates; a rule-backed one's run fails with the reason", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      const tag = `rules-${unique()}`
      const tagged = yield* Effect.map(createCustomer(newCustomer({ location: { country: "GB" }, tags: [tag, "vip"] })), (created) => created.id)
      const ruleBacked = yield* createSegment(dynamicSegment({ criteria: withRule("vip-gb", tag) }))
      assert.strictEqual((yield* latestCalculation(ruleBacked.id)).status, "succeeded")
      yield* Effect.promise(() => engine.down())

      const plain = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      const plainJob = yield* latestCalculation(plain.id)
      assert.strictEqual(plainJob.status, "succeeded")
      assert.deepStrictEqual(yield* membersOf(plain.id), [tagged])

      const requested = yield* call("POST", `${segmentPath(ruleBacked.id)}/calculate`)
      assert.strictEqual(requested.status, 202)
      const job = yield* json<SegmentCalculation>(requested)
      const failed = yield* eventually(
        "the rule-backed calculation to give up",
        Effect.flatMap(call("GET", `${segmentPath(ruleBacked.id)}/calculations/${job.id}`), json<SegmentCalculation>),
        (calculation) => calculation.status === "failed"
      )
      assert.strictEqual(failed.attempts, 3)
      assert.match(failed.error ?? "", /^rules engine unavailable \((connection failed|circuit breaker open)\)$/)
      // The members of its last successful run stay.
      assert.deepStrictEqual(yield* membersOf(ruleBacked.id), [tagged])
      yield* engineRestored
    }))

  it.effect("/ready reports the rules engine up, and down (degraded, still serving) while it is down", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      const up = yield* readiness
      assert.strictEqual(up.httpStatus, 200)
      assert.deepStrictEqual(up.checks.rulesEngine, { status: "up" })
      yield* Effect.promise(() => engine.down())
      const down = yield* readiness
      assert.strictEqual(down.httpStatus, 200)
      assert.strictEqual(down.status, "degraded")
      assert.strictEqual(down.checks.rulesEngine.status, "down")
      yield* engineRestored
    }))
})

// As deployed without a rules engine: production, no RULES_ENGINE_URL.
layer(
  testServiceWithDatabase({ env: { NODE_ENV: "production", AUDIT_KEY: "a production audit key of at least 32 bytes" } }),
  { excludeTestServices: true, timeout: "60 seconds" }
)("rules engine not configured in production", (it) => {
  it.effect("is reported disabled without degrading readiness, and a segment naming a rule is refused with 503", () =>
    Effect.gen(function*() {
      const ready = yield* eventually("NATS to be up", readiness, (body) => body.checks.nats.status === "up")
      assert.strictEqual(ready.status, "ready")
      assert.strictEqual(ready.checks.rulesEngine.status, "disabled")
      const problem = yield* expectProblem(yield* writesNothing(postSegment(withRule("vip-gb"))), 503, unavailable)
      assert.match(problem.detail ?? "", /disabled/)
      // Segments without rules do not need it.
      yield* createSegment(dynamicSegment({ criteria: taggedWith(`rules-${unique()}`) }))
    }))
})
