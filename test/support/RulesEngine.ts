/**
 * The rules engine stand-in (stand-ins/rules-engine/) on a loopback port of
 * the test file's own, with its knobs (latency, failing, down), and the
 * service under test pointed at it.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer } from "effect"
import { type RulesEngineStandIn, startRulesEngine } from "../../stand-ins/rules-engine/RulesEngineStandIn.ts"
import { testServiceWithDatabase } from "./Database.ts"
import { eventually } from "./Eventually.ts"
import type { TestServiceOptions } from "./TestService.ts"

export class StandInEngine extends Context.Service<StandInEngine, RulesEngineStandIn>()("test/StandInEngine") {
  static readonly layer = Layer.effect(
    StandInEngine,
    Effect.acquireRelease(
      Effect.promise(() => startRulesEngine({ apiKey: `test-key-${crypto.randomUUID()}` })),
      (engine) => Effect.promise(() => engine.stop())
    )
  )
}

/** The whole service (and a PgClient of the test's own) calling the stand-in; `env` on top. */
export const serviceWithStandInEngine = (options: TestServiceOptions = {}) =>
  Layer.unwrap(Effect.map(StandInEngine, (engine) =>
    testServiceWithDatabase({
      ...options,
      env: { RULES_ENGINE_URL: engine.url, RULES_ENGINE_API_KEY: engine.apiKey, ...options.env }
    }))).pipe(Layer.provideMerge(StandInEngine.layer))

/** The segment's latest calculation once finished (succeeded or failed). */
export const latestCalculation = (segmentId: string) =>
  eventually(
    `segment ${segmentId}'s calculation to finish`,
    Effect.flatMap(PgClient.PgClient, (sql) =>
      sql<{ readonly id: string; readonly status: string; readonly error: string | null }>`SELECT id::text AS id,
          status, error FROM segment_calculations WHERE segment_id = ${segmentId}
        ORDER BY requested_at DESC, id DESC LIMIT 1`.pipe(Effect.orDie)),
    ([row]) => row !== undefined && (row.status === "succeeded" || row.status === "failed")
  ).pipe(Effect.map(([row]) => row))
