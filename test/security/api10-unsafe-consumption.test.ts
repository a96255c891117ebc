/**
 * OWASP API10:2023 Unsafe Consumption of APIs. The rules engine is the one API
 * the service consumes; the stand-in (a real loopback server) answers as a
 * broken or hostile engine would: JSON cut short, HTML, the wrong shape,
 * results for customers not sent, a right answer padded with 16 MiB, a body
 * that never ends. A segment naming a rule is then refused with 503 and
 * nothing stored, a calculation fails with a reason that quotes nothing the
 * engine sent and changes no membership, and the service reads at most a
 * bounded answer. Slow, failing and absent engines are in
 * test/integration/rules-engine.test.ts.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { Misbehaviour } from "../../stand-ins/rules-engine/RulesEngineStandIn.ts"
import { newCustomer, unique } from "../support/Customers.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { latestCalculation, serviceWithStandInEngine, StandInEngine } from "../support/RulesEngine.ts"
import { createSegment, dynamicSegment, segmentPath, segmentsPath } from "../support/SegmentsApi.ts"
import { changesNothing } from "../support/Security.ts"

/** Criteria naming the stand-in's `vip-gb` rule beside a tag of the test's own. */
const vipCriteria = (tag: string) => ({
  kind: "all",
  criteria: [{ kind: "tags", match: "any", tags: [tag] }, { kind: "rule", ruleId: "vip-gb" }]
})

/** Every misbehaviour that spoils a rule lookup (extra results are no fault in a lookup's answer). */
const lookupMisbehaviours: ReadonlyArray<Misbehaviour> = ["truncated", "html", "wrong-shape", "padded", "endless"]
const evaluateMisbehaviours: ReadonlyArray<Misbehaviour> = [...lookupMisbehaviours, "foreign-results"]

/** What of a misbehaving engine's answer must never reach a caller, a log or a row. */
const engineContent = /Maintenance|padding|xxxxxxxx|not-a-customer-we-were-sent/

const memberships = (segmentId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM customer_segment_memberships
      WHERE segment_id = ${segmentId} AND left_at IS NULL`.pipe(Effect.orDie, Effect.map(([row]) => row.n)))

layer(
  serviceWithStandInEngine({
    env: {
      RULES_ENGINE_TIMEOUT: "3 seconds",
      RULES_ENGINE_RETRIES: "0",
      // Every misbehaviour must reach the client itself, not an open breaker or a cached answer.
      RULES_ENGINE_BREAKER_FAILURES: "1000",
      RULES_ENGINE_CACHE_TTL: "0 millis",
      SEGMENT_CALCULATION_POLL_SECONDS: "0.2"
    }
  }),
  { excludeTestServices: true, timeout: "120 seconds" }
)("API10 unsafe consumption of APIs", (it) => {
  it.effect("a rule lookup answered badly is a 503 that quotes nothing of the answer, and nothing is stored", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      yield* Effect.addFinalizer(() => Effect.sync(() => engine.setMisbehaviour(undefined)))
      for (const misbehaviour of lookupMisbehaviours) {
        engine.setMisbehaviour(misbehaviour)
        const started = Date.now()
        yield* changesNothing(Effect.gen(function*() {
          const response = yield* call("POST", segmentsPath, { body: dynamicSegment({ criteria: vipCriteria(unique()) }) })
          const text = yield* Effect.promise(() => response.clone().text())
          assert.strictEqual(response.status, 503, `${misbehaviour}: ${text.slice(0, 200)}`)
          yield* expectProblem(response, 503, "/problems/rules-engine-unavailable")
          assert.notMatch(text, engineContent, misbehaviour)
        }))
        // Refused as soon as the answer is known to be bad, not after reading 16 MiB or waiting out the timeout.
        assert.isBelow(Date.now() - started, 2_500, misbehaviour)
      }
      engine.setMisbehaviour(undefined)
      const response = yield* call("POST", segmentsPath, { body: dynamicSegment({ criteria: vipCriteria(unique()) }) })
      assert.strictEqual(response.status, 201)
    }))

  it.effect("a calculation whose evaluation is answered badly fails with a reason of its own and changes no membership", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      yield* Effect.addFinalizer(() => Effect.sync(() => engine.setMisbehaviour(undefined)))
      const tag = `api10-${unique()}`
      yield* createCustomer(newCustomer({ tags: [tag, "vip"], location: { country: "GB" } }))
      const segment = yield* createSegment(dynamicSegment({ criteria: vipCriteria(tag) }))
      yield* eventually("the first calculation", memberships(segment.id), (count) => count === 1, 30_000)
      for (const misbehaviour of evaluateMisbehaviours) {
        engine.setMisbehaviour(misbehaviour)
        const requested = yield* call("POST", `${segmentPath(segment.id)}/calculate`)
        assert.strictEqual(requested.status, 202, misbehaviour)
        const calculation = yield* latestCalculation(segment.id)
        assert.strictEqual(calculation.status, "failed", misbehaviour)
        assert.match(calculation.error ?? "", /rules engine unavailable/, misbehaviour)
        assert.notMatch(calculation.error ?? "", engineContent, misbehaviour)
        assert.isBelow((calculation.error ?? "").length, 200, misbehaviour)
        assert.strictEqual(yield* memberships(segment.id), 1, misbehaviour)
      }
    }))
})
