/**
 * Re-wraps every customer's data key under the newest master key in MASTER_KEYS, re-indexes every customer under
 * the current key of BLIND_INDEX_KEYS, and seals rows written before encryption at rest: `npm run keys:rotate`
 * (DATABASE_URL, else the embedded PGlite in PGLITE_DATA_DIR while the service is stopped). Batched and resumable:
 * run it again after an interruption. Once it reports done, the older keys can leave MASTER_KEYS and
 * BLIND_INDEX_KEYS. Prints what it did as JSON.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer, Logger } from "effect"
import { CustomerRepo } from "../src/customers/CustomerRepo.ts"
import { keyUpkeep } from "../src/customers/KeyUpkeep.ts"
import { DatabaseLive } from "../src/platform/Database.ts"
import { BlindIndex } from "../src/privacy/BlindIndex.ts"
import { Keyring } from "../src/privacy/Keyring.ts"

const program = Effect.gen(function*() {
  const batchSize = yield* Config.Int("KEYS_ROTATE_BATCH").pipe(Config.withDefault(500))
  const result = yield* keyUpkeep(batchSize)
  const keyring = yield* Keyring
  const blindIndex = yield* BlindIndex
  console.log(JSON.stringify({ ...result, masterKey: keyring.newestVersion, blindIndexKey: blindIndex.currentVersion }, null, 2))
}).pipe(
  Effect.provide(
    CustomerRepo.layer.pipe(
      Layer.provideMerge(Layer.mergeAll(Keyring.layer, BlindIndex.layer)),
      Layer.provide(DatabaseLive)
    )
  ),
  Effect.tapCause((cause) => Effect.sync(() => {
    console.error("keys:rotate failed:", cause.toString())
    process.exitCode = 1
  })),
  Effect.ignore,
  Effect.provideService(Logger.LogToStderr, true)
)

NodeRuntime.runMain(program)
