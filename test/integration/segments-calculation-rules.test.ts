/**
 * Calculation of a rule-backed segment against the slow rules engine stand-in, on the real database: the run
 * asks the engine before it opens its transaction, so while the engine answers neither the job's row nor the
 * segment's is locked (a definition change need not wait for the engine), and the members are still those the
 * rule matches; the job resource reports its phase and the share of customers the engine has answered for.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { SegmentCalculation, SegmentMembersPage } from "../../src/domain/SegmentCalculation.ts"
import { newCustomer, unique } from "../support/Customers.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer } from "../support/Http.ts"
import { serviceWithStandInEngine, StandInEngine } from "../support/RulesEngine.ts"
import { createSegment, dynamicSegment, segmentPath } from "../support/SegmentsApi.ts"
import { json } from "../support/TestService.ts"

const engineLatencyMillis = 1_500

/** Whether the row can be locked at once (NOWAIT): no transaction holds a lock on it. */
const lockableNow = (table: "customer_segments" | "segment_calculations", id: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql.withTransaction(
      table === "customer_segments"
        ? sql`SELECT 1 FROM customer_segments WHERE id = ${id} FOR UPDATE NOWAIT`
        : sql`SELECT 1 FROM segment_calculations WHERE id = ${id} FOR UPDATE NOWAIT`
    ).pipe(
      Effect.as(true),
      Effect.catchTag("SqlError", () => Effect.succeed(false))
    ))

const membersOf = (segmentId: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${segmentPath(segmentId)}/customers`)
    assert.strictEqual(response.status, 200)
    return (yield* json<SegmentMembersPage>(response)).data.map((member) => member.customerId).sort()
  })

const calculation = (segmentId: string, id: string) =>
  Effect.flatMap(call("GET", `${segmentPath(segmentId)}/calculations/${id}`), json<SegmentCalculation>)

/** A segment of the tag's customers matching the engine's `vip-gb` rule, once its creation's calculation is done. */
const settledRuleSegment = (tag: string) =>
  Effect.gen(function*() {
    const segment = yield* createSegment(dynamicSegment({
      criteria: { kind: "all", criteria: [{ kind: "tags", match: "any", tags: [tag] }, { kind: "rule", ruleId: "vip-gb" }] }
    }))
    yield* eventually(
      "the creation's calculation to finish",
      Effect.flatMap(PgClient.PgClient, (sql) =>
        sql<{ readonly pending: number }>`SELECT count(*)::int AS pending FROM segment_calculations
          WHERE segment_id = ${segment.id} AND status IN ('queued', 'running')`.pipe(Effect.orDie)),
      ([row]) => row.pending === 0
    )
    return segment
  })

layer(
  serviceWithStandInEngine({
    env: {
      RULES_ENGINE_TIMEOUT: "10 seconds",
      RULES_ENGINE_RETRIES: "0",
      RULES_ENGINE_BATCH_SIZE: "2",
      SEGMENT_CALCULATION_POLL_SECONDS: "0.2"
    }
  }),
  { excludeTestServices: true, timeout: "60 seconds" }
)("calculation of a rule-backed segment", (it) => {
  it.effect("holds no lock on the job or the segment while the slow engine answers, and joins the rule's matches", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      const tag = `rules-${unique()}`
      const customer = (country: string, tags: ReadonlyArray<string>) =>
        Effect.map(createCustomer(newCustomer({ location: { country }, tags: [...tags] })), (created) => created.id)
      const gbVip = yield* customer("GB", [tag, "vip"])
      yield* customer("FR", [tag, "vip"])
      const segment = yield* settledRuleSegment(tag)

      engine.setLatency(engineLatencyMillis)
      const requested = yield* call("POST", `${segmentPath(segment.id)}/calculate`)
      assert.strictEqual(requested.status, 202)
      const job = yield* json<SegmentCalculation>(requested)
      yield* eventually("the run to start", calculation(segment.id, job.id), (read) => read.status === "running")
      // Well inside the engine's first answer (1.5 s): the run is waiting for the engine.
      yield* Effect.sleep("300 millis")
      assert.strictEqual((yield* calculation(segment.id, job.id)).status, "running")
      assert.isTrue(yield* lockableNow("customer_segments", segment.id), "the segment's row is not locked")
      assert.isTrue(yield* lockableNow("segment_calculations", job.id), "the job's row is not locked")

      const done = yield* eventually("the run to finish", calculation(segment.id, job.id), (read) => read.status !== "running")
      engine.setLatency(0)
      assert.strictEqual(done.status, "succeeded", done.error ?? "")
      assert.deepStrictEqual(yield* membersOf(segment.id), [gbVip])
    }))

  it.effect("the job reports its phase and the share of customers the engine answered for, then finished at 1", () =>
    Effect.gen(function*() {
      const engine = yield* StandInEngine
      const tag = `progress-${unique()}`
      // Pages of 2 customers, 4 in flight: the engine's answers arrive in several rounds.
      for (let i = 0; i < 12; i++) yield* createCustomer(newCustomer({ location: { country: "GB" }, tags: [tag] }))
      const segment = yield* settledRuleSegment(tag)

      engine.setLatency(700)
      const requested = yield* call("POST", `${segmentPath(segment.id)}/calculate`)
      const job = yield* json<SegmentCalculation>(requested)
      assert.deepStrictEqual([job.phase, job.progress], ["queued", 0])
      const seen: Array<readonly [string, number | null]> = []
      const done = yield* eventually(
        "the run to finish",
        Effect.tap(calculation(segment.id, job.id), (read) => Effect.sync(() => seen.push([read.phase, read.progress]))),
        (read) => read.status === "succeeded" || read.status === "failed"
      )
      engine.setLatency(0)
      assert.strictEqual(done.status, "succeeded", done.error ?? "")
      assert.deepStrictEqual([done.phase, done.progress], ["finished", 1])
      const asking = seen.filter(([phase]) => phase === "asking-rules-engine").map(([, progress]) => progress ?? -1)
      assert.isTrue(asking.some((share) => share > 0 && share < 1), `a share between 0 and 1 seen: ${JSON.stringify(seen)}`)
      assert.deepStrictEqual(asking, [...asking].sort((a, b) => a - b), "the share only grows")
      for (const [phase, progress] of seen) {
        if (phase === "calculating") assert.isNull(progress)
      }
    }))
})
