/**
 * An erasure outlives the process that began it: the service is stopped after the erasing transaction while
 * its later steps cannot run (its NATS server is down), and a new service on the same database finishes them.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { ErasureRequest } from "../../src/domain/Erasure.ts"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer } from "../support/Http.ts"
import { natsConnection, PrivateNats, readStream } from "../support/Nats.ts"
import { json, scopedDatabase, testService } from "../support/TestService.ts"

const erasureOf = (id: string) =>
  Effect.flatMap(call("GET", `${customersPath}/${id}/erasure`), (response) => json<ErasureRequest>(response))

layer(PrivateNats.layer, { excludeTestServices: true, timeout: 60_000 })("erasure across a restart", (it) => {
  it.effect("a request interrupted by a stop is resumed by the next start and reaches done", () =>
    Effect.gen(function*() {
      const nats = yield* PrivateNats
      const database = yield* scopedDatabase
      const env = { DATABASE_URL: database.url, NATS_URL: nats.url }
      const running = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.scoped(Effect.flatMap(Layer.build(testService({ env })), (context) => Effect.provide(effect, context)))

      // NATS up while the customer is created and published, so the stream holds something of them.
      const input = newCustomer({ name: "Rhea Restarted" })
      const customer = yield* running(Effect.gen(function*() {
        const created = yield* createCustomer(input)
        const nc = yield* natsConnection(nats.url)
        yield* eventually("customer.created in CUSTOMERS", readStream(nc, `customers.${created.id}.>`), (read) =>
          read.stored === 1)
        return created
      }))

      yield* nats.stop
      yield* running(Effect.gen(function*() {
        const started = yield* call("DELETE", `${customersPath}/${customer.id}/data`)
        assert.strictEqual(started.status, 202)
        // The transaction is done; the purge cannot be (its NATS is down): recorded, retried, still pending.
        const waiting = yield* eventually("a failed purge attempt", erasureOf(customer.id), (request) =>
          request.steps.some((step) => step.name === "purge-streams" && step.lastError !== null))
        assert.strictEqual(waiting.status, "pending")
        assert.isAbove(waiting.attempts, 0)
      }))

      yield* nats.start
      yield* running(Effect.gen(function*() {
        const done = yield* eventually(
          "the erasure to be done after the restart",
          erasureOf(customer.id),
          (request) => request.status === "done",
          60_000
        )
        const purge = done.steps.find((step) => step.name === "purge-streams")
        assert.strictEqual(purge?.status, "done")
        assert.isNull(purge?.lastError)
        const nc = yield* natsConnection(nats.url)
        const after = yield* eventually(
          "customer.erased in CUSTOMERS",
          readStream(nc, `customers.${customer.id}.>`),
          (read) => read.delivered.some((message) => message.payload.type === "customer.erased")
        )
        assert.deepStrictEqual(after.delivered.map((message) => message.subject), [`customers.${customer.id}.erased`])
        assert.notInclude(JSON.stringify(after.delivered), "Rhea")
      }))
    }), 180_000)
})
