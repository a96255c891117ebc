import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect } from "effect"
import type { CustomerPage } from "../../src/domain/CustomerQuery.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call } from "../support/Http.ts"
import { json } from "../support/TestService.ts"

/** `count` customers in `country`, every tenth INACTIVE, written straight into the table. */
const seedCustomers = (count: number, country: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql`INSERT INTO customers (id, email, name, consent, location, status)
      SELECT gen_random_uuid(), ${country.toLowerCase()} || '.bulk' || n || '@example.com', 'Bulk ' || n,
        '{"marketing":false,"dataProcessing":true}', jsonb_build_object('country', ${country}::text),
        CASE WHEN n % 10 = 0 THEN 'INACTIVE' ELSE 'ACTIVE' END
      FROM generate_series(1, ${count}) AS n`.pipe(Effect.andThen(sql`ANALYZE customers`), Effect.orDie))

// Each test seeds its own country, so neither depends on the other's rows or order.
layer(testServiceWithDatabase(), { excludeTestServices: true })("listing beyond the exact count", (it) => {
  it.effect("past 10,000 matches the total is the planner's estimate, and says so", () =>
    Effect.gen(function*() {
      yield* seedCustomers(12_000, "DE")
      const page = yield* call("GET", `${customersPath}?country=DE&limit=5`).pipe(Effect.flatMap(json<CustomerPage>))
      assert.strictEqual(page.data.length, 5)
      assert.isTrue(page.totalIsEstimate)
      assert.isAbove(page.total, 10_000)
      assert.isString(page.nextCursor)
    }))

  it.effect("up to 10,000 matches the total is exact", () =>
    Effect.gen(function*() {
      yield* seedCustomers(3_000, "AT")
      const page = yield* call("GET", `${customersPath}?country=AT&status=INACTIVE&limit=5`).pipe(
        Effect.flatMap(json<CustomerPage>)
      )
      assert.isFalse(page.totalIsEstimate)
      assert.strictEqual(page.total, 300)
    }))
})
