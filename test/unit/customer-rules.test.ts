import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { type Actor, Role } from "../../src/domain/Access.ts"
import { can, requirePermission, requireRoleWithin } from "../../src/domain/Access.ts"
import type { CustomerStatus } from "../../src/domain/Customer.ts"
import {
  applyPatch,
  consentSufficient,
  etagFor,
  statusTransition,
  versionFromEtag
} from "../../src/domain/CustomerRules.ts"
import { type CustomerState, erasedState, toPatch } from "../../src/domain/CustomerState.ts"
import { emptyOptionalFields } from "../support/Customers.ts"

const actor = (role: Role): Actor => ({ subject: "someone", role, kind: "user" })

const state: CustomerState = {
  email: "ada@example.com",
  emailVerified: true,
  pendingEmail: null,
  name: "Ada Lovelace",
  age: 36,
  gender: "FEMALE",
  location: { country: "GB", timezone: "Europe/London" },
  preferences: { language: "en" },
  tags: ["vip"],
  metadata: { source: "import" },
  consent: { marketing: false, dataProcessing: true },
  status: "ACTIVE"
}

describe("status transitions", () => {
  const cases: ReadonlyArray<readonly [CustomerStatus, CustomerStatus, Role, string]> = [
    ["ACTIVE", "INACTIVE", "agent", "allowed"],
    ["INACTIVE", "ACTIVE", "service", "allowed"],
    ["ACTIVE", "ACTIVE", "analyst", "allowed"],
    ["ACTIVE", "SUSPENDED", "agent", "needs-suspend-permission"],
    ["ACTIVE", "SUSPENDED", "admin", "allowed"],
    ["SUSPENDED", "ACTIVE", "agent", "needs-suspend-permission"],
    ["SUSPENDED", "INACTIVE", "admin", "allowed"],
    ["ACTIVE", "DELETED", "admin", "never"],
    ["DELETED", "ACTIVE", "admin", "never"],
    ["INACTIVE", "DELETED", "agent", "never"]
  ]
  for (const [from, to, role, verdict] of cases) {
    it(`${from} -> ${to} by ${role} is ${verdict}`, () => {
      assert.strictEqual(statusTransition(from, to, actor(role)), verdict)
    })
  }
})

describe("permissions", () => {
  it("admin holds every permission", () => {
    assert.isTrue(can("admin", "customers:suspend"))
    assert.isTrue(can("admin", "api-keys:manage"))
  })

  it("every role reads customers, so no read can answer 403", () => {
    for (const role of Role.literals) assert.isTrue(can(role, "customers:read"), role)
  })

  it("analyst only reads", () => {
    assert.isTrue(can("analyst", "customers:read"))
    assert.isFalse(can("analyst", "customers:write"))
    assert.isFalse(can("analyst", "customers:delete"))
  })

  it("service writes but does not delete", () => {
    assert.isTrue(can("service", "customers:write"))
    assert.isFalse(can("service", "customers:delete"))
  })

  it.effect("requirePermission lets a permitted role through", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(requirePermission(actor("analyst"), "customers:read"))
      assert.isTrue(Exit.isSuccess(exit))
    }))

  it.effect("requirePermission fails with Forbidden naming the permission", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(requirePermission(actor("agent"), "customers:suspend"))
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(requirePermission(actor("agent"), "customers:suspend"))
      assert.strictEqual(error.permission, "customers:suspend")
      assert.strictEqual(error.status, 403)
    }))

  it.effect("managing API keys is refused to an API key whatever its role", () =>
    Effect.gen(function*() {
      const key: Actor = { subject: "0190a6f0-0000-7000-8000-000000000000", role: "admin", kind: "api-key" }
      const error = yield* Effect.flip(requirePermission(key, "api-keys:manage"))
      assert.strictEqual(error.permission, "api-keys:manage")
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(requirePermission(key, "customers:suspend"))))
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(requirePermission(actor("admin"), "api-keys:manage"))))
    }))

  it.effect("a role handed out may not exceed the holder's: every permission it grants, the holder has", () =>
    Effect.gen(function*() {
      for (const role of ["admin", "agent", "analyst", "service"] as const) {
        assert.isTrue(Exit.isSuccess(yield* Effect.exit(requireRoleWithin(actor("admin"), role))), role)
      }
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(requireRoleWithin(actor("service"), "analyst"))))
      const error = yield* Effect.flip(requireRoleWithin(actor("service"), "agent"))
      assert.strictEqual(error.permission, "customers:delete")
      assert.isTrue(Exit.isFailure(yield* Effect.exit(requireRoleWithin(actor("agent"), "admin"))))
    }))
})

describe("consent", () => {
  it("data processing consent is required, marketing may be refused", () => {
    assert.isTrue(consentSufficient({ marketing: false, dataProcessing: true }))
    assert.isFalse(consentSufficient({ marketing: true, dataProcessing: false }))
  })
})

describe("ETags", () => {
  it("round-trip a version", () => {
    assert.strictEqual(versionFromEtag(etagFor(7)), 7)
  })

  it("accept the weak form", () => {
    assert.strictEqual(versionFromEtag(`W/"v12"`), 12)
  })

  it("reject anything else", () => {
    assert.isUndefined(versionFromEtag(`"12"`))
    assert.isUndefined(versionFromEtag(`"v"`))
    assert.isUndefined(versionFromEtag(`"v1234567890"`))
  })
})

describe("applying a patch", () => {
  it("changes only the given fields and lists them", () => {
    const outcome = applyPatch(state, { name: "Ada King", tags: ["vip"] })
    assert.strictEqual(outcome.state.name, "Ada King")
    assert.deepStrictEqual(outcome.changedFields, ["name"])
    assert.strictEqual(outcome.state.age, 36)
  })

  it("null clears an optional field", () => {
    const outcome = applyPatch(state, { age: null, location: null })
    assert.isNull(outcome.state.age)
    assert.isNull(outcome.state.location)
    assert.deepStrictEqual(outcome.changedFields, ["age", "location"])
  })

  it("an identical patch changes nothing", () => {
    const outcome = applyPatch(state, { name: state.name, status: "ACTIVE", version: 3 })
    assert.deepStrictEqual(outcome.changedFields, [])
    assert.isUndefined(outcome.emailChange)
  })

  it("a new email is held as pending, the current one stays", () => {
    const outcome = applyPatch(state, { email: "ada.king@example.com" })
    assert.strictEqual(outcome.state.email, state.email)
    assert.strictEqual(outcome.state.pendingEmail, "ada.king@example.com")
    assert.strictEqual(outcome.emailChange, "ada.king@example.com")
  })

  it("the same email in another letter case is no change", () => {
    const outcome = applyPatch(state, { email: "ADA@example.com" })
    assert.isUndefined(outcome.emailChange)
    assert.deepStrictEqual(outcome.changedFields, [])
  })

  it("re-requesting the pending email is no new change", () => {
    const pending = { ...state, pendingEmail: "new@example.com" }
    assert.isUndefined(applyPatch(pending, { email: "NEW@example.com" }).emailChange)
  })
})

describe("replacing a customer", () => {
  it("clears every optional field the replacement omits", () => {
    const patch = toPatch({ email: "a@example.com", name: "A" })
    assert.deepStrictEqual(patch, { email: "a@example.com", name: "A", ...emptyOptionalFields })
  })

  it("keeps status and version when given", () => {
    const patch = toPatch({ email: "a@example.com", name: "A", status: "INACTIVE", version: 4 })
    assert.strictEqual(patch.status, "INACTIVE")
    assert.strictEqual(patch.version, 4)
  })
})

describe("erasure", () => {
  it("keeps nothing that identifies the person", () => {
    const erased = erasedState("0196f4a4-0000-7000-8000-000000000000", state)
    assert.notInclude(JSON.stringify(erased), "Ada")
    assert.notInclude(JSON.stringify(erased), "ada@example.com")
    assert.strictEqual(erased.status, "DELETED")
    assert.isNull(erased.location)
    assert.deepStrictEqual(erased.metadata, {})
  })
})

describe("withdrawing an email change", () => {
  it("asking for the current address again clears the pending one", () => {
    const pending = { ...state, pendingEmail: "new@example.com" }
    const outcome = applyPatch(pending, { email: state.email })
    assert.isNull(outcome.state.pendingEmail)
    assert.deepStrictEqual(outcome.changedFields, ["pendingEmail"])
    assert.isUndefined(outcome.emailChange)
  })
})
