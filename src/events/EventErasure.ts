/**
 * Erasing a customer's behaviour: their tracked events and every per-customer
 * rollup of them, in the erasing transaction. Fleet totals (counts per day,
 * cohort retention) name no one and stay.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Context, Effect, Layer } from "effect"
import type { CustomerId } from "../domain/Customer.ts"

/** Every table holding rows about one customer's events, keyed by customer_id. */
export const perCustomerEventTables = [
  "customer_events",
  "customer_activity",
  "customer_daily_activity",
  "customer_type_activity",
  "customer_revenue",
  "customer_sessions",
  "customer_hourly_activity",
  "customer_channel_activity",
  "customer_active_periods",
  "customer_last_activity_pending"
] as const

/** The rollups: the profile of a customer's behaviour, without the events themselves. */
const rollupTables = perCustomerEventTables.filter((table) =>
  table !== "customer_events" && table !== "customer_last_activity_pending"
)

export class EventErasure extends Context.Service<EventErasure, {
  /** Deletes the customer's events and rollups; runs in the caller's transaction. */
  eraseCustomer(customerId: CustomerId): Effect.Effect<void>
  /** Deletes the customer's rollups, keeping their events (consent to analytics withdrawn); in the caller's transaction. */
  deleteRollups(customerId: CustomerId): Effect.Effect<void>
}>()("cms/events/EventErasure") {
  static readonly layer = Layer.effect(
    EventErasure,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const deleteRows = (customerId: CustomerId, tables: ReadonlyArray<string>) => Effect.gen(function*() {
        // A fold in flight may have inserted the customer's first rollup rows, which a DELETE cannot see
        // until it commits: taking this key first waits for such a fold (then the DELETEs see its rows),
        // or makes a later fold wait and then find the customer erased or not to be profiled (RollupFolder.ts).
        const now = new Date(yield* Clock.currentTimeMillis)
        yield* sql`INSERT INTO customer_activity AS a (customer_id, first_seen_at, last_seen_at, events, folded_at)
          VALUES (${customerId}, ${now}, ${now}, 0, ${now})
          ON CONFLICT (customer_id) DO UPDATE SET events = a.events`.pipe(Effect.orDie)
        for (const table of tables) {
          yield* sql`DELETE FROM ${sql(table)} WHERE customer_id = ${customerId}`.pipe(Effect.orDie)
        }
      })
      return EventErasure.of({
        eraseCustomer: Effect.fn("EventErasure.eraseCustomer")((customerId: CustomerId) =>
          deleteRows(customerId, perCustomerEventTables)
        ),
        deleteRollups: Effect.fn("EventErasure.deleteRollups")((customerId: CustomerId) =>
          deleteRows(customerId, rollupTables)
        )
      })
    })
  )
}
