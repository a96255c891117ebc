/**
 * Group commit for writes that callers must wait for: each caller hands its item to a queue and waits; a few
 * writer fibers each take whatever has gathered (at most `maxRows` rows, an item never split) and write it as
 * one statement, then answer every caller in it with that statement's outcome. While a statement runs, the next
 * group gathers, so under load groups grow instead of commits multiplying. On shutdown the writers still write
 * what was handed over before they stop.
 */
import { Cause, Deferred, Effect, Exit, Fiber, Option, Queue, type Scope } from "effect"

interface Submission<A, B, E> {
  readonly item: A
  readonly done: Deferred.Deferred<B, E>
}

/** `submit` fails with `Done` once the scope is closing (the writers take nothing more). */
export interface GroupCommit<A, B, E> {
  submit(item: A): Effect.Effect<B, E | Cause.Done>
}

export const groupCommit = <A, B, E>(options: {
  readonly writers: number
  readonly maxRows: number
  readonly rowsOf: (item: A) => number
  /** One statement for the items; one answer per item, in order. */
  readonly write: (items: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<B>, E>
}): Effect.Effect<GroupCommit<A, B, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Submission<A, B, E>, Cause.Done>()

    const takeGroup = Effect.gen(function*() {
      const group = [yield* Queue.take(queue)]
      let rows = options.rowsOf(group[0].item)
      while (rows < options.maxRows) {
        const next = yield* Queue.poll(queue)
        if (Option.isNone(next)) break
        group.push(next.value)
        rows += options.rowsOf(next.value.item)
      }
      return group
    })

    const writeGroup = (group: ReadonlyArray<Submission<A, B, E>>) =>
      Effect.flatMap(Effect.exit(options.write(group.map((submission) => submission.item))), (outcome) =>
        Effect.forEach(
          group,
          (submission, index) => Deferred.done(submission.done, Exit.map(outcome, (answers) => answers[index])),
          { discard: true }
        ))

    const writers = yield* Effect.forEach(
      Array.from({ length: options.writers }),
      () => Effect.forkScoped(Effect.catchTag(Effect.forever(Effect.flatMap(takeGroup, writeGroup)), "Done", () => Effect.void)),
      { concurrency: "unbounded" }
    )
    yield* Effect.addFinalizer(() => Queue.end(queue).pipe(Effect.andThen(Fiber.joinAll(writers)), Effect.exit, Effect.asVoid))

    return {
      submit: (item: A) =>
        Effect.gen(function*() {
          const done = yield* Deferred.make<B, E>()
          if (!(yield* Queue.offer(queue, { item, done }))) return yield* Effect.fail(Cause.Done())
          return yield* Deferred.await(done)
        })
    }
  })
