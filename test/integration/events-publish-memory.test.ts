/**
 * The publisher publishes a committed batch from memory, as EventStore hands
 * it over, and from the table when it must (after a crash, or when memory fell
 * behind). A message published both ways is dropped by the stream only if the
 * two ways name it alike: same chunks, same Nats-Msg-Id, same events.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Logger, PubSub } from "effect"
import type { CustomerId } from "../../src/domain/Customer.ts"
import type { EventId } from "../../src/domain/Event.ts"
import { messagesFromTable, messagesOfBatch, type MessageRow } from "../../src/events/EventPublisher.ts"
import { EventStore } from "../../src/events/EventStore.ts"
import { Keyring } from "../../src/privacy/Keyring.ts"
import { DatabaseLive } from "../../src/platform/Database.ts"
import { eventToStore } from "../support/Events.ts"
import { scopedDatabase } from "../support/TestService.ts"

const Env = Layer.unwrap(Effect.map(scopedDatabase, (database) =>
  EventStore.layer.pipe(
    Layer.provideMerge(Keyring.layer),
    Layer.provideMerge(DatabaseLive),
    Layer.provide(Logger.layer([])),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ DATABASE_URL: database.url, DB_POOL_MAX: "2" })))
  )))

const aCustomer = Effect.flatMap(PgClient.PgClient, (sql) => {
  const id = crypto.randomUUID()
  return sql`INSERT INTO customers (id, email, name, consent)
    VALUES (${id}, ${`${id}@example.com`}, 'Ada', '{"marketing": false, "dataProcessing": true}')`.pipe(
    Effect.orDie,
    Effect.as(id as CustomerId)
  )
})

const event = eventToStore

/** What a consumer sees of a message: its id and its events, decoded (key order is no part of JSON's meaning). */
const seen = (messages: ReadonlyArray<MessageRow>) =>
  messages.map((message) => ({
    msgId: `${message.type}/${message.first_id}@${message.first_occurred_at}`,
    events: JSON.parse(message.events) as unknown
  })).sort((a, b) => a.msgId < b.msgId ? -1 : 1)

layer(Env, { excludeTestServices: true })("messages of a committed batch", (it) => {
  it.effect("from memory are those the table gives: chunks, ids, and events as stored", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const sql = yield* PgClient.PgClient
      const committed = yield* PubSub.subscribe(store.committedBatches)
      const [ada, grace] = [yield* aCustomer, yield* aCustomer]
      const at = "2026-03-01T10:00:00.000Z"
      const events = [
        // Upper-case ids (PostgreSQL answers in lower case), one instant shared by three events (ordered by id),
        // revenue beyond numeric(20, 4) (stored rounded), properties in an order jsonb does not keep.
        event(ada, { id: crypto.randomUUID().toUpperCase() as EventId, type: "page_view", occurredAt: at, properties: { zeta: 1, a: [1, { b: null }] } }),
        event(grace, { type: "page_view", occurredAt: at, sessionId: "s-1", channel: "web", device: { type: "mobile", os: "iOS" } }),
        event(ada, { type: "page_view", occurredAt: at }),
        event(ada, { type: "page_view", occurredAt: "2026-02-27T23:59:59.999Z" }),
        event(grace, { type: "purchase", occurredAt: "2026-03-02T00:00:00.000Z", revenue: 19.00005, currency: "EUR" }),
        event(ada, { type: "purchase", occurredAt: "2026-03-01T00:00:00.000Z", revenue: -3.5, currency: "USD" })
      ]
      const outcomes = yield* store.store(events, new Date("2026-03-02T08:00:00.000Z"))
      assert.deepStrictEqual(outcomes, events.map(() => "stored"))
      const batch = yield* PubSub.take(committed)
      assert.strictEqual(batch.events.length, events.length)

      const fromMemory = messagesOfBatch(batch, 2)
      const fromTable = yield* messagesFromTable(sql, [batch.id], 2).pipe(Effect.orDie)
      assert.deepStrictEqual(seen(fromMemory), seen(fromTable))
      // page_view in two chunks of two, purchase in one.
      assert.strictEqual(fromMemory.length, 3)
    }).pipe(Effect.scoped))

  it.effect("a batch that stored nothing new is not handed over", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const committed = yield* PubSub.subscribe(store.committedBatches)
      const ada = yield* aCustomer
      const events = [event(ada, { type: "sign_in", occurredAt: "2026-03-01T10:00:00.000Z" })]
      yield* store.store(events, new Date("2026-03-02T08:00:00.000Z"))
      const first = yield* PubSub.take(committed)
      assert.deepStrictEqual(yield* store.store(events, new Date("2026-03-02T08:00:01.000Z")), ["duplicate"])
      assert.strictEqual(yield* PubSub.remaining(committed), 0)
      assert.strictEqual(yield* store.lastCommittedSeq, first.seq)
    }).pipe(Effect.scoped))
})
