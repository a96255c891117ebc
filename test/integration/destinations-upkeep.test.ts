/**
 * Destinations' upkeep on the real database and NATS, with receivers that are real HTTP servers on loopback:
 * a destination that keeps failing is disabled by the service (visible in its status) and delivers again once
 * a user enables it.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { Destination } from "../../src/domain/Destination.ts"
import { unique } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import {
  createDestination,
  destinationPath,
  durableConsumerCleanup,
  durableConsumerReady,
  membershipEvent,
  publishEvents,
  receiver
} from "../support/Destinations.ts"
import { eventually } from "../support/Eventually.ts"
import { call } from "../support/Http.ts"
import { createSegment, manualSegment } from "../support/SegmentsApi.ts"
import { json } from "../support/TestService.ts"

const durable = `test-destinations-upkeep-${unique()}`

const readDestination = (id: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", destinationPath(id))
    assert.strictEqual(response.status, 200)
    return yield* json<Destination>(response)
  })

layer(
  testServiceWithDatabase({
    env: {
      DESTINATIONS_ALLOW_PRIVATE_NETWORKS: "true",
      DESTINATIONS_CONSUMER: durable,
      DESTINATION_POLL_SECONDS: "0.1",
      DESTINATION_RETRY_BASE_SECONDS: "0.2",
      DESTINATION_RETRY_CAP_SECONDS: "1",
      DESTINATION_MAX_ATTEMPTS: "10",
      DESTINATION_DISABLE_AFTER_FAILURES: "3",
      DESTINATION_DISABLE_AFTER_HOURS: "0"
    }
  }).pipe(Layer.provideMerge(durableConsumerCleanup(durable))),
  { excludeTestServices: true, timeout: 60_000 }
)("destination upkeep", (it) => {
  it.effect("a destination failing its attempts in a row is disabled, shown in its status, and enabled again by a PATCH", () =>
    Effect.gen(function*() {
      let healthy = false
      const hooks = yield* receiver(() => healthy ? 200 : 500)
      yield* durableConsumerReady(durable)
      const segment = yield* createSegment(manualSegment())
      const destination = yield* createDestination({ url: hooks.url, segmentId: segment.id })
      const event = membershipEvent(segment.id)
      yield* publishEvents([event])

      const disabled = yield* eventually("the destination disabled", readDestination(destination.id), (read) => !read.enabled)
      assert.strictEqual(disabled.status.consecutiveFailures, 3)
      assert.isNotNull(disabled.status.autoDisabledAt)
      assert.isNotNull(disabled.status.failingSince)
      assert.strictEqual(disabled.status.lastHttpStatus, 500)
      assert.strictEqual(disabled.status.pending, 1, "its delivery waits, neither sent nor dead")
      yield* Effect.sleep("1 second")
      assert.strictEqual(hooks.received.length, 3, "no attempt while disabled")

      healthy = true
      const enabled = yield* json<Destination>(yield* call("PATCH", destinationPath(destination.id), { body: { enabled: true } }))
      assert.isTrue(enabled.enabled)
      assert.isNull(enabled.status.autoDisabledAt)
      assert.isNull(enabled.status.failingSince)
      assert.strictEqual(enabled.status.consecutiveFailures, 0)
      const delivered = yield* eventually("the delivery", readDestination(destination.id), (read) => read.status.delivered === 1)
      assert.strictEqual(delivered.status.pending, 0)
      assert.isTrue(delivered.enabled)
      assert.strictEqual(hooks.received.length, 4)
    }))
})
