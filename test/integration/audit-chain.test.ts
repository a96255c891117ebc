/**
 * The tamper-evident audit trail on the real database: entries are signed when written and sealed into a keyed
 * chain within seconds; verification names the first position where an entry was edited or removed, or the
 * chain was cut short; a row written without the key is never sealed; only admins read the trail. Tests that
 * tamper put the row back, so each starts from an intact chain.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { AuditVerification, CustomerAuditPage } from "../../src/domain/Audit.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { json, testAuditKey, TestService } from "../support/TestService.ts"
import { execFile } from "node:child_process"

/** `npm run audit:verify` against the test's database: its exit code and what it printed. */
const verifyCommand = Effect.flatMap(TestService, ({ databaseUrl }) =>
  Effect.callback<{ readonly code: number; readonly printed: string }>((resume) => {
    execFile(process.execPath, [new URL("../../scripts/audit-verify.ts", import.meta.url).pathname], {
      env: { ...process.env, DATABASE_URL: databaseUrl, AUDIT_KEY: testAuditKey }
    }, (error, stdout) => resume(Effect.succeed({ code: error === null ? 0 : Number(error.code), printed: stdout })))
  }))

const verification = Effect.flatMap(call("GET", "/api/v1/audit/verification"), (response) => {
  assert.strictEqual(response.status, 200)
  return json<AuditVerification>(response)
})

/** Every committed entry sealed, and the chain intact. */
const allSealed = eventually("every entry to be sealed", verification, (result) => result.unsealedEntries === 0)

/** A customer created and updated: two entries about them, sealed. Answers their chain positions, oldest first. */
const auditedCustomer = Effect.gen(function*() {
  const customer = yield* createCustomer()
  const patched = yield* call("PATCH", `${customersPath}/${customer.id}`, { body: { name: "Audited Again" }, headers: { "if-match": `"v1"` } })
  assert.strictEqual(patched.status, 200)
  yield* allSealed
  const sql = yield* PgClient.PgClient
  const rows = yield* sql<{ readonly id: string; readonly seq: string }>`SELECT id::text, chain_seq::text AS seq
    FROM audit_log WHERE customer_id = ${customer.id} ORDER BY chain_seq`
  return { customer, entries: rows }
})

/**
 * Runs `tamper` on a fully sealed chain, then puts the trail and the chain's head back as they were, whatever
 * happened in between; under the sealer's own lock, so no round runs halfway through.
 */
const tampering = <A, E, R>(tamper: Effect.Effect<A, E, R>) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    Effect.acquireUseRelease(
      Effect.andThen(allSealed, Effect.andThen(
        sql`CREATE TABLE audit_log_before AS SELECT * FROM audit_log`,
        sql`CREATE TABLE audit_chain_before AS SELECT * FROM audit_chain`
      )),
      () => tamper,
      () =>
        Effect.all([
          sql`SELECT pg_advisory_xact_lock(hashtext('cms/privacy/audit-seal'))`,
          sql`DELETE FROM audit_log`,
          sql`INSERT INTO audit_log SELECT * FROM audit_log_before`,
          sql`DELETE FROM audit_chain`,
          sql`INSERT INTO audit_chain SELECT * FROM audit_chain_before`,
          sql`DROP TABLE audit_log_before, audit_chain_before`
        ], { discard: true }).pipe(sql.withTransaction, Effect.orDie)
    ))

layer(testServiceWithDatabase({ env: { AUDIT_SEAL_INTERVAL: "100 millis" } }), { excludeTestServices: true })(
  "audit chain",
  (it) => {
    it.effect("a change's entries are sealed within seconds and the whole chain verifies", () =>
      Effect.gen(function*() {
        const { entries } = yield* auditedCustomer
        assert.lengthOf(entries, 2)
        const result = yield* verification
        assert.isTrue(result.intact)
        assert.isNull(result.firstBreak)
        assert.isAtLeast(result.sealedEntries, 2)
        assert.strictEqual(result.refusedEntries, 0)
      }))

    it.effect("a customer's trail lists what was done to them, newest first, with field names only, paged", () =>
      Effect.gen(function*() {
        const { customer } = yield* auditedCustomer
        const first = yield* call("GET", `${customersPath}/${customer.id}/audit?limit=1`).pipe(Effect.flatMap(json<CustomerAuditPage>))
        assert.deepStrictEqual(first.data.map((entry) => [entry.action, entry.fields, entry.sealed, entry.actorRole]), [
          ["customer.update", ["name"], true, "admin"]
        ])
        assert.isNotNull(first.nextCursor)
        const second = yield* call("GET", `${customersPath}/${customer.id}/audit?limit=1&cursor=${first.nextCursor}`).pipe(
          Effect.flatMap(json<CustomerAuditPage>)
        )
        assert.deepStrictEqual(second.data.map((entry) => entry.action), ["customer.create"])
        assert.isNull(second.nextCursor)
        assert.notInclude(JSON.stringify([first, second]), customer.email)
      }))

    it.effect("an entry edited after sealing fails verification at its position", () =>
      Effect.gen(function*() {
        const { entries } = yield* auditedCustomer
        const sql = yield* PgClient.PgClient
        const result = yield* tampering(Effect.andThen(
          sql`UPDATE audit_log SET fields = '{}' WHERE id = ${entries[0].id}::bigint`,
          verification
        ))
        assert.isFalse(result.intact)
        assert.deepStrictEqual(result.firstBreak, { seq: entries[0].seq, kind: "entry-altered" })
        assert.isTrue((yield* verification).intact)
      }))

    it.effect("an entry removed from the middle of the chain fails verification at its position", () =>
      Effect.gen(function*() {
        const { entries } = yield* auditedCustomer
        const sql = yield* PgClient.PgClient
        yield* auditedCustomer
        const result = yield* tampering(Effect.andThen(
          sql`DELETE FROM audit_log WHERE id = ${entries[1].id}::bigint`,
          verification
        ))
        assert.deepStrictEqual(result.firstBreak, { seq: entries[1].seq, kind: "entry-missing" })
      }))

    it.effect("a chain cut short at its end fails verification against the sealed head", () =>
      Effect.gen(function*() {
        yield* auditedCustomer
        const sql = yield* PgClient.PgClient
        const [{ last }] = yield* sql<{ readonly last: string }>`SELECT max(chain_seq)::text AS last FROM audit_log`
        const result = yield* tampering(Effect.andThen(
          sql`DELETE FROM audit_log WHERE chain_seq = ${last}::bigint`,
          verification
        ))
        assert.deepStrictEqual(result.firstBreak, { seq: last, kind: "head-mismatch" })
      }))

    it.effect("a chain cut short with its head row rewound to match fails against the head published to JetStream", () =>
      Effect.gen(function*() {
        yield* auditedCustomer
        const anchored = yield* eventually(
          "the head to be published",
          verification,
          (check) => check.anchor !== null && check.anchor.seq === String(check.sealedEntries) && check.anchor.matches
        )
        const last = anchored.anchor!.seq
        const sql = yield* PgClient.PgClient
        const result = yield* tampering(Effect.gen(function*() {
          yield* sql`DELETE FROM audit_log WHERE chain_seq = ${last}::bigint`
          yield* sql`UPDATE audit_chain SET head_seq = head_seq - 1,
            head_hash = (SELECT chain_hash FROM audit_log WHERE chain_seq = ${last}::bigint - 1)`
          return yield* verification
        }))
        assert.deepStrictEqual(result.firstBreak, { seq: last, kind: "head-mismatch" })
        assert.deepStrictEqual(result.anchor, { seq: last, matches: false })
      }))

    it.effect("a row written without the key is never sealed and is reported as refused", () =>
      Effect.gen(function*() {
        const customer = yield* createCustomer()
        const sql = yield* PgClient.PgClient
        const result = yield* tampering(Effect.gen(function*() {
          yield* sql`INSERT INTO audit_log (actor, actor_role, action, customer_id, fields, entry_mac)
            VALUES ('user:intruder', 'admin', 'customer.update', ${customer.id}, '{name}', sha256('forged'::bytea))`
          return yield* eventually("the forged row to be refused", verification, (check) => check.refusedEntries === 1)
        }))
        assert.isTrue(result.intact)
        assert.strictEqual(result.unsealedEntries, 0)
      }))

    it.effect("entries written before the chain existed are signed when first sealed; an unsigned later one is refused", () =>
      Effect.gen(function*() {
        const customer = yield* createCustomer()
        const sql = yield* PgClient.PgClient
        const result = yield* tampering(Effect.gen(function*() {
          const [{ id }] = yield* sql<{ readonly id: string }>`INSERT INTO audit_log (actor, actor_role, action, customer_id, fields)
            VALUES ('user:before-the-chain', 'admin', 'customer.update', ${customer.id}, '{tags}') RETURNING id::text`
          yield* sql`UPDATE audit_chain SET unsigned_through = ${id}::bigint`
          yield* sql`INSERT INTO audit_log (actor, actor_role, action, customer_id, fields)
            VALUES ('user:unsigned', 'admin', 'customer.update', ${customer.id}, '{tags}')`
          return yield* eventually("both rows to be handled", verification, (check) => check.unsealedEntries === 0)
        }))
        assert.isTrue(result.intact)
        assert.strictEqual(result.refusedEntries, 1)
      }))

    it.effect("the command-line verification exits 0 on an intact chain and 1 on an edited one", () =>
      Effect.gen(function*() {
        const { entries } = yield* auditedCustomer
        const intact = yield* verifyCommand
        assert.strictEqual(intact.code, 0, intact.printed)
        assert.isTrue((JSON.parse(intact.printed) as AuditVerification).intact)
        const sql = yield* PgClient.PgClient
        const edited = yield* tampering(Effect.andThen(
          sql`UPDATE audit_log SET action = 'customer.create' WHERE id = ${entries[1].id}::bigint`,
          verifyCommand
        ))
        assert.strictEqual(edited.code, 1, edited.printed)
        assert.deepStrictEqual((JSON.parse(edited.printed) as AuditVerification).firstBreak, { seq: entries[1].seq, kind: "entry-altered" })
      }))

    it.effect("only admins read the trail or verify it", () =>
      Effect.gen(function*() {
        const customer = yield* createCustomer()
        for (const role of ["agent", "analyst", "service"] as const) {
          yield* expectProblem(yield* call("GET", `${customersPath}/${customer.id}/audit`, { role }), 403, "/problems/forbidden")
          yield* expectProblem(yield* call("GET", "/api/v1/audit/verification", { role }), 403, "/problems/forbidden")
        }
      }))
  }
)
