/**
 * Segments whose criteria read the clock are recalculated on a schedule (here every second, checked every
 * 200 ms): a relative window, churn risk or engagement anywhere in the tree. A segment whose criteria do not
 * read the clock is not.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { createSegment, dynamicSegment } from "../support/SegmentsApi.ts"

const scheduledRuns = (segmentId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM segment_calculations
      WHERE segment_id = ${segmentId} AND trigger = 'scheduled' AND status = 'succeeded'`.pipe(
      Effect.orDie,
      Effect.map(([row]) => row.n)
    ))

const Env = testServiceWithDatabase({
  env: { SEGMENT_RECALCULATION_INTERVAL: "1 second", SEGMENT_RECALCULATION_CHECK: "200 millis" }
})

layer(Env, { excludeTestServices: true })("scheduled recalculation", (it) => {
  it.effect("recalculates a segment with a relative window nested in its criteria, again and again", () =>
    Effect.gen(function*() {
      const segment = yield* createSegment(dynamicSegment({
        criteria: { kind: "not", criterion: { kind: "any", criteria: [{ kind: "lastSeen", window: { lastDays: 7 } }] } }
      }))
      yield* eventually("two scheduled calculations", scheduledRuns(segment.id), (n) => n >= 2, 15_000)
    }))

  it.effect("recalculates churn-risk and lifetime value segments, and leaves one whose criteria do not read the clock", () =>
    Effect.gen(function*() {
      const churn = yield* createSegment(dynamicSegment({ criteria: { kind: "churnRisk", atLeast: 0.5 } }))
      const value = yield* createSegment(dynamicSegment({ criteria: { kind: "lifetimeValue", atLeast: 100 } }))
      const dutch = yield* createSegment(dynamicSegment({ criteria: { kind: "country", in: ["NL"] } }))
      yield* eventually("a scheduled calculation", scheduledRuns(churn.id), (n) => n >= 1, 15_000)
      yield* eventually("a scheduled calculation", scheduledRuns(value.id), (n) => n >= 1, 15_000)
      // Two more checks pass: still none for the segment that does not read the clock.
      yield* Effect.sleep("500 millis")
      assert.strictEqual(yield* scheduledRuns(dutch.id), 0)
    }))
})
