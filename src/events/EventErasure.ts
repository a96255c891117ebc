/**
 * Erasing a customer's behaviour: their tracked events and every per-customer
 * rollup of them, in the erasing transaction. Fleet totals (counts per day,
 * cohort retention) name no one and stay.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer } from "effect"
import type { CustomerId } from "../domain/Customer.ts"

/** Every table holding rows about one customer's events, keyed by customer_id. */
export const perCustomerEventTables = [
  "customer_events",
  "customer_activity",
  "customer_daily_activity",
  "customer_revenue",
  "customer_sessions",
  "customer_hourly_activity",
  "customer_channel_activity",
  "customer_active_periods"
] as const

export class EventErasure extends Context.Service<EventErasure, {
  /** Deletes the customer's events and rollups; runs in the caller's transaction. */
  eraseCustomer(customerId: CustomerId): Effect.Effect<void>
}>()("cms/events/EventErasure") {
  static readonly layer = Layer.effect(
    EventErasure,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      return EventErasure.of({
        eraseCustomer: Effect.fn("EventErasure.eraseCustomer")(function*(customerId: CustomerId) {
          for (const table of perCustomerEventTables) {
            yield* sql`DELETE FROM ${sql(table)} WHERE customer_id = ${customerId}`.pipe(Effect.orDie)
          }
        })
      })
    })
  )
}
