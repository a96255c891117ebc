/**
 * The blind index keys' configuration (src/privacy/BlindIndex.ts): versions, the key BLIND_INDEX_KEY stands for,
 * and the suppression list's key, which no rotation changes.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer } from "effect"
import { BlindIndex, parseBlindIndexKeys } from "../../src/privacy/BlindIndex.ts"

const oldKey = "an old blind index key, 32 bytes or more"
const newKey = "a new blind index key, 32 bytes or more"

const blindIndexWith = (env: Record<string, string>) =>
  Effect.gen(function*() {
    return yield* BlindIndex
  }).pipe(Effect.provide(
    Layer.fresh(BlindIndex.layer).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env))))
  ))

const refusal = (env: Record<string, string>) =>
  Effect.map(Effect.exit(blindIndexWith(env)), (exit) => {
    assert.isTrue(Exit.isFailure(exit))
    return String(exit)
  })

describe("blind index keys", () => {
  it("are listed current first; a secret may hold a comma", () => {
    assert.deepStrictEqual(parseBlindIndexKeys(`v2:${newKey},v1:${oldKey}`), [
      { version: "v2", key: newKey },
      { version: "v1", key: oldKey }
    ])
  })

  it("refuse an entry without a version, and a version twice", () => {
    assert.throws(() => parseBlindIndexKeys(oldKey))
    assert.throws(() => parseBlindIndexKeys(`v1:${newKey},v1:${oldKey}`))
  })

  it.effect("BLIND_INDEX_KEY is version v1: the same digests as BLIND_INDEX_KEYS=v1:<it>", () =>
    Effect.gen(function*() {
      const single = yield* blindIndexWith({ BLIND_INDEX_KEY: oldKey })
      const versioned = yield* blindIndexWith({ BLIND_INDEX_KEYS: `v2:${newKey},v1:${oldKey}` })
      assert.strictEqual(single.currentVersion, "v1")
      assert.deepStrictEqual(versioned.versions, ["v2", "v1"])
      assert.deepStrictEqual(versioned.emailUnderEach("Ada@Example.com")[1], single.email("ada@example.com"))
      assert.notDeepEqual(versioned.email("ada@example.com"), single.email("ada@example.com"))
    }))

  it.effect("the suppression key stays the v1 key through a rotation, then is SUPPRESSION_KEY", () =>
    Effect.gen(function*() {
      const before = yield* blindIndexWith({ BLIND_INDEX_KEY: oldKey })
      const rotating = yield* blindIndexWith({ BLIND_INDEX_KEYS: `v2:${newKey},v1:${oldKey}` })
      const rotated = yield* blindIndexWith({ BLIND_INDEX_KEYS: `v2:${newKey}`, SUPPRESSION_KEY: oldKey })
      for (const blindIndex of [rotating, rotated]) {
        assert.deepStrictEqual(blindIndex.suppression("ada@example.com"), before.suppression("ADA@example.com"))
      }
    }))

  it.effect("without v1, a start without SUPPRESSION_KEY is refused", () =>
    Effect.gen(function*() {
      assert.include(yield* refusal({ BLIND_INDEX_KEYS: `v2:${newKey}` }), "SUPPRESSION_KEY")
    }))

  it.effect("BLIND_INDEX_KEY and BLIND_INDEX_KEYS together are refused", () =>
    Effect.gen(function*() {
      assert.include(yield* refusal({ BLIND_INDEX_KEY: oldKey, BLIND_INDEX_KEYS: `v1:${oldKey}` }), "not both")
    }))

  it.effect("production refuses a short key of any version", () =>
    Effect.gen(function*() {
      const refused = yield* refusal({ NODE_ENV: "production", BLIND_INDEX_KEYS: `v2:short,v1:${oldKey}` })
      assert.include(refused, "BLIND_INDEX_KEYS (v2)")
    }))
})
