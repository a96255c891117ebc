/**
 * An asynchronous export whose worker died part-way resumes from its last stored chunk once the lease ends: the
 * chunks stored before the crash are kept as they were (none written twice), and the downloaded document is the
 * synchronous export's. Should the page the last chunk ends in have changed meanwhile, the document starts afresh.
 */
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import type { DataExportJob } from "../../src/domain/DataExportJob.ts"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { assertSameExport, decodeExport } from "../support/DataExports.ts"
import { processToken, queryDatabase, runningService } from "../support/ServiceProcess.ts"

const events = 12_000
/** The chunk the first worker blocks on, so that it dies with exactly this many stored. */
const storedBeforeCrash = 2

interface Process {
  readonly baseUrl: string
}

const fetchAs = (service: Process, token: string, path: string, init: RequestInit = {}) =>
  fetch(`${service.baseUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers }
  })

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Polls `check` every 100 ms until it answers something other than undefined (at most 60 s). */
const until = async <A>(what: string, check: () => Promise<A | undefined>): Promise<A> => {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const answer = await check()
    if (answer !== undefined) return answer
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** `count` page views of the customer one minute apart, newest first from a minute ago, shifted by `offsetSeconds`. */
const track = async (service: Process, token: string, customerId: string, count: number, every: number, offsetSeconds: number) => {
  const from = Date.now() - 60_000
  for (let batch = 0; batch < count / 1_000; batch++) {
    const tracked = Array.from({ length: Math.min(1_000, count - batch * 1_000) }, (_, index) => {
      const n = (batch * 1_000 + index) * every
      return {
        customerId,
        type: "page_view",
        occurredAt: new Date(from - n * 60_000 + offsetSeconds * 1_000).toISOString(),
        properties: { path: `/resumed/page/${n}/${offsetSeconds}` }
      }
    })
    const response = await fetchAs(service, token, "/api/v1/events/batch", { method: "POST", body: JSON.stringify({ events: tracked }) })
    assert.strictEqual(response.status, 200)
  }
}

/** Both exports must see the same analytics: the fold runs after the commit. */
const folded = (service: Process, token: string, customerId: string, total: number) =>
  until("the events to be folded", async () => {
    const analytics = await fetchAs(service, token, `${customersPath}/${customerId}/analytics`)
    const { events: counts } = (await analytics.json()) as { readonly events: { readonly total: number } }
    return counts.total === total ? true : undefined
  })

/**
 * A customer with `events` events and their export job, whose worker (its own process) was killed while held at
 * chunk `storedBeforeCrash`, its lease not yet over: the database, the customer, the job and its stored chunks.
 */
const crashedExport = Effect.gen(function*() {
  const first = yield* runningService({ ACCESS_LOG: "false" })
  const token = yield* processToken("admin")
  const customerId = yield* Effect.promise(async () => {
    const created = await fetchAs(first, token, customersPath, { method: "POST", body: JSON.stringify(newCustomer()) })
    const { id } = (await created.json()) as { readonly id: string }
    await track(first, token, id, events, 1, 0)
    await folded(first, token, id, events)
    return id
  })
  const jobId = crypto.randomUUID()
  const stored = yield* queryDatabase(first.databaseUrl, async (sql) => {
    // The chunk's insert waits for a lock the test holds, so the worker dies with exactly the chunks before it.
    await sql`CREATE FUNCTION test_hold_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END $$`
    await sql`CREATE TRIGGER test_hold_chunk BEFORE INSERT ON data_export_chunks
      FOR EACH ROW WHEN (NEW.seq = ${sql.unsafe(String(storedBeforeCrash))}) EXECUTE FUNCTION test_hold_chunk()`
    const holder = await sql.reserve()
    try {
      await holder`SELECT pg_advisory_lock(4242)`
      await sql`INSERT INTO data_export_jobs (id, customer_id, actor_subject, actor_role, actor_kind, status, requested_at,
          next_attempt_at)
        VALUES (${jobId}, ${customerId}, 'test-admin', 'admin', 'user', 'queued', now(), now())`
      await until("the first chunks and the worker held at the next", async () => {
        const [{ chunks, waiting }] = await sql<Array<{ readonly chunks: number; readonly waiting: number }>>`SELECT
            (SELECT count(*)::int FROM data_export_chunks WHERE job_id = ${jobId}) AS chunks,
            (SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory') AS waiting`
        return chunks === storedBeforeCrash && waiting === 1 ? true : undefined
      })
      await Effect.runPromise(first.kill)
      // The server notices the dead client's sessions (the held one would otherwise insert its chunk at the end).
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name LIKE 'customer-service%'`
    } finally {
      await holder`SELECT pg_advisory_unlock(4242)`
      holder.release()
      await sql`DROP TRIGGER test_hold_chunk ON data_export_chunks`
      await sql`DROP FUNCTION test_hold_chunk()`
    }
    const [job] = await sql<Array<{ readonly status: string; readonly attempts: number }>>`SELECT status, attempts
      FROM data_export_jobs WHERE id = ${jobId}`
    assert.deepStrictEqual(job, { status: "running", attempts: 1 })
    return sql<Array<{ readonly seq: number; readonly sealed: Uint8Array }>>`SELECT seq, sealed FROM data_export_chunks
      WHERE job_id = ${jobId} ORDER BY seq`
  })
  assert.deepStrictEqual(stored.map((chunk) => chunk.seq), [0, 1])
  return { databaseUrl: first.databaseUrl, token, customerId, jobId, stored }
})

/** The lease ends (10 minutes, cut short here), so `service` claims the job again. */
const leaseEnds = (databaseUrl: string, jobId: string) =>
  queryDatabase(databaseUrl, (sql) => sql`UPDATE data_export_jobs SET next_attempt_at = now() WHERE id = ${jobId}`)

/** The job once `service` finished it: its document, `service`'s synchronous export, and the chunks stored. */
const finished = (service: Process & { readonly databaseUrl: string }, token: string, customerId: string, jobId: string) =>
  Effect.gen(function*() {
    const { fromJob, synchronous } = yield* Effect.promise(async () => {
      const job = await until("the export to be done", async () => {
        const status = (await (await fetchAs(service, token, `/api/v1/data-exports/${jobId}`)).json()) as DataExportJob
        return status.status === "done" ? status : undefined
      })
      const download = await fetchAs(service, token, job.download!)
      assert.strictEqual(download.status, 200)
      const body = await download.text()
      assert.strictEqual(Buffer.byteLength(body), job.size)
      const synchronous = await (await fetchAs(service, token, `${customersPath}/${customerId}/data`)).text()
      return { fromJob: decodeExport(JSON.parse(body)), synchronous: decodeExport(JSON.parse(synchronous)) }
    })
    const chunks = yield* queryDatabase(service.databaseUrl, (sql) =>
      sql<Array<{ readonly seq: number; readonly sealed: Uint8Array; readonly attempts: number; readonly chunks: number }>>`SELECT
          c.seq, c.sealed, j.attempts, j.chunks
        FROM data_export_chunks c JOIN data_export_jobs j ON j.id = c.job_id WHERE c.job_id = ${jobId} ORDER BY c.seq`)
    assert.deepStrictEqual(chunks.map((chunk) => chunk.seq), Array.from({ length: chunks.length }, (_, seq) => seq))
    assert.strictEqual(chunks[0].chunks, chunks.length)
    assert.strictEqual(chunks[0].attempts, 2)
    return { fromJob, synchronous, chunks }
  })

/** Sealed with a fresh nonce each time: a chunk written again would differ. */
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

it.live("a job whose worker was killed part-way resumes from its last stored chunk and yields the synchronous export", () =>
  Effect.gen(function*() {
    const { databaseUrl, token, customerId, jobId, stored } = yield* crashedExport
    const second = yield* runningService({ ACCESS_LOG: "false" }, databaseUrl)
    yield* leaseEnds(databaseUrl, jobId)
    const { fromJob, synchronous, chunks } = yield* finished(second, token, customerId, jobId)
    assert.isAbove(chunks.length, storedBeforeCrash)
    for (const before of stored) assert.isTrue(sameBytes(chunks[before.seq].sealed, before.sealed), `chunk ${before.seq} rewritten`)
    assert.lengthOf(fromJob.events, events)
    assertSameExport(fromJob, synchronous)
  }).pipe(Effect.scoped), 180_000)

it.live("when the page the stored chunks end in changed meanwhile, the resumed job starts the document afresh", () =>
  Effect.gen(function*() {
    const { databaseUrl, token, customerId, jobId, stored } = yield* crashedExport
    const second = yield* runningService({ ACCESS_LOG: "false" }, databaseUrl)
    // Late events half a minute after every 100th one: each page of 500 gains some.
    yield* Effect.promise(async () => {
      await track(second, token, customerId, events / 100, 100, 30)
      await folded(second, token, customerId, events + events / 100)
    })
    yield* leaseEnds(databaseUrl, jobId)
    const { fromJob, synchronous, chunks } = yield* finished(second, token, customerId, jobId)
    for (const before of stored) assert.isFalse(sameBytes(chunks[before.seq].sealed, before.sealed))
    assert.lengthOf(fromJob.events, events + events / 100)
    assertSameExport(fromJob, synchronous)
  }).pipe(Effect.scoped), 180_000)
