/**
 * The transactional outbox end to end: REST writes land in JetStream exactly
 * once and in order, also across a NATS outage (a private nats-server that
 * the test stops and starts again on the same port and store).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { type OutboxRow, outboxRows } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call } from "../support/Http.ts"
import { natsConnection, PrivateNats, readStream } from "../support/Nats.ts"
import { json, natsUrl, TestService, testService } from "../support/TestService.ts"

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const restJson = (method: string, path: string, body?: unknown) =>
  Effect.gen(function*() {
    const response = yield* call(method, path, { body })
    const text = yield* Effect.promise(() => response.text())
    return { status: response.status, body: text.length > 0 ? JSON.parse(text) : undefined }
  })

const createCustomer = (label: string) =>
  restJson("POST", customersPath, newCustomer({ name: label })).pipe(
    Effect.tap(({ status, body }) => Effect.sync(() => assert.strictEqual(status, 201, JSON.stringify(body))))
  )

const renameCustomer = (id: string, name: string) =>
  restJson("PATCH", `${customersPath}/${id}`, { name }).pipe(
    Effect.tap(({ status, body }) => Effect.sync(() => assert.strictEqual(status, 200, JSON.stringify(body))))
  )

const readiness = Effect.flatMap(TestService, ({ request }) => request("/ready", { auth: false })).pipe(
  Effect.flatMap(json<{ checks: { nats: { status: string }; outbox: { pending: number } } }>)
)

const allPublished = eventually("every outbox row to be published", outboxRows(), (rows) =>
  rows.length > 0 && rows.every((row) => row.published))

/**
 * Deleting a customer erases its already-published outbox rows (they hold its
 * data), so a test records the rows as it goes: `record` waits until every row
 * is published and returns all rows seen so far, in id order.
 */
const outboxLedger = () => {
  const seen = new Map<string, OutboxRow>()
  return {
    record: Effect.map(allPublished, (rows) => {
      for (const row of rows) seen.set(row.id, row)
      return [...seen.values()].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))
    })
  }
}

/** The whole service publishing to the private nats-server, which outlives it. */
const serviceOnPrivateNats = Layer.unwrap(
  Effect.map(PrivateNats, (nats) => testService({ env: { NATS_URL: nats.url } }))
).pipe(Layer.provideMerge(PrivateNats.layer))

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

// Live clock: the relay's polls and retries run on real time.
layer(testService(), { excludeTestServices: true })("outbox relay with the shared NATS", (it) => {
  // A deletion is left out here: erasure purges the customer's messages from the stream once they are published
  // (erasure-workflow.test.ts shows what the stream holds then).
  it.effect("a create and updates each reach JetStream once, in order, with Nats-Msg-Id = the event id", () =>
    Effect.gen(function*() {
      const ledger = outboxLedger()
      const created = (yield* createCustomer("Relay Ada")).body
      const updated = (yield* renameCustomer(created.id, "Relay Ada Lovelace")).body
      yield* ledger.record
      yield* renameCustomer(created.id, "Relay Ada King")

      const rows = yield* ledger.record
      assert.deepStrictEqual(rows.map((row) => row.payload.type), [
        "customer.created",
        "customer.updated",
        "customer.updated"
      ])

      const nc = yield* natsConnection(natsUrl)
      const { stored, delivered } = yield* readStream(nc, `customers.${created.id}.>`)
      assert.strictEqual(stored, 3, "the stream holds each change once")
      assert.deepStrictEqual(
        delivered.map(({ msgId, subject }) => ({ msgId, subject })),
        rows.map(({ eventId, subject }) => ({ msgId: eventId, subject }))
      )
      assert.deepStrictEqual(delivered.map(({ payload }) => payload.type), [
        "customer.created",
        "customer.updated",
        "customer.updated"
      ])
      assert.deepStrictEqual(delivered.map(({ subject }) => subject), [
        `customers.${created.id}.created`,
        `customers.${created.id}.updated`,
        `customers.${created.id}.updated`
      ])
      for (const { payload } of delivered) assert.strictEqual(payload.customerId, created.id)
      assert.deepStrictEqual(delivered.map(({ payload }) => payload.version), [
        created.version,
        updated.version,
        updated.version + 1
      ])
      const sequences = delivered.map(({ streamSequence }) => streamSequence)
      assert.deepStrictEqual(sequences, [...sequences].sort((a, b) => a - b))
    }))
})

layer(serviceOnPrivateNats, { excludeTestServices: true, timeout: "60 seconds" })(
  "outbox relay across a NATS restart",
  (it) => {
    it.effect(
      "writes during a NATS outage succeed and every change is published exactly once after it returns",
      () =>
        Effect.gen(function*() {
          const nats = yield* PrivateNats
          const ledger = outboxLedger()
          yield* eventually("NATS to be up", readiness, (ready) => ready.checks.nats.status === "up")

          // Before the outage.
          const ada = (yield* createCustomer("Before Ada")).body
          const bob = (yield* createCustomer("Before Bob")).body
          yield* renameCustomer(ada.id, "Before Ada Lovelace")
          yield* ledger.record

          // During the outage: writes still succeed, events wait in the outbox.
          yield* nats.stop
          yield* eventually("NATS to be reported down", readiness, (ready) => ready.checks.nats.status === "down")
          const cleo = (yield* createCustomer("During Cleo")).body
          yield* renameCustomer(bob.id, "During Bob Builder")
          yield* renameCustomer(ada.id, "During Ada King")
          const dora = (yield* createCustomer("During Dora")).body
          // Enough that the backlog's ids go from one digit to two (4 to 12), in one relay batch.
          for (const name of ["Dora A", "Dora B", "Dora C", "Dora D", "Dora E"]) yield* renameCustomer(dora.id, name)
          const degraded = yield* readiness
          assert.strictEqual(degraded.checks.nats.status, "down")
          assert.isAbove(degraded.checks.outbox.pending, 0)

          // NATS returns on the same port and store: the relay catches up on its own.
          yield* nats.start
          yield* eventually(
            "NATS up and the outbox drained",
            readiness,
            (ready) => ready.checks.nats.status === "up" && ready.checks.outbox.pending === 0
          )
          yield* createCustomer("After Eve")
          yield* renameCustomer(cleo.id, "After Cleo")
          yield* renameCustomer(dora.id, "After Dora")

          const rows = yield* ledger.record
          assert.strictEqual(rows.length, 15)
          const nc = yield* natsConnection(nats.url)
          const { stored, delivered } = yield* readStream(nc, "customers.>")
          const msgIds = delivered.map(({ msgId }) => msgId)
          assert.strictEqual(stored, rows.length, "the stream holds as many messages as the outbox has rows")
          assert.strictEqual(new Set(msgIds).size, msgIds.length, "no Nats-Msg-Id is delivered twice")
          assert.deepStrictEqual(
            delivered.map(({ msgId, subject, payload }) => ({ msgId, subject, type: payload.type })),
            rows.map(({ eventId, subject, payload }) => ({ msgId: eventId, subject, type: payload.type })),
            "every change, before, during and after the outage, once and in outbox order"
          )
        })
    )
  }
)

layer(serviceOnPrivateNats, { excludeTestServices: true, timeout: "60 seconds" })(
  "outbox relay when NATS returns without its store",
  (it) => {
    it.effect("the CUSTOMERS stream is created again and the backlog is published to it", () =>
      Effect.gen(function*() {
        const nats = yield* PrivateNats
        yield* eventually("NATS to be up", readiness, (ready) => ready.checks.nats.status === "up")
        yield* createCustomer("Before Loss")
        yield* allPublished

        yield* nats.stop
        yield* nats.wipeStore
        yield* eventually("NATS to be reported down", readiness, (ready) => ready.checks.nats.status === "down")
        const during = (yield* createCustomer("During Loss")).body
        yield* nats.start

        yield* eventually(
          "NATS up and the outbox drained",
          readiness,
          (ready) => ready.checks.nats.status === "up" && ready.checks.outbox.pending === 0
        )
        const after = (yield* createCustomer("After Loss")).body
        const rows = yield* allPublished
        const nc = yield* natsConnection(nats.url)
        const { stored, delivered } = yield* readStream(nc, "customers.>")
        // The first event went down with the old store; the rest are in the new stream.
        assert.strictEqual(stored, 2)
        assert.deepStrictEqual(
          delivered.map(({ msgId, subject }) => ({ msgId, subject })),
          rows.slice(1).map(({ eventId, subject }) => ({ msgId: eventId, subject }))
        )
        assert.deepStrictEqual(delivered.map(({ payload }) => payload.customerId), [during.id, after.id])
      }))
  }
)
