/**
 * Work that runs on a fiber of its own (pruning, expiry, watching a
 * connection): no caller sees its failures, so they are logged here, with the
 * failure's class and message and never its cause chain (a database error's
 * detail can quote a row, and rows hold personal data).
 */
import { Cause, Clock, Duration, Effect, Predicate, Queue, Schedule, type Scope } from "effect"

const tagOf = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : undefined

/**
 * An error's class: the tag of a tagged error, else the Error's name; with the
 * tag of its reason when it wraps one (`SqlError/ConnectionError`).
 */
export const errorClass = (error: unknown): string => {
  const name = tagOf(error) ?? (error instanceof Error ? error.name : typeof error)
  const reason = Predicate.hasProperty(error, "reason") ? tagOf(error.reason) : undefined
  return reason === undefined ? name : `${name}/${reason}`
}

/** A driver's error as `Class: message`, for a tagged error of ours that wraps it. */
export const describeFailure = (error: unknown): string =>
  `${errorClass(error)}: ${error instanceof Error ? error.message : String(error)}`

/** Logs a failure at WARN as `what`, with its class and message. */
export const logFailure = (what: string, error: unknown): Effect.Effect<void> =>
  Effect.logWarning(what).pipe(Effect.annotateLogs({
    error: errorClass(error),
    message: error instanceof Error ? error.message : String(error)
  }))

/**
 * A failed (or defective) run of `job` is logged as `what` and then runs `after`;
 * interruption (the scope closing) still interrupts.
 */
export const loggingFailures = (what: string, after: Effect.Effect<void> = Effect.void) =>
<A, E, R>(job: Effect.Effect<A, E, R>): Effect.Effect<A | void, never, R> =>
  Effect.catchCause(job, (cause) =>
    Cause.hasInterruptsOnly(cause) ? Effect.interrupt : Effect.andThen(logFailure(what, Cause.squash(cause)), after))

/**
 * Runs `job` now and then every `interval`. A failed run is logged as `what`
 * and the next run still comes: one lost connection must not end the job for
 * the life of the process.
 */
export const repeatLoggingFailures = <A, E, R>(what: string, interval: Duration.Input, job: Effect.Effect<A, E, R>) =>
  job.pipe(loggingFailures(what), Effect.repeat(Schedule.spaced(interval)))

/**
 * The instant `age` before now by Effect's Clock. Expiry jobs pass it to SQL
 * instead of the database's now(), so that a TestClock decides what expired.
 */
export const cutoffBefore = (age: Duration.Duration): Effect.Effect<Date> =>
  Effect.map(Clock.currentTimeMillis, (now) => new Date(now - Duration.toMillis(age)))

/** Tells a durable-request worker that work is waiting, so it need not wait for its next poll. */
export interface WakeSignal {
  readonly wake: Effect.Effect<void>
  /** Resolves once `wake` was called (wakes before it coalesce into one). */
  readonly woken: Effect.Effect<void>
}

export const makeWakeSignal: Effect.Effect<WakeSignal> = Effect.map(Queue.sliding<void>(1), (queue) => ({
  wake: Queue.offer(queue, undefined).pipe(Effect.asVoid),
  woken: Queue.take(queue)
}))

/**
 * A worker over durable rows (claimed FOR UPDATE SKIP LOCKED, so several processes may run it): a `pass` when
 * woken and every `interval` (retries, work left by a restart), a failed pass logged as `what`.
 */
export const passWhenWoken = (
  what: string,
  pass: Effect.Effect<void>,
  woken: Effect.Effect<void>,
  interval: Duration.Input
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.forkScoped(
    Effect.forever(Effect.andThen(pass.pipe(loggingFailures(what)), Effect.raceFirst(woken, Effect.sleep(interval))))
  ))
