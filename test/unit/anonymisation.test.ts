import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Schema } from "effect"
import { customerModel } from "../../src/domain/Customer.ts"
import { CustomerState } from "../../src/domain/CustomerState.ts"
import { anonymizedState, fieldsChanged } from "../../src/domain/Erasure.ts"
import { retryDelay } from "../../src/privacy/Erasure.ts"

const id = "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35"

describe("anonymisation", () => {
  it.effect.prop("leaves a valid customer state with no identifying value of the original", [CustomerState], ([state]) =>
    Effect.sync(() => {
      const anonymous = anonymizedState(id, state)
      assert.deepStrictEqual(Schema.decodeUnknownSync(CustomerState)(anonymous), anonymous)
      assert.strictEqual(anonymous.email, `anonymized-${id}@anonymized.invalid`)
      assert.strictEqual(anonymous.name, "Anonymous customer")
      assert.isNull(anonymous.pendingEmail)
      assert.deepStrictEqual(anonymous.metadata, {})
      assert.deepStrictEqual(anonymous.location, state.location === null ? null : { country: state.location.country })
      assert.strictEqual(anonymous.age, state.age === null ? null : Math.floor(state.age / 10) * 10)
    }))

  it.effect.prop("is idempotent: anonymising the anonymous changes nothing", [CustomerState], ([state]) =>
    Effect.sync(() => {
      const once = anonymizedState(id, state)
      assert.deepStrictEqual(fieldsChanged(once, anonymizedState(id, once)), [])
    }))

  it.effect.prop("keeps every field that is not about who the person is", [CustomerState], ([state]) =>
    Effect.sync(() => {
      const changed = fieldsChanged(state, anonymizedState(id, state))
      const mayChange = [...customerModel.personal, "emailVerified", "age", "metadata"]
      for (const field of changed) assert.include(mayChange, field)
    }))
})

describe("erasure step retries", () => {
  it("back off exponentially from one second, capped at ten minutes", () => {
    assert.deepStrictEqual([1, 2, 3, 4].map((attempt) => Duration.toMillis(retryDelay(attempt))), [1_000, 2_000, 4_000, 8_000])
    assert.strictEqual(Duration.toMillis(retryDelay(50)), 600_000)
  })
})
