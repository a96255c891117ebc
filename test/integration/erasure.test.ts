import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { outboxRows, testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer } from "../support/Http.ts"

// No NATS: every event waits in the outbox, as it would during an outage.
const Env = testServiceWithDatabase({ nats: false })

layer(Env, { excludeTestServices: true })("erasure with events still waiting", (it) => {
  it.effect("deleting a customer strips its data from events not yet published; the events themselves remain", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(newCustomer({ name: "Erin Erased" }))
      const renamed = yield* call("PATCH", `${customersPath}/${created.id}`, {
        body: { name: "Erin Still Erased", email: "erin.new@example.com" }
      })
      assert.strictEqual(renamed.status, 200)
      const deleted = yield* call("DELETE", `${customersPath}/${created.id}`)
      assert.strictEqual(deleted.status, 204)

      const events = yield* outboxRows()
      const ofCustomer = events.filter((event) => event.subject.startsWith(`customers.${created.id}.`))
      assert.deepStrictEqual(ofCustomer.map((event) => event.payload.type), [
        "customer.created",
        "customer.updated",
        "customer.email-verification-requested",
        "customer.deleted"
      ])
      assert.isTrue(ofCustomer.every((event) => !event.published))
      const text = JSON.stringify(ofCustomer)
      for (const personal of ["Erin", created.email, "erin.new@example.com"]) {
        assert.notInclude(text, personal)
      }
      assert.isUndefined(ofCustomer[2].payload.token)
    }))
})
