/**
 * `npx node load/rules-engine-rate.ts`: how fast a calculation gets the rules
 * engine's answers (src/segments/RuleMatches.ts) for every live customer,
 * against the stand-in (stand-ins/rules-engine/, in this same process, so its
 * work is in the figure too).
 *
 * Creates a database, inserts RULES_CUSTOMERS customers (a third in GB, half
 * tagged vip), then times storeRuleMatches for the rule vip-gb in one
 * transaction and checks the count (a sixth of them).
 *
 * Environment (defaults in brackets):
 *   RULES_CUSTOMERS [100000]  RULES_ENGINE_BATCH_SIZE [500]
 *   RULES_ADMIN_URL [postgres://postgres@127.0.0.1:5432/test]
 */
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Effect, Layer, References } from "effect"
import postgres from "postgres"
import type { RuleId } from "../src/domain/Rules.ts"
import { DatabaseLive } from "../src/platform/Database.ts"
import { RulesEngine } from "../src/platform/RulesEngine.ts"
import { fetchRuleMatches, storeRuleMatches } from "../src/segments/RuleMatches.ts"
import { startRulesEngine } from "../stand-ins/rules-engine/RulesEngineStandIn.ts"

const customers = Number(process.env.RULES_CUSTOMERS ?? 100_000)
const adminUrl = process.env.RULES_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const database = `cms_bench_rules_${Date.now().toString(36)}`
const databaseUrl = Object.assign(new URL(adminUrl), { pathname: `/${database}` }).href

const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
await admin.unsafe(`CREATE DATABASE ${database}`)
const engine = await startRulesEngine({ apiKey: "bench" })

const run = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* sql`INSERT INTO customers (id, email, name, consent, location, tags)
    SELECT gen_random_uuid(), 'rules' || g || '@example.com', 'Bench', '{"marketing": false, "dataProcessing": true}',
      jsonb_build_object('country', CASE WHEN g % 3 = 0 THEN 'GB' ELSE 'FR' END),
      CASE WHEN g % 2 = 0 THEN ARRAY['vip'] ELSE ARRAY[]::text[] END
    FROM generate_series(1, ${customers}) g`
  const rules = yield* RulesEngine
  const started = performance.now()
  const matched = yield* sql.withTransaction(Effect.gen(function*() {
    yield* storeRuleMatches(sql, yield* fetchRuleMatches(sql, rules, ["vip-gb" as RuleId], () => Effect.void))
    const [row] = yield* sql<{ readonly matched: number }>`SELECT count(*)::int AS matched FROM segment_rule_matches`
    return row.matched
  }))
  const seconds = (performance.now() - started) / 1000
  if (matched !== Math.floor(customers / 6)) throw new Error(`${matched} matched, expected ${Math.floor(customers / 6)}`)
  console.info(
    `rules engine: ${customers} customers, ${rules.batchSize} a request (${engine.requests.evaluations} requests): ` +
      `${seconds.toFixed(2)} s, ${Math.round(customers / seconds)} customers/s, ${matched} matched`
  )
})

const config = ConfigProvider.fromEnvRecord({
  DATABASE_URL: databaseUrl,
  RULES_ENGINE_URL: engine.url,
  RULES_ENGINE_API_KEY: engine.apiKey,
  RULES_ENGINE_BATCH_SIZE: process.env.RULES_ENGINE_BATCH_SIZE ?? "500",
  DB_POOL_MAX: "4",
  DB_COMMAND_POOL_MAX: "1"
})
await Effect.runPromise(run.pipe(
  Effect.provide(Layer.mergeAll(DatabaseLive, RulesEngine.layer).pipe(Layer.provide(ConfigProvider.layer(config)))),
  Effect.provide(Layer.succeed(References.MinimumLogLevel, "Warn")),
  Effect.scoped
)).finally(async () => {
  await engine.stop()
  await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  await admin.end()
})
