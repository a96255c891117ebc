/** Waiting, on the live clock, for something the service does in the background. */
import { Effect } from "effect"

/** Polls `check` until `done` holds for its value, for at most `timeoutMillis`. */
export const eventually = <A, E, R>(
  what: string,
  check: Effect.Effect<A, E, R>,
  done: (value: A) => boolean,
  timeoutMillis = 20_000
) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    while (true) {
      const value = yield* check
      if (done(value)) return value
      if (Date.now() > deadline) {
        return yield* Effect.die(new Error(`timed out after ${timeoutMillis} ms waiting for ${what}: ${JSON.stringify(value)}`))
      }
      yield* Effect.sleep("100 millis")
    }
  })
