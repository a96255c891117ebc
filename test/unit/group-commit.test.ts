/**
 * Group commit (src/platform/GroupCommit.ts): callers waiting together share one write and each gets its own
 * answer; a write's failure is every caller's in its group; an item is never split; after shutdown nothing more
 * is taken.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { groupCommit } from "../../src/platform/GroupCommit.ts"

/** A group commit whose writes are recorded and answer each item doubled, until `release` lets them finish. */
const recorded = (options: { readonly maxRows: number; readonly failWith?: string }) =>
  Effect.gen(function*() {
    const writes: Array<ReadonlyArray<ReadonlyArray<number>>> = []
    const release = yield* Deferred.make<void>()
    const commit = yield* groupCommit({
      writers: 1,
      maxRows: options.maxRows,
      rowsOf: (item: ReadonlyArray<number>) => item.length,
      write: (items) =>
        Effect.gen(function*() {
          writes.push(items)
          yield* Deferred.await(release)
          if (options.failWith !== undefined) return yield* Effect.fail(options.failWith)
          return items.map((item) => item.map((n) => n * 2))
        })
    })
    return { commit, writes, release }
  })

describe("group commit", () => {
  it.effect("callers arriving while a write runs share the next write, each answered with its own result", () =>
    Effect.gen(function*() {
      const { commit, writes, release } = yield* recorded({ maxRows: 100 })
      const first = yield* Effect.forkChild(commit.submit([1]))
      while (writes.length === 0) yield* Effect.yieldNow
      const others = yield* Effect.forEach([[2, 3], [4], [5]], (item) => commit.submit(item), { concurrency: "unbounded" })
        .pipe(Effect.forkChild)
      yield* Effect.yieldNow
      yield* Deferred.succeed(release, undefined)
      assert.deepStrictEqual(yield* Fiber.join(first), [2])
      assert.deepStrictEqual(yield* Fiber.join(others), [[4, 6], [8], [10]])
      assert.deepStrictEqual(writes, [[[1]], [[2, 3], [4], [5]]])
    }).pipe(Effect.scoped))

  it.effect("a group stops gathering once it reaches its row limit, and never splits an item to keep below it", () =>
    Effect.gen(function*() {
      const { commit, writes, release } = yield* recorded({ maxRows: 4 })
      const answers = yield* Effect.forEach([[1], [2, 3], [4, 5, 6], [7]], (item) => commit.submit(item), { concurrency: "unbounded" })
        .pipe(Effect.forkChild)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(answers)
      assert.deepStrictEqual(writes, [[[1], [2, 3], [4, 5, 6]], [[7]]])
    }).pipe(Effect.scoped))

  it.effect("a failed write fails every caller in its group with its error", () =>
    Effect.gen(function*() {
      const { commit, release } = yield* recorded({ maxRows: 100, failWith: "refused" })
      yield* Deferred.succeed(release, undefined)
      const exits = yield* Effect.forEach([[1], [2]], (item) => Effect.exit(commit.submit(item)), { concurrency: "unbounded" })
      for (const exit of exits) assert.deepStrictEqual(exit, Exit.fail("refused"))
    }).pipe(Effect.scoped))

  it.effect("once its scope closes, what was handed over is written and a new item is refused", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { commit, writes, release } = yield* Scope.provide(recorded({ maxRows: 100 }), scope)
      yield* Deferred.succeed(release, undefined)
      assert.deepStrictEqual(yield* commit.submit([1]), [2])
      yield* Scope.close(scope, Exit.void)
      const refused = yield* Effect.flip(commit.submit([2]))
      assert.isTrue(Cause.isDone(refused))
      assert.deepStrictEqual(writes, [[[1]]])
    }))
})
