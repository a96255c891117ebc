/**
 * The destinations' durable JetStream consumer, on the real database and NATS: membership events published
 * before the consumer first exists (the outbox relay reached NATS first, or the consumer was deleted) still
 * reach the destinations, since a new consumer starts at the first destination's creation; events published
 * before that are not sent. The service under test runs without NATS, so the test decides when the fan-out
 * (DestinationDeliveryLive on a fresh consumer name) starts.
 */
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer } from "effect"
import { Webhook } from "standardwebhooks"
import { DestinationDeliveryLive } from "../../src/destinations/DestinationDelivery.ts"
import { DestinationRepo } from "../../src/destinations/DestinationRepo.ts"
import { segmentsStream, segmentsStreamName } from "../../src/domain/SegmentEvents.ts"
import { Nats } from "../../src/platform/Nats.ts"
import { unique } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import {
  createDestination,
  durableConsumerCleanup,
  durableConsumerExists,
  membershipEvent,
  natsManager,
  publishEvents,
  receiver
} from "../support/Destinations.ts"
import { eventually } from "../support/Eventually.ts"
import { createSegment, manualSegment } from "../support/SegmentsApi.ts"
import { natsUrl } from "../support/TestService.ts"

const durable = `test-destinations-late-${unique()}`

const fanOutConfig = ConfigProvider.layer(ConfigProvider.fromEnvRecord({
  NATS_URL: natsUrl,
  DESTINATIONS_CONSUMER: durable,
  DESTINATIONS_ALLOW_PRIVATE_NETWORKS: "true",
  DESTINATION_POLL_SECONDS: "0.1"
}))

const consumerExists = durableConsumerExists(durable)

layer(
  testServiceWithDatabase({ nats: false, env: { DESTINATIONS_ALLOW_PRIVATE_NETWORKS: "true" } }).pipe(
    Layer.provideMerge(durableConsumerCleanup(durable))
  ),
  { excludeTestServices: true, timeout: 60_000 }
)("the destinations' consumer", (it) => {
  it.effect("an event published before the consumer existed reaches a destination created before it", () =>
    Effect.gen(function*() {
      // Fresh: the layers are memoised, and the service's own (without NATS) must not be reused.
      const nats = yield* Layer.build(Layer.fresh(Nats.layer).pipe(Layer.provide(fanOutConfig)))
      // The stream exists (another file's service may have made it already): events can be published.
      yield* Context.get(nats, Nats).ensureStream(segmentsStream)
      const manager = yield* natsManager
      yield* eventually(
        "the segment stream",
        Effect.promise(() => manager.streams.info(segmentsStreamName).then(() => true, () => false)),
        (exists) => exists
      )
      const segment = yield* createSegment(manualSegment())
      const beforeDestination = membershipEvent(segment.id)
      yield* publishEvents([beforeDestination])
      yield* Effect.sleep("50 millis")

      const hooks = yield* receiver()
      const destination = yield* createDestination({ url: hooks.url, segmentId: segment.id })
      const afterDestination = membershipEvent(segment.id)
      yield* publishEvents([afterDestination])
      assert.isFalse(yield* consumerExists, "no consumer yet: the event waits in the stream")

      yield* Layer.build(Layer.fresh(DestinationDeliveryLive).pipe(
        Layer.provide(DestinationRepo.layer),
        Layer.provide(Layer.succeedContext(nats)),
        Layer.provide(fanOutConfig)
      ))
      const received = yield* eventually(
        "the event published before the consumer, at the receiver",
        Effect.sync(() =>
          hooks.received.map((request) =>
            (new Webhook(destination.secret).verify(request.body, request.headers) as { readonly eventId: string }).eventId
          )
        ),
        (eventIds) => eventIds.includes(afterDestination.eventId)
      )
      assert.isTrue(yield* consumerExists)
      assert.notInclude(received, beforeDestination.eventId, "an event older than every destination is not sent")
    }))
})
