/**
 * Asynchronous data exports on the real database: a job reaches `done` and its download is the synchronous
 * export's document; what is stored is sealed, in chunks; the link expires (410) and the worker purges the
 * document; erasure removes it; only the roles that answer data requests may ask; the RPC twin.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { createHmac } from "node:crypto"
import type { DataExportJob } from "../../src/domain/DataExportJob.ts"
import { customersPath, newCustomer, uniqueEmail } from "../support/Customers.ts"
import { assertSameExport, decodeExport } from "../support/DataExports.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem, invalidPaths } from "../support/Http.ts"
import { exitsOf, failureType, message, postRpc } from "../support/Rpc.ts"
import { json, testExportLinkKey } from "../support/TestService.ts"

const exportsPath = "/api/v1/data-exports"

const requestExport = (customerId: string, role: "admin" | "agent" = "admin") =>
  Effect.gen(function*() {
    const response = yield* call("POST", `${customersPath}/${customerId}/data/exports`, { role })
    assert.strictEqual(response.status, 202, yield* Effect.promise(() => response.clone().text()))
    return yield* json<DataExportJob>(response)
  })

const statusOf = (exportId: string) => call("GET", `${exportsPath}/${exportId}`).pipe(Effect.flatMap(json<DataExportJob>))

const done = (exportId: string) => eventually("the export to be done", statusOf(exportId), (job) => job.status === "done", 60_000)

const text = (response: Response) => Effect.promise(() => response.text())

/** Every tracked event in batches of the API's maximum, one minute apart, newest first from `from`. */
const track = (customerId: string, count: number, from: number) =>
  Effect.forEach(Array.from({ length: Math.ceil(count / 1_000) }, (_, batch) => batch), (batch) =>
    Effect.gen(function*() {
      const events = Array.from({ length: Math.min(1_000, count - batch * 1_000) }, (_, index) => ({
        customerId,
        type: "page_view",
        occurredAt: new Date(from - (batch * 1_000 + index) * 60_000).toISOString(),
        properties: { path: `/exported/page/${batch * 1_000 + index}` }
      }))
      const response = yield* call("POST", "/api/v1/events/batch", { body: { events }, role: "service" })
      assert.strictEqual(response.status, 200, yield* text(response))
    }), { discard: true })

/** A job written as a request (or a crashed worker) leaves it, due at `due` (SQL). */
const insertJob = (customerId: string, status: "queued" | "running", due: string) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const id = crypto.randomUUID()
    yield* sql`INSERT INTO data_export_jobs (id, customer_id, actor_subject, actor_role, actor_kind, status, requested_at,
        attempts, next_attempt_at)
      VALUES (${id}, ${customerId}, 'test', 'admin', 'user', ${status}, now(), ${status === "running" ? 1 : 0},
        ${sql.literal(due)})`.pipe(Effect.orDie)
    return id
  })

/** A customer with a finished export job. */
const exported = (events = 0) =>
  Effect.gen(function*() {
    const input = newCustomer({ email: uniqueEmail("export-job"), name: "Jobbed Person" })
    const customer = yield* createCustomer(input)
    if (events > 0) yield* track(customer.id, events, Date.now() - 60_000)
    const queued = yield* requestExport(customer.id)
    return { input, customer, job: yield* done(queued.id) }
  })

layer(testServiceWithDatabase(), { excludeTestServices: true })("asynchronous data export jobs", (it) => {
  it.effect("a requested job is queued, reaches done, and its download is the synchronous export's document", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      yield* track(customer.id, 3_000, Date.now() - 60_000)
      // Analytics come from rollups the fold updates after the commit: both exports must see the same.
      yield* eventually(
        "the events to be folded",
        call("GET", `${customersPath}/${customer.id}/analytics`).pipe(Effect.flatMap(json<{ readonly events: { readonly total: number } }>)),
        (analytics) => analytics.events.total === 3_000
      )
      const queued = yield* requestExport(customer.id, "agent")
      assert.strictEqual(queued.status, "queued")
      assert.isNull(queued.download)
      const job = yield* done(queued.id)
      assert.isNotNull(job.download)
      assert.isNotNull(job.completedAt)
      assert.isAbove(Date.parse(job.expiresAt!), Date.now())

      const download = yield* call("GET", job.download!, { role: "agent" })
      assert.strictEqual(download.status, 200)
      assert.strictEqual(download.headers.get("content-disposition"), `attachment; filename="customer-${customer.id}.json"`)
      const body = yield* text(download)
      assert.strictEqual(Buffer.byteLength(body), job.size)
      const fromJob = decodeExport(JSON.parse(body))
      const synchronous = decodeExport(JSON.parse(yield* text(yield* call("GET", `${customersPath}/${customer.id}/data`, { role: "agent" }))))
      assert.lengthOf(fromJob.events, 3_000)
      assertSameExport(fromJob, synchronous)
      assert.includeMembers(synchronous.audit.map((entry) => entry.action), ["customer.export.request", "customer.export.download"])
    }))

  it.effect("the stored document is in sealed chunks: no address, name or event property in the clear", () =>
    Effect.gen(function*() {
      const { input, job } = yield* exported(6_000)
      const sql = yield* PgClient.PgClient
      const chunks = yield* sql<{ readonly sealed: Uint8Array }>`SELECT sealed FROM data_export_chunks
        WHERE job_id = ${job.id} ORDER BY seq`.pipe(Effect.orDie)
      assert.isAtLeast(chunks.length, 2)
      for (const { sealed } of chunks) {
        const stored = Buffer.from(sealed).toString("latin1")
        // About 1 MiB of JSON each, sealed as a JSON string (its quotes escaped once more).
        assert.isAtMost(sealed.byteLength, 1.5 * 1024 * 1024)
        for (const clear of [input.email, input.name, "/exported/page/", "Jobbed"]) assert.notInclude(stored, clear)
      }
    }))

  it.effect("an expired link answers 410 and the worker deletes the document", () =>
    Effect.gen(function*() {
      const { job } = yield* exported()
      const sql = yield* PgClient.PgClient
      yield* sql`UPDATE data_export_jobs SET expires_at = now() - interval '1 second' WHERE id = ${job.id}`.pipe(Effect.orDie)
      yield* expectProblem(yield* call("GET", job.download!), 410, "/problems/export-link-expired")
      const stored = sql<{ readonly chunks: number; readonly status: string }>`SELECT status,
          (SELECT count(*)::int FROM data_export_chunks WHERE job_id = ${job.id}) AS chunks
        FROM data_export_jobs WHERE id = ${job.id}`.pipe(Effect.orDie)
      yield* eventually("the worker to purge the document", stored, ([row]) => row.status === "expired" && row.chunks === 0, 30_000)
      const expired = yield* statusOf(job.id)
      assert.strictEqual(expired.status, "expired")
      assert.isNull(expired.download)
      yield* expectProblem(yield* call("GET", job.download!), 410, "/problems/export-link-expired")
    }))

  it.effect("erasure removes the job and its stored document", () =>
    Effect.gen(function*() {
      const { customer, job } = yield* exported()
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${customer.id}`)).status, 204)
      const sql = yield* PgClient.PgClient
      const [{ jobs, chunks }] = yield* sql<{ readonly jobs: number; readonly chunks: number }>`SELECT
          (SELECT count(*)::int FROM data_export_jobs WHERE customer_id = ${customer.id}) AS jobs,
          (SELECT count(*)::int FROM data_export_chunks WHERE job_id = ${job.id}) AS chunks`.pipe(Effect.orDie)
      assert.deepStrictEqual({ jobs, chunks }, { jobs: 0, chunks: 0 })
      yield* expectProblem(yield* call("GET", job.download!), 404, "/problems/data-export-not-found")
      yield* expectProblem(yield* call("GET", `${exportsPath}/${job.id}`), 404, "/problems/data-export-not-found")
      yield* expectProblem(yield* call("POST", `${customersPath}/${customer.id}/data/exports`), 404, "/problems/customer-not-found")
    }))

  it.effect("a link with another token, or for another job, is an unknown export", () =>
    Effect.gen(function*() {
      const { job } = yield* exported()
      const token = job.download!.split("/").at(-1)!
      const forged = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`
      yield* expectProblem(yield* call("GET", `${exportsPath}/${job.id}/download/${forged}`), 404, "/problems/data-export-not-found")
      yield* expectProblem(
        yield* call("GET", `${exportsPath}/${crypto.randomUUID()}/download/${token}`),
        404,
        "/problems/data-export-not-found"
      )
    }))

  it.effect("a job left running by a crashed worker is claimed again once its lease ends, and completes", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const id = yield* insertJob(customer.id, "running", "now() - interval '1 second'")
      const job = yield* done(id)
      assert.strictEqual((yield* call("GET", job.download!)).status, 200)
    }))

  it.effect("a job whose customer is gone fails at once, and its link is not ready (409)", () =>
    Effect.gen(function*() {
      const id = yield* insertJob(crypto.randomUUID(), "queued", "now()")
      yield* eventually("the job to fail", statusOf(id), (job) => job.status === "failed", 30_000)
      const sql = yield* PgClient.PgClient
      const [row] = yield* sql<{ readonly attempts: number; readonly last_error: string }>`SELECT attempts, last_error
        FROM data_export_jobs WHERE id = ${id}`.pipe(Effect.orDie)
      assert.deepStrictEqual(row, { attempts: 1, last_error: "CustomerNotFound" })
      const token = createHmac("sha256", testExportLinkKey).update(`data-export\u0000${id}`).digest("base64url")
      const problem = yield* expectProblem(yield* call("GET", `${exportsPath}/${id}/download/${token}`), 409, "/problems/export-not-ready")
      assert.strictEqual((problem as unknown as { readonly jobStatus: string }).jobStatus, "failed")
    }))

  it.effect("analysts and services may not request, read or download exports", () =>
    Effect.gen(function*() {
      const { customer, job } = yield* exported()
      for (const role of ["analyst", "service"] as const) {
        yield* expectProblem(yield* call("POST", `${customersPath}/${customer.id}/data/exports`, { role }), 403, "/problems/forbidden")
        yield* expectProblem(yield* call("GET", `${exportsPath}/${job.id}`, { role }), 403, "/problems/forbidden")
        yield* expectProblem(yield* call("GET", job.download!, { role }), 403, "/problems/forbidden")
      }
      // The link alone is not enough: it needs the caller's credentials too.
      assert.strictEqual((yield* call("GET", job.download!, { auth: false })).status, 401)
    }))

  it.effect("bad input: a malformed id is a 400 naming it; an unknown customer or export a 404", () =>
    Effect.gen(function*() {
      const problem = yield* expectProblem(yield* call("POST", `${customersPath}/not-a-uuid/data/exports`), 400, "/problems/invalid-request")
      assert.include(invalidPaths(problem), "params.id")
      const malformed = yield* expectProblem(yield* call("GET", `${exportsPath}/not-a-uuid`), 400, "/problems/invalid-request")
      assert.include(invalidPaths(malformed), "params.id")
      yield* expectProblem(yield* call("POST", `${customersPath}/${crypto.randomUUID()}/data/exports`), 404, "/problems/customer-not-found")
      yield* expectProblem(yield* call("GET", `${exportsPath}/${crypto.randomUUID()}`), 404, "/problems/data-export-not-found")
    }))

  it.effect("over RPC: RequestDataExport and GetDataExport, refused to analysts", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const [requested] = yield* exitsOf(yield* postRpc(message({ tag: "RequestDataExport", payload: { id: customer.id } }), { as: "agent" }))
      assert.strictEqual(requested.exit._tag, "Success")
      const job = requested.exit.value as DataExportJob
      assert.strictEqual(job.customerId, customer.id)
      yield* done(job.id)
      const [status] = yield* exitsOf(yield* postRpc(message({ tag: "GetDataExport", payload: { exportId: job.id } })))
      assert.strictEqual((status.exit.value as DataExportJob).status, "done")
      const [refused] = yield* exitsOf(yield* postRpc(message({ tag: "RequestDataExport", payload: { id: customer.id } }), { as: "analyst" }))
      assert.strictEqual(failureType(refused), "/problems/forbidden")
    }))
})
