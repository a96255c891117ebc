/**
 * Erased means nothing readable is left (issue 16): after a person with data in every part of the service is
 * erased, a full dump of the database, every line the service logged and every message of every JetStream
 * stream it owns hold neither their email addresses (current and pending), nor their name, nor what their events
 * carried of them (a property the tracking plan marks personal, their device's user agent).
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { customersPath, newCustomer, unique } from "../support/Customers.ts"
import { outboxRows, testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer } from "../support/Http.ts"
import { natsConnection, PrivateNats } from "../support/Nats.ts"
import { bulkSegmentsPath, createSegment, manualSegment } from "../support/SegmentsApi.ts"
import { json, TestService } from "../support/TestService.ts"

const logLines: Array<string> = []

const Env = Layer.unwrap(Effect.gen(function*() {
  const nats = yield* PrivateNats
  return testServiceWithDatabase({ env: { NATS_URL: nats.url }, logLines })
})).pipe(Layer.provideMerge(PrivateNats.layer))

const ok = (response: Response, status = 200) =>
  Effect.gen(function*() {
    const text = yield* Effect.promise(() => response.text())
    assert.strictEqual(response.status, status, text)
    return text
  })

/** The test database as `pg_dump` writes it: every row of every table. */
const databaseDump = Effect.gen(function*() {
  const { databaseUrl } = yield* TestService
  const { stdout } = yield* Effect.promise(() =>
    promisify(execFile)("pg_dump", ["--data-only", "--no-owner", databaseUrl], { maxBuffer: 256 * 2 ** 20 })
  )
  return stdout
})

/** Every message of every stream on the service's NATS server, as text. */
const streamMessages = Effect.gen(function*() {
  const nats = yield* PrivateNats
  const nc = yield* natsConnection(nats.url)
  return yield* Effect.promise(async () => {
    const jsm = await jetstreamManager(nc)
    const texts: Array<string> = []
    for await (const stream of jsm.streams.list()) {
      const stored = stream.state.messages
      if (stored === 0) continue
      const consumer = await jetstream(nc).consumers.get(stream.config.name)
      let read = 0
      while (read < stored) {
        const message = await consumer.next({ expires: 2_000 })
        if (message === null) break
        texts.push(`${message.subject} ${message.string()}`)
        read++
        if (message.info.pending === 0) break
      }
    }
    return texts
  })
})

layer(Env, { excludeTestServices: true, timeout: "120 seconds" })("erasure leaves no trace", (it) => {
  it.effect("no dump, log line or stream message holds the erased person's addresses, name or event details", () =>
    Effect.gen(function*() {
      const marker = unique()
      const name = `Zelda Tracewell${marker}`
      const email = `zelda.${marker}@trace.example`
      const pendingEmail = `zelda.new.${marker}@trace.example`
      const phone = `+31 6 ${marker}`
      const userAgent = `TraceBrowser/${marker} (Zelda's phone)`
      const customer = yield* createCustomer(newCustomer({
        name,
        email,
        location: { country: "NL", city: "Utrecht" },
        tags: ["traced"],
        metadata: { plan: "gold" }
      }))
      const path = `${customersPath}/${customer.id}`
      // A pending email change: a verification row and an event for the mailer.
      yield* ok(yield* call("PATCH", path, { body: { email: pendingEmail } }))
      // Behaviour, segment stays, reads and an export: rows about the person in every part of the service. The
      // EVENTS stream cannot be purged per person (its subjects name no customer), so what the events carry of
      // the person must never reach it.
      yield* ok(yield* call("PUT", "/api/v1/tracking-plan/event-types/delivery_booked", {
        body: { propertiesSchema: { type: "object" }, mode: "refuse", personalProperties: ["phone"] }
      }))
      yield* ok(yield* call("POST", "/api/v1/events/batch", {
        role: "service",
        body: {
          events: [
            ...Array.from({ length: 5 }, (_, index) => ({
              customerId: customer.id,
              type: index === 0 ? "purchase" : "page_view",
              occurredAt: new Date(Date.now() - index * 60_000).toISOString(),
              properties: { path: `/page/${index}` },
              ...(index === 0 ? { revenue: 10, currency: "EUR" } : {})
            })),
            {
              customerId: customer.id,
              type: "delivery_booked",
              occurredAt: new Date().toISOString(),
              properties: { path: "/delivery", phone },
              device: { type: "mobile", userAgent }
            }
          ]
        }
      }))
      const segment = yield* createSegment(manualSegment())
      yield* ok(yield* call("POST", bulkSegmentsPath, {
        body: { segmentId: segment.id, action: "add", customerIds: [customer.id] }
      }))
      yield* ok(yield* call("GET", path))
      yield* ok(yield* call("GET", `${customersPath}?q=${encodeURIComponent(name)}`))
      yield* ok(yield* call("GET", `${path}/data`))

      yield* ok(yield* call("DELETE", path), 204)
      // The erasure's steps after its transaction (key, stream purge, the erasure's own event) are done, and
      // everything the service will publish has been published.
      yield* eventually(
        "the erasure to be done",
        call("GET", `${path}/erasure`).pipe(Effect.flatMap(json<{ readonly status: string }>)),
        (erasure) => erasure.status === "done"
      )
      yield* eventually("the outbox to drain", outboxRows(), (rows) => rows.every((row) => row.published))

      const personal = [email, pendingEmail, name, phone, userAgent].map((text) => text.toLowerCase())
      const dump = yield* databaseDump
      // The dump holds the person's rows (their id stays on the erased profile), just nothing of them.
      assert.include(dump, customer.id)
      const messages = yield* streamMessages
      assert.isAbove(messages.length, 0)
      assert.isAbove(logLines.length, 0)
      for (const [place, text] of [["pg_dump", dump], ["logs", logLines.join("\n")], ["JetStream", messages.join("\n")]]) {
        for (const value of personal) {
          assert.notInclude(text.toLowerCase(), value, `${place} holds ${value}`)
        }
      }
    }))
})
