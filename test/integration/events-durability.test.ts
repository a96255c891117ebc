/**
 * Tracking is durable first: an acknowledged event is committed (a kill -9 of
 * the process under load loses none of them), and when more is waiting than
 * the service will hold it says so (503, Retry-After) instead of queueing
 * without bound, and stores nothing of the refused request.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import type { BatchResult } from "../../src/domain/Event.ts"
import { newCustomer } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { createCustomer, expectProblem } from "../support/Http.ts"
import { acknowledgedBeforeKill, processToken, queryDatabase, runningService } from "../support/ServiceProcess.ts"
import { TestService } from "../support/TestService.ts"

const batchOf = (customerIds: ReadonlyArray<string>, size: number) =>
  Array.from({ length: size }, (_, n) => ({
    customerId: customerIds[n % customerIds.length],
    id: randomUUID(),
    type: "page_view",
    occurredAt: new Date().toISOString()
  }))

it.live("a kill -9 in the middle of a load loses no acknowledged event", () =>
  Effect.gen(function*() {
    const service = yield* runningService({ ACCESS_LOG: "false" })
    const token = yield* processToken("service")
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" }
    const customerIds = yield* Effect.promise(() =>
      Promise.all(Array.from({ length: 20 }, async () => {
        const response = await fetch(`${service.baseUrl}/api/v1/customers`, {
          method: "POST",
          headers,
          body: JSON.stringify(newCustomer())
        })
        return ((await response.json()) as { readonly id: string }).id
      }))
    )
    // Clients sending batches back to back until the process dies under them.
    const acked = yield* acknowledgedBeforeKill(service, 2_000, async () => {
      const response = await fetch(`${service.baseUrl}/api/v1/events/batch`, {
        method: "POST",
        headers,
        body: JSON.stringify({ events: batchOf(customerIds, 100) })
      })
      if (response.status !== 200) return []
      const { results } = (await response.json()) as BatchResult
      return results.flatMap((result) => result.status === "rejected" ? [] : [result.id])
    })
    assert.isAbove(acked.length, 1_000, "the load got going before the kill")
    const lost = yield* queryDatabase(service.databaseUrl, async (sql) => {
      const rows = await sql<Array<{ readonly id: string }>>`
        SELECT a.id FROM unnest(${acked}::uuid[]) AS a(id)
        WHERE NOT EXISTS (SELECT 1 FROM customer_events e WHERE e.id = a.id)`
      return rows.map((row) => row.id)
    })
    assert.deepStrictEqual(lost, [], `${lost.length} of ${acked.length} acknowledged events are not stored`)
  }).pipe(Effect.scoped), 90_000)

// One flusher that waits 300 ms after the first request: the queue fills while it waits.
layer(
  testServiceWithDatabase({
    env: { EVENTS_MAX_QUEUED: "100", EVENTS_FLUSHERS: "1", EVENTS_GATHER_WINDOW: "300 millis" }
  }),
  { excludeTestServices: true }
)("backpressure", (it) => {
  it.effect("beyond the queue's bound a request is refused with 503 and Retry-After, and none of it is stored", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const { request } = yield* TestService
      const batches = Array.from({ length: 8 }, () => batchOf([customer.id], 40))
      const responses = yield* Effect.forEach(
        batches,
        (events) =>
          request("/api/v1/events/batch", { method: "POST", body: JSON.stringify({ events }), role: "service" }),
        { concurrency: "unbounded" }
      )
      const accepted = responses.flatMap((response, n) => response.status === 200 ? [batches[n]] : [])
      const refused = responses.flatMap((response, n) => response.status === 200 ? [] : [{ response, events: batches[n] }])
      // 100 events fit: two batches of 40, never a third.
      assert.strictEqual(accepted.length, 2)
      for (const { response } of refused) {
        assert.strictEqual(response.headers.get("retry-after"), "1")
        yield* expectProblem(response, 503, "/problems/overloaded")
      }
      const sql = yield* PgClient.PgClient
      const stored = new Set(
        (yield* sql<{ readonly id: string }>`SELECT id::text FROM customer_events WHERE customer_id = ${customer.id}`
          .pipe(Effect.orDie)).map((row) => row.id)
      )
      assert.strictEqual(stored.size, 80)
      for (const { events } of refused) for (const event of events) assert.isFalse(stored.has(event.id))
    }))
})
