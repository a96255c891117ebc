/**
 * Per-customer order when JetStream refuses part of a batch. The relay runs on
 * a database of its own against a private nats-server whose CUSTOMERS stream
 * keeps one message per subject and refuses the next (discard new per
 * subject): a customer's second `updated` event fails in the middle of a batch
 * while the events around it, of that customer and of others, would go
 * through. Once the limit is lifted, every event must have arrived once, each
 * customer's in version order.
 */
import { DiscardPolicy, jetstreamManager } from "@nats-io/jetstream"
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Logger } from "effect"
import { randomUUID } from "node:crypto"
import { Nats } from "../../src/platform/Nats.ts"
import { Outbox } from "../../src/platform/Outbox.ts"
import { OutboxRelayLive } from "../../src/platform/OutboxRelay.ts"
import { eventually } from "../support/Eventually.ts"
import { natsConnection, onPrivateNats, PrivateNats, readStream } from "../support/Nats.ts"

/** The relay's warnings, for the test to read. */
const warnings: Array<{ readonly message: unknown; readonly annotations: Record<string, unknown> }> = []
const captureWarnings = Logger.make((options) => {
  if (options.logLevel === "Warn") warnings.push(Logger.formatStructured.log(options))
})

/** The relay, the NATS client and the outbox on a database of their own, publishing to the private nats-server. */
const RelayOnPrivateNats = onPrivateNats(
  OutboxRelayLive.pipe(Layer.provideMerge(Layer.mergeAll(Outbox.layer, Nats.layer))),
  [captureWarnings]
)

const customerA = randomUUID()
const customerB = randomUUID()
const customerC = randomUUID()

/** One outbox row: the event `type` of `customer` at `version`. */
const event = (customer: string, type: "created" | "updated" | "deleted", version: number) => {
  const eventId: string = randomUUID()
  return {
    event_id: eventId,
    subject: `customers.${customer}.${type}`,
    payload: { eventId, type: `customer.${type}`, customerId: customer, version }
  }
}

/** A's third event (its second `updated`) is the one the stream refuses. */
const batch = [
  event(customerA, "created", 1),
  event(customerB, "created", 1),
  event(customerA, "updated", 2),
  event(customerC, "created", 1),
  event(customerA, "updated", 3),
  event(customerB, "updated", 2),
  event(customerA, "deleted", 4)
]

const outboxState = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ readonly eventId: string; readonly published: boolean }>`SELECT event_id::text AS "eventId",
    published_at IS NOT NULL AS published FROM outbox ORDER BY id`)

layer(RelayOnPrivateNats, { excludeTestServices: true, timeout: "60 seconds" })(
  "outbox relay when JetStream refuses part of a batch",
  (it) => {
    it.effect("each customer's events arrive once and in version order; other customers' are not held back", () =>
      Effect.gen(function*() {
        const privateNats = yield* PrivateNats
        const nats = yield* Nats
        const sql = yield* PgClient.PgClient
        yield* eventually("the relay's NATS connection", nats.status, (status) => status === "up")
        const nc = yield* natsConnection(privateNats.url)
        const jsm = yield* Effect.promise(() => jetstreamManager(nc))
        yield* Effect.promise(() =>
          jsm.streams.update("CUSTOMERS", {
            discard: DiscardPolicy.New,
            discard_new_per_subject: true,
            max_msgs_per_subject: 1
          })
        )

        // One statement: the relay sees the whole batch at once.
        const [first, ...rest] = batch.map((row) => ({ ...row, payload: sql.json(row.payload) }))
        yield* sql`INSERT INTO outbox ${sql.insert([first, ...rest])}`
        const refused = batch.slice(4).filter((row) => row.payload.customerId === customerA).map((row) => row.event_id)
        const states = yield* eventually(
          "everything but A's refused event and what follows it to be published",
          outboxState,
          (rows) => rows.length === batch.length && rows.every((row) => row.published !== refused.includes(row.eventId))
        )
        assert.deepStrictEqual(
          states.filter((row) => !row.published).map((row) => row.eventId),
          refused,
          "A's deleted event waits behind its refused update"
        )
        const held = yield* readStream(nc, `customers.${customerA}.>`)
        assert.deepStrictEqual(held.delivered.map(({ payload }) => payload.version), [1, 2])
        assert.isTrue(
          warnings.some((line) => line.message === "outbox: publish failed, will retry" && line.annotations.error === "PublishFailed"),
          JSON.stringify(warnings)
        )

        // The stream takes everything again: the relay's retry publishes A's rest, in order.
        yield* Effect.promise(() =>
          jsm.streams.update("CUSTOMERS", {
            discard: DiscardPolicy.Old,
            discard_new_per_subject: false,
            max_msgs_per_subject: -1
          })
        )
        yield* eventually("every row to be published", outboxState, (rows) => rows.every((row) => row.published))
        for (const customer of [customerA, customerB, customerC]) {
          const { stored, delivered } = yield* readStream(nc, `customers.${customer}.>`)
          const expected = batch.filter((row) => row.payload.customerId === customer)
          assert.strictEqual(stored, expected.length, `customer ${customer}: each event stored once`)
          assert.deepStrictEqual(
            delivered.map(({ msgId, payload }) => ({ msgId, version: payload.version })),
            expected.map((row) => ({ msgId: row.event_id, version: row.payload.version })),
            `customer ${customer}: in version order`
          )
        }
      }))
  }
)
