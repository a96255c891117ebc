/**
 * Per-customer order of tracked events when JetStream refuses a message. The
 * publisher runs on a database of its own against a private nats-server whose
 * EVENTS stream keeps one message per subject and refuses the next: the
 * second batch of a type fails when published from memory, the publisher goes
 * back to the table, and nothing committed after it may overtake it. Once the
 * limit is lifted every event arrives once, in commit order, and later batches
 * go from memory again.
 */
import { DiscardPolicy, jetstreamManager } from "@nats-io/jetstream"
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Logger, Schema } from "effect"
import type { CustomerId } from "../../src/domain/Customer.ts"
import { TrackedEvents } from "../../src/domain/Event.ts"
import { EventPublisherLive } from "../../src/events/EventPublisher.ts"
import { EventStore, type EventToStore } from "../../src/events/EventStore.ts"
import { Keyring } from "../../src/privacy/Keyring.ts"
import { Nats } from "../../src/platform/Nats.ts"
import { eventually } from "../support/Eventually.ts"
import { natsConnection, onPrivateNats, PrivateNats, readStream } from "../support/Nats.ts"
import { eventToStore } from "../support/Events.ts"

const warnings: Array<unknown> = []
const captureWarnings = Logger.make((options) => {
  if (options.logLevel === "Warn") warnings.push(Logger.formatStructured.log(options).message)
})

const PublisherOnPrivateNats = onPrivateNats(
  EventPublisherLive.pipe(Layer.provideMerge(Layer.mergeAll(EventStore.layer, Nats.layer)), Layer.provideMerge(Keyring.layer)),
  [captureWarnings]
)

const decodeMessage = Schema.decodeUnknownSync(TrackedEvents, { onExcessProperty: "error" })

const customer = crypto.randomUUID() as CustomerId

const event = (type: string, day: number) =>
  eventToStore(customer, { type, occurredAt: new Date(Date.UTC(2026, 4, day)).toISOString() })

const unpublished = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM event_batches WHERE published_at IS NULL`.pipe(
    Effect.orDie,
    Effect.map(([row]) => row.n)
  ))

layer(PublisherOnPrivateNats, { excludeTestServices: true, timeout: "60 seconds" })(
  "event publisher when JetStream refuses a message",
  (it) => {
    it.effect("a customer's events arrive once and in commit order; later batches wait, then go from memory", () =>
      Effect.gen(function*() {
        const privateNats = yield* PrivateNats
        const nats = yield* Nats
        const sql = yield* PgClient.PgClient
        const store = yield* EventStore
        yield* eventually("the publisher's NATS connection", nats.status, (status) => status === "up")
        yield* sql`INSERT INTO customers (id, email, name, consent)
          VALUES (${customer}, ${`${customer}@example.com`}, 'Ada', '{"marketing": false, "dataProcessing": true}')`
          .pipe(Effect.orDie)
        const nc = yield* natsConnection(privateNats.url)
        const jsm = yield* Effect.promise(() => jetstreamManager(nc))
        const limit = (perSubject: boolean) =>
          Effect.promise(() =>
            jsm.streams.update("EVENTS", {
              discard: perSubject ? DiscardPolicy.New : DiscardPolicy.Old,
              discard_new_per_subject: perSubject,
              max_msgs_per_subject: perSubject ? 1 : -1
            })
          )
        yield* limit(true)
        const committedAt = new Date()
        const commit = (events: ReadonlyArray<EventToStore>) => store.store(events, committedAt)

        // The first message of `sign_in` fits; the second batch's is refused, and the third batch (another
        // subject, which JetStream would take) must wait behind it.
        const batches = [[event("sign_in", 1), event("sign_in", 2)], [event("sign_in", 3)], [event("page_view", 4)]]
        for (const batch of batches) yield* commit(batch)
        yield* eventually("the refusal to be seen", Effect.sync(() => warnings), (lines) =>
          lines.includes("events: publish failed, will retry"))
        yield* Effect.sleep("1500 millis")
        assert.strictEqual(yield* unpublished, 2, "the refused batch and the one after it wait")
        assert.strictEqual((yield* readStream(nc, "events.page_view", "EVENTS")).stored, 0)

        yield* limit(false)
        yield* eventually("every batch to be published", unpublished, (n) => n === 0)
        // Drained: the next batch goes from memory.
        const last = [event("sign_in", 5)]
        yield* commit(last)
        yield* eventually("the last batch to be published", unpublished, (n) => n === 0)

        const signIns = yield* readStream(nc, "events.sign_in", "EVENTS")
        assert.strictEqual(signIns.stored, 3, "one message per batch of the type, each once")
        const days = signIns.delivered.flatMap(({ payload }) =>
          decodeMessage(payload).events.map((tracked) => tracked.occurredAt.slice(8, 10))
        )
        assert.deepStrictEqual(days, ["01", "02", "03", "05"])
        assert.strictEqual((yield* readStream(nc, "events.page_view", "EVENTS")).stored, 1)
      }))
  }
)
