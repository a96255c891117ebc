/**
 * What is derived from the one description of a customer (src/domain/Customer.ts):
 * the state, the create defaults, the replacement's clearing, erasure and the
 * row mapping follow the schema, so a new field needs nothing more.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Customer, customerModel } from "../../src/domain/Customer.ts"
import { isVerificationExpired, verificationExpiry, verificationTtlMillis } from "../../src/domain/CustomerRules.ts"
import {
  CustomerState,
  erasedState,
  initialState,
  personalFields,
  stateFields,
  stateOf
} from "../../src/domain/CustomerState.ts"
import { columnKindOf, columnOf, columns, customerColumns, stateColumns, toCustomer } from "../../src/customers/CustomerRow.ts"
import { consent, emptyOptionalFields } from "../support/Customers.ts"

const id = "0196f4a4-0000-7000-8000-000000000000"

describe("the customer's state", () => {
  it("is every field of Customer but those the store owns", () => {
    assert.deepStrictEqual(
      [...stateFields, ...customerModel.storeOwned].sort(),
      Object.keys(Customer.fields).sort()
    )
  })

  it.effect.prop("stateOf keeps exactly the state fields of a customer", [Customer], ([customer]) =>
    Effect.sync(() => {
      const state = stateOf(customer)
      assert.deepStrictEqual(Object.keys(state).sort(), [...stateFields].sort())
      for (const field of stateFields) assert.strictEqual(state[field], customer[field])
    }), { arbitrary: { runs: 30 } })
})

describe("a new customer's defaults", () => {
  it("are the empty value of each omitted field, ACTIVE, unverified and no pending email", () => {
    assert.deepStrictEqual(initialState({ email: "ada@example.com", name: "Ada", consent }), {
      email: "ada@example.com",
      emailVerified: false,
      pendingEmail: null,
      name: "Ada",
      ...emptyOptionalFields,
      consent,
      status: "ACTIVE"
    })
  })

  it("take what the input gives", () => {
    const state = initialState({ email: "ada@example.com", name: "Ada", consent, age: 36, tags: ["vip"], status: "INACTIVE" })
    assert.strictEqual(state.age, 36)
    assert.deepStrictEqual(state.tags, ["vip"])
    assert.strictEqual(state.status, "INACTIVE")
  })

  it("decode as a customer's state", () => {
    const state = initialState({ email: "ada@example.com", name: "Ada", consent })
    assert.deepStrictEqual(Schema.decodeUnknownSync(CustomerState)(state), state)
  })
})

describe("erasure", () => {
  it.effect.prop("empties or replaces every personal field and keeps only what the model keeps", [CustomerState], ([state]) =>
    Effect.sync(() => {
      const erased = erasedState(id, state)
      assert.deepStrictEqual(Object.keys(erased).sort(), [...stateFields].sort())
      for (const field of stateFields) {
        if ((customerModel.keptOnErasure as ReadonlyArray<string>).includes(field)) {
          assert.deepStrictEqual(erased[field], state[field], field)
        }
      }
      assert.deepStrictEqual(
        Object.fromEntries(personalFields.map((field) => [field, erased[field]])),
        {
          email: `deleted-${id}@erased.invalid`,
          emailVerified: false,
          pendingEmail: null,
          name: "Deleted customer",
          ...emptyOptionalFields
        }
      )
      assert.strictEqual(erased.status, "DELETED")
      // Still a valid state: the erased row satisfies the same schema as any other.
      assert.deepStrictEqual(Schema.decodeUnknownSync(CustomerState)(erased), erased)
    }), { arbitrary: { runs: 30 } })

  it("treats every state field but consent and status as personal", () => {
    assert.deepStrictEqual(
      [...personalFields].sort(),
      stateFields.filter((field) => field !== "consent" && field !== "status").sort()
    )
  })
})

describe("the row mapping", () => {
  it("names each column after its field in snake_case", () => {
    assert.strictEqual(columnOf("lastActivity"), "last_activity")
    assert.strictEqual(columnOf("emailVerified"), "email_verified")
    assert.strictEqual(customerColumns.split(", ").length, Object.keys(Customer.fields).length)
    assert.deepStrictEqual(columns.map((column) => column.column), Object.keys(Customer.fields).map(columnOf))
  })

  it("stores objects as jsonb, lists of text as text[], date-times as timestamptz and the rest as they are", () => {
    const kinds = Object.fromEntries(columns.map((column) => [column.field, column.kind]))
    assert.deepStrictEqual(kinds, {
      id: "scalar",
      email: "scalar",
      emailVerified: "scalar",
      pendingEmail: "scalar",
      name: "scalar",
      age: "scalar",
      gender: "scalar",
      location: "json",
      preferences: "json",
      tags: "text-array",
      metadata: "json",
      consent: "json",
      status: "scalar",
      version: "scalar",
      createdAt: "timestamp",
      updatedAt: "timestamp",
      lastActivity: "timestamp"
    })
  })

  it("derives a new field's column kind from its schema", () => {
    assert.strictEqual(columnKindOf(Schema.NullOr(Schema.Struct({ a: Schema.String })).ast), "json")
    assert.strictEqual(columnKindOf(Schema.Array(Schema.Struct({ a: Schema.String })).ast), "json")
    assert.strictEqual(columnKindOf(Schema.Array(Schema.String).ast), "text-array")
    assert.strictEqual(columnKindOf(Schema.NullOr(Schema.Int).ast), "scalar")
  })

  it("writes exactly the state's columns", () => {
    assert.deepStrictEqual(stateColumns.map((column) => column.field), [...stateFields])
  })

  it.effect.prop("maps a row as the driver returns it back to the customer it stores", [Customer], ([generated]) =>
    Effect.sync(() => {
      // The schema's Timestamp is any text; the store's are instants.
      const customer = {
        ...generated,
        createdAt: "2026-01-31T09:30:00.000Z",
        updatedAt: "2026-02-01T10:00:00.123Z",
        lastActivity: "2026-02-02T11:00:00.999Z"
      }
      // What PostgreSQL hands back: the same values, timestamps as Dates.
      const row = Object.fromEntries(
        columns.map((
          { column, field, kind }
        ) => [column, kind === "timestamp" ? new Date(customer[field] as string) : customer[field]])
      )
      assert.deepStrictEqual(toCustomer(row as never), customer)
    }), { arbitrary: { runs: 30 } })
})

describe("email verification expiry (TestClock)", () => {
  it.effect("a token is good for 24 hours to the millisecond and expired after", () =>
    Effect.gen(function*() {
      const expiresAt = yield* verificationExpiry
      assert.strictEqual(expiresAt.getTime() - (yield* Clock.currentTimeMillis), verificationTtlMillis)
      yield* TestClock.adjust(verificationTtlMillis)
      assert.isFalse(yield* isVerificationExpired(expiresAt))
      yield* TestClock.adjust(1)
      assert.isTrue(yield* isVerificationExpired(expiresAt))
    }))
})
