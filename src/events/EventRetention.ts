/**
 * Partition upkeep: monthly partitions of customer_events are made ahead of
 * time (so the hot path never waits on DDL at a month's turn), and with a
 * retention period whole months older than it are dropped (a cheap DROP TABLE,
 * never a DELETE over billions of rows). Events older than the retention
 * horizon are refused at ingest, so an accepted event never lands in a
 * partition about to go.
 */
import { Clock, Config, Effect, Layer, Option, Schema } from "effect"
import { repeatLoggingFailures } from "../platform/BackgroundWork.ts"
import { EventStore } from "./EventStore.ts"

/** EVENTS_RETENTION_MONTHS: months kept before the current one; unset (the default) keeps everything. */
export const RetentionMonths = Config.schema(
  Schema.NumberFromString.pipe(Schema.decodeTo(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))),
  "EVENTS_RETENTION_MONTHS"
).pipe(Config.option)

/**
 * The first instant kept: the start of the month `months` before the current one (UTC). With 12 in
 * June 2027, June 2026 onwards is kept: a year of whole months besides the current one.
 */
export const retentionHorizon = (now: number, months: number): number => {
  const date = new Date(now)
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() - months, 1)
}

/** The start of each month from the current one to `ahead` months after it (UTC). */
export const monthsAhead = (now: number, ahead: number): ReadonlyArray<number> => {
  const date = new Date(now)
  return Array.from({ length: ahead + 1 }, (_, n) => Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + n, 1))
}

/** One pass: make the coming months' partitions, drop those wholly before the horizon. Returns the dropped. */
export const upkeepPartitions = Effect.fn("EventRetention.upkeep")(function*(
  ahead: number,
  retention: Option.Option<number>
) {
  const store = yield* EventStore
  const now = yield* Clock.currentTimeMillis
  yield* store.ensurePartitions(monthsAhead(now, ahead))
  return yield* Option.match(retention, {
    onNone: () => Effect.succeed<ReadonlyArray<string>>([]),
    onSome: (months) => store.dropPartitionsBefore(retentionHorizon(now, months))
  })
})

export const PartitionUpkeepLive = Layer.effectDiscard(Effect.gen(function*() {
  const ahead = yield* Config.Int("EVENTS_PARTITIONS_AHEAD").pipe(Config.withDefault(3))
  const retention = yield* RetentionMonths
  const interval = yield* Config.Duration("EVENTS_PARTITION_UPKEEP_INTERVAL").pipe(Config.withDefault("1 hour"))
  const pass = upkeepPartitions(ahead, retention).pipe(
    Effect.tap((dropped) =>
      dropped.length === 0 ? Effect.void : Effect.logInfo("events: dropped partitions past retention").pipe(
        Effect.annotateLogs({ partitions: dropped.join(",") })
      )
    )
  )
  yield* Effect.forkScoped(repeatLoggingFailures("events: partition upkeep failed", interval, pass))
}))
