/**
 * Destinations' upkeep on the real database and NATS, with receivers that are real HTTP servers on loopback:
 * a destination that keeps failing is disabled by the service (visible in its status) and delivers again once
 * a user enables it; its pending, dead and delivered counters agree with its delivery rows through fan-out,
 * failures, dead letters, a replay and deliveries; destinations are versioned (ETag, If-Match, RPC's expectedVersion) as segments are.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { Destination } from "../../src/domain/Destination.ts"
import { DestinationVersionConflict } from "../../src/domain/Errors.ts"
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
import { call, expectProblem, type Problem } from "../support/Http.ts"
import { withRpcClient } from "../support/Rpc.ts"
import { createSegment, manualSegment } from "../support/SegmentsApi.ts"
import { json } from "../support/TestService.ts"

const durable = `test-destinations-upkeep-${unique()}`

const readDestination = (id: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", destinationPath(id))
    assert.strictEqual(response.status, 200)
    return yield* json<Destination>(response)
  })

/** The destination's counters (kept with every move of a delivery) equal a count of its delivery rows. */
const countsAgreeWithRows = (destination: Destination) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const [rows] = yield* sql<{ readonly pending: number; readonly dead: number; readonly delivered: number }>`SELECT
        count(*) FILTER (WHERE status = 'pending')::int AS pending, count(*) FILTER (WHERE status = 'dead')::int AS dead,
        count(*) FILTER (WHERE status = 'delivered')::int AS delivered
      FROM destination_deliveries WHERE destination_id = ${destination.id}`.pipe(Effect.orDie)
    const { dead, delivered, pending } = destination.status
    assert.deepStrictEqual({ pending, dead, delivered }, rows)
  })

layer(
  testServiceWithDatabase({
    env: {
      DESTINATIONS_ALLOW_PRIVATE_NETWORKS: "true",
      DESTINATIONS_CONSUMER: durable,
      DESTINATION_POLL_SECONDS: "0.1",
      DESTINATION_RETRY_BASE_SECONDS: "0.2",
      DESTINATION_RETRY_CAP_SECONDS: "1",
      DESTINATION_MAX_ATTEMPTS: "2",
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
      const [first, second] = [membershipEvent(segment.id), membershipEvent(segment.id)]
      yield* publishEvents([first])
      const oneDead = yield* eventually("the first event dead", readDestination(destination.id), (read) => read.status.dead === 1)
      assert.isTrue(oneDead.enabled, "two failures in a row are not enough")
      yield* countsAgreeWithRows(oneDead)

      yield* publishEvents([second])
      const disabled = yield* eventually("the destination disabled", readDestination(destination.id), (read) => !read.enabled)
      assert.strictEqual(disabled.status.consecutiveFailures, 3)
      assert.isNotNull(disabled.status.autoDisabledAt)
      assert.isNotNull(disabled.status.failingSince)
      assert.strictEqual(disabled.status.lastHttpStatus, 500)
      assert.strictEqual(disabled.status.pending, 1, "the second event's delivery waits, neither sent nor dead")
      assert.strictEqual(disabled.status.dead, 1)
      yield* countsAgreeWithRows(disabled)
      yield* Effect.sleep("1 second")
      assert.strictEqual(hooks.received.length, 3, "no attempt while disabled")

      const replay = yield* call("POST", `${destinationPath(destination.id)}/dead-letters/replay`, { body: {} })
      assert.strictEqual((yield* json<{ readonly replayed: number }>(replay)).replayed, 1)
      const replayed = yield* readDestination(destination.id)
      assert.deepStrictEqual([replayed.status.pending, replayed.status.dead], [2, 0])
      yield* countsAgreeWithRows(replayed)

      healthy = true
      const enabled = yield* json<Destination>(yield* call("PATCH", destinationPath(destination.id), { body: { enabled: true } }))
      assert.isTrue(enabled.enabled)
      assert.isNull(enabled.status.autoDisabledAt)
      assert.isNull(enabled.status.failingSince)
      assert.strictEqual(enabled.status.consecutiveFailures, 0)
      const delivered = yield* eventually("the deliveries", readDestination(destination.id), (read) => read.status.delivered === 2)
      assert.deepStrictEqual([delivered.status.pending, delivered.status.dead], [0, 0])
      assert.isTrue(delivered.enabled)
      yield* countsAgreeWithRows(delivered)
      assert.strictEqual(hooks.received.length, 5)
    }))

  it.effect("a destination has a version and an ETag: a stale If-Match or version is a 412, on REST and RPC", () =>
    Effect.gen(function*() {
      const created = yield* createDestination({ url: "http://127.0.0.1:9/hooks" })
      assert.strictEqual(created.version, 1)
      const read = yield* call("GET", destinationPath(created.id))
      assert.strictEqual(read.headers.get("etag"), "\"v1\"")
      const patch = (body: unknown, headers: Record<string, string> = {}) =>
        call("PATCH", destinationPath(created.id), { body, headers })

      const renamed = yield* patch({ name: `Renamed ${unique()}` }, { "if-match": "\"v1\"" })
      assert.strictEqual(renamed.status, 200)
      assert.strictEqual(renamed.headers.get("etag"), "\"v2\"")
      assert.strictEqual((yield* json<Destination>(renamed)).version, 2)

      const stale = (yield* expectProblem(
        yield* patch({ enabled: false }, { "if-match": "\"v1\"" }),
        412,
        "/problems/version-conflict"
      )) as Problem & { readonly expectedVersion?: number; readonly currentVersion?: number }
      assert.strictEqual(stale.expectedVersion, 1)
      assert.strictEqual(stale.currentVersion, 2)
      yield* expectProblem(yield* patch({ enabled: false }, { "if-match": "yesterday's" }), 412, "/problems/version-conflict")
      yield* expectProblem(yield* patch({ enabled: false, version: 1 }), 412, "/problems/version-conflict")
      yield* expectProblem(yield* patch({ enabled: false, version: 1 }, { "if-match": "\"v2\"" }), 412, "/problems/version-conflict")
      const unchanged = yield* readDestination(created.id)
      assert.isTrue(unchanged.enabled, "nothing written by a refused change")
      assert.strictEqual(unchanged.version, 2)

      // A rotation is a change of the destination too.
      assert.strictEqual((yield* call("POST", `${destinationPath(created.id)}/rotate-secret`)).status, 200)
      assert.strictEqual((yield* readDestination(created.id)).version, 3)

      const conflict = yield* withRpcClient(
        (client) => client.UpdateDestination({ id: created.id, update: { enabled: false }, expectedVersion: 2 }),
        "admin"
      ).pipe(Effect.flip)
      assert.instanceOf(conflict, DestinationVersionConflict)
      const viaRpc = yield* withRpcClient(
        (client) => client.UpdateDestination({ id: created.id, update: { enabled: false }, expectedVersion: 3 }),
        "admin"
      )
      assert.strictEqual(viaRpc.version, 4)
      assert.isFalse(viaRpc.enabled)

      yield* expectProblem(
        yield* call("DELETE", destinationPath(created.id), { headers: { "if-match": "\"v3\"" } }),
        412,
        "/problems/version-conflict"
      )
      const deleted = yield* call("DELETE", destinationPath(created.id), { headers: { "if-match": "\"v4\"" } })
      assert.strictEqual(deleted.status, 204)
    }))
})
