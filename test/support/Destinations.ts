/**
 * Destinations in tests: creating one through the API, webhook receivers on loopback, and segment events
 * published to JetStream as the outbox relay would.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { assert } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { CreatedDestination } from "../../src/domain/Destination.ts"
import { segmentsStreamName } from "../../src/domain/SegmentEvents.ts"
import { uuidv7 } from "../../src/platform/Ids.ts"
import { unique } from "./Customers.ts"
import { eventually } from "./Eventually.ts"
import { call } from "./Http.ts"
import { testServiceWithDatabase } from "./Database.ts"
import { natsConnection } from "./Nats.ts"
import { json, natsUrl } from "./TestService.ts"

export const destinationsPath = "/api/v1/destinations"

export const destinationPath = (id: string) => `${destinationsPath}/${id}`

/** Creates a destination (a fresh name, `body` on top) through the API; anything but 201 fails the test. */
export const createDestination = (body: Record<string, unknown>) =>
  Effect.gen(function*() {
    const response = yield* call("POST", destinationsPath, { body: { name: `Hook ${unique()}`, ...body } })
    const text = yield* Effect.promise(() => response.clone().text())
    assert.strictEqual(response.status, 201, text)
    const created = yield* json<CreatedDestination>(response)
    assert.strictEqual(response.headers.get("location"), destinationPath(created.id))
    return created
  })

/** A request a receiver got: its headers as the library reads them, the body as sent, when it arrived. */
export interface Received {
  readonly headers: Record<string, string>
  readonly body: string
  readonly at: number
}

const flatHeaders = (headers: IncomingHttpHeaders) =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, String(value)]))

/**
 * A webhook receiver on loopback for the test's scope: it records every request and answers each with the
 * status `answer` gives for it (its 0-based number), 200 unless told; 0 is no answer at all.
 */
export const receiver = (answer: (index: number) => number = () => 200) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly url: string; readonly received: Array<Received>; readonly close: () => void }>((resolve) => {
        const received: Array<Received> = []
        const server = createServer((request, response) => {
          const chunks: Array<Buffer> = []
          request.on("data", (chunk: Buffer) => chunks.push(chunk))
          request.on("end", () => {
            const index = received.length
            received.push({ headers: flatHeaders(request.headers), body: Buffer.concat(chunks).toString(), at: Date.now() })
            const status = answer(index)
            if (status !== 0) response.writeHead(status).end()
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          resolve({
            url: `http://127.0.0.1:${port}/hooks`,
            received,
            close: () => {
              server.closeAllConnections()
              server.close()
            }
          })
        })
      })
    ),
    (receiver) => Effect.sync(receiver.close)
  )

/** A join of one new customer id, as the calculation publishes it. */
export const membershipEvent = (segmentId: string) => ({
  type: "segment.joined",
  eventId: uuidv7(),
  segmentId,
  calculationId: uuidv7(),
  occurredAt: new Date().toISOString(),
  customerIds: [uuidv7()],
  part: 1,
  parts: 1
})

/** Publishes the events to the segment stream as the outbox relay would, each under a fresh Nats-Msg-Id. */
export const publishEvents = (events: ReadonlyArray<{ readonly segmentId: string }>) =>
  Effect.gen(function*() {
    const js = jetstream(yield* natsConnection(natsUrl))
    for (const event of events) {
      yield* Effect.promise(() =>
        js.publish(`segments.${event.segmentId}.joined`, JSON.stringify(event), { msgID: uuidv7() })
      )
    }
  })


/** A JetStream manager on a connection of the test's own (closed with the scope). */
export const natsManager = Effect.flatMap(natsConnection(natsUrl), (nc) => Effect.promise(() => jetstreamManager(nc)))

/** Whether the service's durable consumer on the segment stream exists. */
export const durableConsumerExists = (durable: string) =>
  Effect.flatMap(natsManager, (manager) =>
    Effect.promise(() => manager.consumers.info(segmentsStreamName, durable).then(() => true, () => false)))

/** Waits for the service's durable consumer: events published from now on reach the destinations. */
export const durableConsumerReady = (durable: string) =>
  Effect.asVoid(eventually("the destinations' consumer", durableConsumerExists(durable), (exists) => exists))

/** Deletes a test file's durable consumer from the shared NATS when its tests are done. */
export const durableConsumerCleanup = (durable: string) =>
  Layer.effectDiscard(Effect.addFinalizer(() =>
    Effect.flatMap(natsManager, (manager) =>
      Effect.promise(() => manager.consumers.delete(segmentsStreamName, durable).catch(() => false))).pipe(Effect.scoped)
  ))

/**
 * A service on its own database whose destinations consume from the durable consumer `durable` (deleted when
 * the tests are done) and may call webhook receivers on loopback; `env` on top.
 */
export const destinationsTestService = (durable: string, env: Record<string, string> = {}) =>
  testServiceWithDatabase({
    env: {
      DESTINATIONS_ALLOW_PRIVATE_NETWORKS: "true",
      DESTINATIONS_CONSUMER: durable,
      DESTINATION_POLL_SECONDS: "0.1",
      ...env
    }
  }).pipe(Layer.provideMerge(durableConsumerCleanup(durable)))
