/**
 * Reads of personal data are audited before they are answered: an answered read's entry is committed (a kill -9
 * of the process under load loses none), a read whose entry cannot be written fails with 500 and serves nothing,
 * and entries of many concurrent reads, committed in groups, are each sealed once into an intact chain.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, it, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import type { AuditVerification } from "../../src/domain/Audit.ts"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { acknowledgedBeforeKill, processToken, queryDatabase, runningService } from "../support/ServiceProcess.ts"
import { json } from "../support/TestService.ts"

it.live("a kill -9 in the middle of reads loses the audit entry of no answered read", () =>
  Effect.gen(function*() {
    const service = yield* runningService({ ACCESS_LOG: "false" })
    const headers = { authorization: `Bearer ${yield* processToken("admin")}`, "content-type": "application/json" }
    const customerIds = yield* Effect.forEach(Array.from({ length: 20 }), () =>
      Effect.promise(async () => {
        const response = await fetch(`${service.baseUrl}${customersPath}`, {
          method: "POST",
          headers,
          body: JSON.stringify(newCustomer())
        })
        return ((await response.json()) as { readonly id: string }).id
      }), { concurrency: "unbounded" })
    let sent = 0
    // Clients reading back to back, each read under its own request id, until the process dies under them.
    const answered = yield* acknowledgedBeforeKill(service, 2_000, async () => {
      const requestId = `crash-read-${sent++}`
      const response = await fetch(`${service.baseUrl}${customersPath}/${customerIds[sent % customerIds.length]}`, {
        headers: { ...headers, "x-request-id": requestId }
      })
      const body = (await response.json()) as { readonly email?: string }
      return response.status === 200 && body.email !== undefined ? [requestId] : []
    })
    assert.isAbove(answered.length, 50, "the reads got going before the kill")
    const missing = yield* queryDatabase(service.databaseUrl, async (sql) => {
      const rows = await sql<Array<{ readonly id: string }>>`
        SELECT a.id FROM unnest(${answered}::text[]) AS a(id)
        WHERE NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.request_id = a.id AND l.action = 'customer.read')`
      return rows.map((row) => row.id)
    })
    assert.deepStrictEqual(missing, [], `${missing.length} of ${answered.length} answered reads have no audit entry`)
  }).pipe(Effect.scoped), 90_000)

const verification = Effect.flatMap(call("GET", "/api/v1/audit/verification"), (response) => {
  assert.strictEqual(response.status, 200)
  return json<AuditVerification>(response)
})

layer(testServiceWithDatabase({ env: { AUDIT_SEAL_INTERVAL: "100 millis" } }), { excludeTestServices: true })(
  "read audit",
  (it) => {
    it.effect("a read whose audit entry cannot be written fails with 500 and serves no personal field", () =>
      Effect.gen(function*() {
        const customer = yield* createCustomer()
        const sql = yield* PgClient.PgClient
        // A constraint the service does not know about refuses every read entry.
        yield* sql`ALTER TABLE audit_log ADD CONSTRAINT no_reads CHECK (action <> 'customer.read') NOT VALID`
        const failed = yield* Effect.ensuring(
          Effect.all([
            call("GET", `${customersPath}/${customer.id}`, { role: "agent" }),
            call("GET", `${customersPath}?limit=10`, { role: "admin" })
          ]),
          sql`ALTER TABLE audit_log DROP CONSTRAINT no_reads`.pipe(Effect.orDie)
        )
        for (const response of failed) {
          const body = yield* Effect.promise(() => response.text())
          for (const personal of [customer.email, customer.name]) assert.notInclude(body, personal)
          yield* expectProblem(new Response(body, response), 500, "/problems/internal")
        }
        // An analyst's read serves no personal field, so it is not audited and still answered.
        assert.strictEqual((yield* call("GET", `${customersPath}/${customer.id}`, { role: "analyst" })).status, 200)
        assert.strictEqual((yield* call("GET", `${customersPath}/${customer.id}`, { role: "agent" })).status, 200)
      }))

    it.effect("entries of many concurrent reads are committed in groups and each sealed once into a chain intact at every moment", () =>
      Effect.gen(function*() {
        const customers = yield* Effect.forEach(Array.from({ length: 10 }), () => createCustomer())
        const reads = Array.from({ length: 300 }, (_, n) => ({ id: customers[n % customers.length].id, requestId: `group-read-${n}` }))
        // Verified over and over while the entries are written and sealed: intact at every moment.
        const checks: Array<AuditVerification> = []
        const verifying = yield* Effect.forkChild(Effect.forever(Effect.tap(verification, (check) => Effect.sync(() => checks.push(check)))))
        const answers = yield* Effect.forEach(
          reads,
          ({ id, requestId }) => call("GET", `${customersPath}/${id}`, { headers: { "x-request-id": requestId } }),
          { concurrency: 50 }
        )
        assert.deepStrictEqual(answers.map((response) => response.status), reads.map(() => 200))
        const sql = yield* PgClient.PgClient
        const committed = sql<{ readonly requestId: string; readonly sealed: boolean }>`SELECT request_id AS "requestId",
            chain_seq IS NOT NULL AS sealed
          FROM audit_log WHERE action = 'customer.read' AND request_id LIKE 'group-read-%'`.pipe(Effect.orDie)
        // Committed before the answers: every entry is there at once, one per read.
        const rows = yield* committed
        assert.sameMembers(rows.map((row) => row.requestId), reads.map((read) => read.requestId))
        const result = yield* eventually("every entry to be sealed", verification, (check) => check.unsealedEntries === 0)
        yield* Fiber.interrupt(verifying)
        assert.isAbove(checks.length, 0)
        for (const check of [...checks, result]) assert.isTrue(check.intact, JSON.stringify(check))
        assert.strictEqual(result.refusedEntries, 0)
        assert.isTrue((yield* committed).every((row) => row.sealed))
        const [{ positions, entries }] = yield* sql<{ readonly positions: number; readonly entries: number }>`SELECT
            count(DISTINCT chain_seq)::int AS positions, count(*)::int AS entries FROM audit_log`.pipe(Effect.orDie)
        assert.strictEqual(positions, entries)
        assert.strictEqual(result.sealedEntries, entries)
      }))
  }
)
