/**
 * `npm run rules-engine`: the stand-in on RULES_ENGINE_PORT (8090) with RULES_ENGINE_API_KEY, serving the rules of
 * RULES_ENGINE_RULES_FILE (stand-ins/rules-engine/rules.json), until interrupted.
 */
import { readRules, startRulesEngine } from "./RulesEngineStandIn.ts"

const engine = await startRulesEngine({
  port: Number(process.env.RULES_ENGINE_PORT ?? 8090),
  host: process.env.RULES_ENGINE_HOST ?? "127.0.0.1",
  apiKey: process.env.RULES_ENGINE_API_KEY ?? "local-rules-engine-key",
  ...(process.env.RULES_ENGINE_RULES_FILE === undefined ? {} : { rules: readRules(process.env.RULES_ENGINE_RULES_FILE) })
})
console.info(`rules engine stand-in on ${engine.url} (RULES_ENGINE_URL=${engine.url})`)
const stop = () => void engine.stop().then(() => process.exit(0))
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
