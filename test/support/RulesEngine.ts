/**
 * The rules engine stand-in (stand-ins/rules-engine/) on a loopback port of
 * the test file's own, with its knobs (latency, failing, down), and the
 * service under test pointed at it.
 */
import { Context, Effect, Layer } from "effect"
import { type RulesEngineStandIn, startRulesEngine } from "../../stand-ins/rules-engine/RulesEngineStandIn.ts"
import { testServiceWithDatabase } from "./Database.ts"
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
