/**
 * Keeps encryption at rest whole in the background, in small committed batches (resumable; concurrent
 * processes skip each other's rows): seals rows written before it (clear email and name), re-wraps data keys
 * still under an older master key and re-indexes rows whose blind index and search tokens are under an older
 * blind index key, so that after a rotation the old key can leave MASTER_KEYS or BLIND_INDEX_KEYS.
 * `npm run keys:rotate` runs the same pass to completion on demand.
 */
import { Config, Effect, Layer } from "effect"
import { repeatLoggingFailures } from "../platform/BackgroundWork.ts"
import { BlindIndex } from "../privacy/BlindIndex.ts"
import { Keyring } from "../privacy/Keyring.ts"
import { CustomerRepo } from "./CustomerRepo.ts"

export interface KeyUpkeepResult {
  /** Rows written before encryption at rest, sealed now. */
  readonly sealed: number
  /** Data keys re-wrapped under the newest master key. */
  readonly rewrapped: number
  /** Rows whose blind index and search tokens were made again under the current blind index key. */
  readonly reindexed: number
}

/** Runs `batch` until it reports 0; the total it reported. */
const untilDone = (batch: Effect.Effect<number>) =>
  Effect.gen(function*() {
    let total = 0
    for (;;) {
      const done = yield* batch
      if (done === 0) return total
      total += done
    }
  })

/** Re-indexes, in one walk in id order, every row under another blind index key than the current one. */
const reindexAll = (repo: CustomerRepo["Service"], batchSize: number) =>
  Effect.gen(function*() {
    // One index probe when nothing is left: the hourly pass then reads nothing else.
    if (!(yield* repo.hasOtherIndexVersions)) return 0
    let total = 0
    let after: string | null = null
    for (;;) {
      const batch: { readonly reindexed: number; readonly last: string | null } = yield* repo.reindexBatch(batchSize, after)
      if (batch.reindexed === 0) return total
      total += batch.reindexed
      after = batch.last
    }
  })

/**
 * Seals every legacy row, re-wraps every data key under the newest master key and re-indexes every row under the
 * current blind index key, `batchSize` at a time.
 */
export const keyUpkeep = Effect.fn("KeyUpkeep.run")(function*(batchSize: number) {
  const repo = yield* CustomerRepo
  const keyring = yield* Keyring
  const blindIndex = yield* BlindIndex
  const sealed = yield* untilDone(repo.sealLegacyBatch(batchSize))
  const rewrapped = yield* untilDone(keyring.rewrapBatch(batchSize))
  const reindexed = yield* reindexAll(repo, batchSize)
  if (sealed > 0 || rewrapped > 0 || reindexed > 0) {
    yield* Effect.logInfo("encryption at rest: keys kept up").pipe(
      Effect.annotateLogs({
        sealed,
        rewrapped,
        reindexed,
        masterKey: keyring.newestVersion,
        blindIndexKey: blindIndex.currentVersion
      })
    )
  }
  return { sealed, rewrapped, reindexed } satisfies KeyUpkeepResult
})

/** The pass at start and every KEY_UPKEEP_INTERVAL_MINUTES (60); KEY_UPKEEP=false leaves it to the command. */
export const KeyUpkeepLive = Layer.effectDiscard(Effect.gen(function*() {
  if (!(yield* Config.Boolean("KEY_UPKEEP").pipe(Config.withDefault(true)))) return
  const minutes = yield* Config.Int("KEY_UPKEEP_INTERVAL_MINUTES").pipe(Config.withDefault(60))
  yield* Effect.forkScoped(
    repeatLoggingFailures("encryption at rest: key upkeep failed", `${minutes} minutes`, keyUpkeep(200))
  )
}))
