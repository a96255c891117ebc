/**
 * The raw baseline: plain node:http and the `postgres` driver running the
 * same SQL as the service (src/customers/CustomerRepo.ts, CustomerEntity.ts,
 * platform/Outbox.ts, privacy/AuditLog.ts) for get-by-id, list, create and
 * update, tracking one event or a batch, plus GET /hello. No framework, no schema decoding, no auth: what is
 * left is the floor the service's overhead is measured against.
 *
 * Differences, on purpose:
 * - outbox and audit rows go to baseline_outbox / baseline_audit_log (copies of
 *   the real tables, same indexes), so the service's outbox relay does not
 *   publish the baseline's events to NATS on the service's CPU mid-measurement;
 * - an update that loses a race (its version-guarded statement matches no row)
 *   is retried, standing in for the entity's per-customer serialisation.
 *
 * Run: DATABASE_URL=... PORT=... DB_POOL_MAX=20 node load/baseline.ts
 */
import { randomUUID } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import postgres from "postgres"
import { type CustomerRow, customerColumns, sortColumns, toCustomer } from "../src/customers/CustomerRow.ts"
import { uuidv7 } from "../src/platform/Ids.ts"

const port = Number(process.env.PORT ?? 8090)
const poolMax = Number(process.env.DB_POOL_MAX ?? 20)
const sql = postgres(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/cms_bench", {
  max: poolMax,
  onnotice: () => {},
  connection: { application_name: "baseline" }
})

const columns = sql.unsafe(customerColumns)

const exactCountLimit = 10_000
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i


const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers
  })
  res.end(text)
}

/** The body as the client sent it: the baseline trusts it, as the plainest server would. */
interface Body {
  readonly email: string
  readonly name: string
  readonly age?: number | null
  readonly gender?: string | null
  readonly location?: postgres.JSONValue
  readonly preferences?: postgres.JSONValue
  readonly tags?: Array<string>
  readonly metadata?: postgres.JSONValue
  readonly consent: { readonly marketing: boolean; readonly dataProcessing: boolean }
  readonly status?: string
  readonly [field: string]: unknown
}

const readJson = (req: IncomingMessage) =>
  new Promise<Body>((resolve, reject) => {
    const parts: Array<Buffer> = []
    req.on("data", (part: Buffer) => parts.push(part))
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString("utf8")))
      } catch (error) {
        reject(error)
      }
    })
    req.on("error", reject)
  })

const getById = async (res: ServerResponse, id: string) => {
  const [row] = await sql<Array<CustomerRow>>`SELECT ${columns} FROM customers WHERE id = ${id} AND status <> 'DELETED'`
  if (row === undefined) return send(res, 404, { title: "Customer not found" })
  const customer = toCustomer(row)
  send(res, 200, customer, { etag: `"v${customer.version}"` })
}

const list = async (res: ServerResponse, params: URLSearchParams) => {
  const status = params.get("status")
  const filters = [status === null ? sql`status <> 'DELETED'` : sql`status = ${status}`]
  const country = params.get("country")
  if (country !== null) filters.push(sql`country = ${country}`)
  const tag = params.get("tag")
  if (tag !== null) filters.push(sql`tags @> ARRAY[${tag}]::text[]`)
  const minAge = params.get("minAge")
  if (minAge !== null) filters.push(sql`age >= ${Number(minAge)}`)
  const maxAge = params.get("maxAge")
  if (maxAge !== null) filters.push(sql`age <= ${Number(maxAge)}`)
  const createdAfter = params.get("createdAfter")
  if (createdAfter !== null) filters.push(sql`created_at >= ${new Date(createdAfter)}`)
  const createdBefore = params.get("createdBefore")
  if (createdBefore !== null) filters.push(sql`created_at < ${new Date(createdBefore)}`)
  const q = params.get("q")
  if (q !== null) {
    const pattern = `%${q.replace(/[\\%_]/g, (char) => `\\${char}`)}%`
    filters.push(sql`(name ILIKE ${pattern} OR email ILIKE ${pattern})`)
  }
  const sort = params.get("sort") ?? "-createdAt"
  const descending = sort.startsWith("-")
  const field = descending ? sort.slice(1) : sort
  if (!(field in sortColumns)) return send(res, 400, { title: "Invalid sort" })
  const columnName = sortColumns[field as keyof typeof sortColumns]
  const column = sql(columnName)
  const timeSort = field === "createdAt" || field === "updatedAt" || field === "lastActivity"
  // Time cursors carry the full microsecond value, as text.
  const sortKey = timeSort ? sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` : column
  const limit = Number(params.get("limit") ?? 50)
  const and = (parts: ReadonlyArray<postgres.PendingQuery<postgres.Row[]>>) =>
    parts.reduce((acc, part, i) => i === 0 ? sql`${part}` : sql`${acc} AND ${part}`, sql``)
  const seek = [...filters]
  const cursor = params.get("cursor")
  if (cursor !== null) {
    const [cursorSort, value, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
    if (cursorSort !== sort || !uuidPattern.test(id)) return send(res, 400, { title: "Invalid cursor" })
    const position = timeSort ? sql`${value}::timestamptz` : value
    seek.push(
      descending ? sql`(${column}, id) < (${position}, ${id}::uuid)` : sql`(${column}, id) > (${position}, ${id}::uuid)`
    )
  }
  const order = descending ? sql`DESC` : sql`ASC`
  const where = and(filters)
  const countMatches = async () => {
    const [capped] = await sql<Array<{ n: number }>>`SELECT count(*)::int AS n FROM
      (SELECT 1 FROM customers WHERE ${where} LIMIT ${exactCountLimit + 1}) matches`
    if (capped.n <= exactCountLimit) return { total: capped.n, totalIsEstimate: false }
    const [plan] = await sql<Array<{ "QUERY PLAN": ReadonlyArray<{ readonly Plan: { readonly "Plan Rows": number } }> }>>`EXPLAIN (FORMAT JSON) SELECT 1 FROM customers WHERE ${where}`
    return { total: Math.max(capped.n, Math.round(plan["QUERY PLAN"][0].Plan["Plan Rows"])), totalIsEstimate: true }
  }
  const [rows, count] = await Promise.all([
    sql<Array<CustomerRow & { sort_key: string }>>`SELECT ${columns}, ${sortKey} AS sort_key
      FROM customers WHERE ${and(seek)}
      ORDER BY ${column} ${order}, id ${order} LIMIT ${limit + 1}`,
    countMatches()
  ])
  const page = rows.slice(0, limit).map(toCustomer)
  const last = rows.at(limit - 1)
  const nextCursor = rows.length > limit && last !== undefined
    ? Buffer.from(JSON.stringify([sort, last.sort_key, last.id])).toString("base64url")
    : null
  send(res, 200, { data: page, nextCursor, ...count })
}

const actor = { kind: "user", subject: "bench", role: "admin" }

const create = async (req: IncomingMessage, res: ServerResponse) => {
  const input = await readJson(req)
  if (input?.consent?.dataProcessing !== true) return send(res, 422, { title: "Consent required" })
  const id = uuidv7()
  const requestId = randomUUID()
  try {
    // The service's create: every value known beforehand, the three rows written as one statement.
    const now = new Date().toISOString()
    const customer: Record<string, unknown> = {
      id,
      email: input.email,
      emailVerified: false,
      pendingEmail: null,
      name: input.name,
      age: input.age ?? null,
      gender: input.gender ?? null,
      location: input.location ?? null,
      preferences: input.preferences ?? {},
      tags: input.tags ?? [],
      metadata: input.metadata ?? {},
      consent: input.consent,
      status: input.status ?? "ACTIVE",
      version: 1,
      createdAt: now,
      updatedAt: now,
      lastActivity: now
    }
    const eventId = uuidv7()
    const event = {
      eventId,
      type: "customer.created",
      customerId: id,
      version: 1,
      occurredAt: now,
      actor,
      requestId,
      customer
    }
    await sql`WITH write_0 AS (INSERT INTO customers (id, email, email_verified, pending_email, name, age, gender,
          location, preferences, tags, metadata, consent, status, version, created_at, updated_at, last_activity)
        VALUES (${id}, ${input.email}, ${false}, ${null}, ${input.name}, ${input.age ?? null}, ${input.gender ?? null},
          ${sql.json(input.location ?? null)}, ${sql.json(input.preferences ?? {})}, ${input.tags ?? []},
          ${sql.json(input.metadata ?? {})}, ${sql.json(input.consent)}, ${input.status ?? "ACTIVE"}, ${1},
          ${now}, ${now}, ${now})),
      write_1 AS (INSERT INTO baseline_outbox (event_id, subject, payload)
        VALUES (${eventId}, ${`customers.${id}.created`}, ${sql.json(event as postgres.JSONValue)})),
      write_2 AS (INSERT INTO baseline_audit_log (actor, actor_role, action, customer_id, request_id, fields)
        VALUES (${"user:bench"}, ${"admin"}, ${"customer.create"}, ${id}, ${requestId}, ${Object.keys(input)}))
      SELECT 1`
    send(res, 201, customer, { etag: `"v${customer.version}"`, location: `/api/v1/customers/${id}` })
  } catch (error) {
    if ((error as { readonly code?: string }).code === "23505") return send(res, 409, { title: "Email already exists" })
    throw error
  }
}

const mutable = ["name", "age", "gender", "location", "preferences", "tags", "metadata", "status"] as const

const update = async (req: IncomingMessage, res: ServerResponse, id: string) => {
  const patch = await readJson(req)
  const requestId = randomUUID()
  for (let attempt = 0; attempt < 5; attempt++) {
    // As the service: read outside any transaction, then one statement guarded by the version read.
    const [row] = await sql<Array<CustomerRow>>`SELECT ${columns} FROM customers WHERE id = ${id} AND status <> 'DELETED'`
    if (row === undefined) return send(res, 404, { title: "Customer not found" })
    const before = toCustomer(row)
    const next: Record<string, unknown> = { ...before }
    const changes: Array<string> = []
    for (const key of mutable) {
      if (key in patch && JSON.stringify(next[key]) !== JSON.stringify(patch[key])) {
        next[key] = patch[key]
        changes.push(key)
      }
    }
    if (changes.length === 0) return send(res, 200, before, { etag: `"v${before.version}"` })
    const now = new Date().toISOString()
    const after = { ...next, version: before.version + 1, updatedAt: now }
    const eventId = uuidv7()
    const event = {
      eventId,
      type: "customer.updated",
      customerId: id,
      version: after.version,
      occurredAt: now,
      actor,
      requestId,
      customer: after,
      changes
    }
    const withdrawn = before.pendingEmail !== null && next.pendingEmail === null
    const matched = await sql`WITH guarded AS (UPDATE customers SET email = ${before.email as string},
          email_verified = ${before.emailVerified}, pending_email = ${before.pendingEmail}, name = ${next.name as string},
          age = ${next.age as number | null}, gender = ${next.gender as string | null},
          location = ${sql.json(next.location as postgres.JSONValue)}, preferences = ${sql.json(next.preferences as postgres.JSONValue)},
          tags = ${next.tags as Array<string>}, metadata = ${sql.json(next.metadata as postgres.JSONValue)},
          consent = ${sql.json(before.consent as postgres.JSONValue)}, status = ${next.status as string},
          updated_at = ${now}, version = version + 1
        WHERE id = ${id} AND version = ${before.version} AND status <> 'DELETED'
        RETURNING id),
      ${withdrawn ? sql`write_v AS (DELETE FROM email_verifications WHERE customer_id = ${id} AND EXISTS (SELECT 1 FROM guarded)),` : sql``}
      write_0 AS (INSERT INTO baseline_outbox (event_id, subject, payload)
        SELECT event.event_id, event.subject, event.payload
        FROM (VALUES (${eventId}::uuid, ${`customers.${id}.updated`}, ${sql.json(event as postgres.JSONValue)}::jsonb, ${0}::int))
          AS event (event_id, subject, payload, position), guarded
        ORDER BY event.position),
      write_1 AS (INSERT INTO baseline_audit_log (actor, actor_role, action, customer_id, api_key_id, request_id, fields)
        SELECT ${"user:bench"}, ${"admin"}, ${"customer.update"}, ${id}::uuid, ${null}::uuid, ${requestId}::text,
          ${changes}::text[]
        FROM guarded)
      SELECT 1 AS matched FROM guarded`
    if (matched.length > 0) return send(res, 200, after, { etag: `"v${after.version}"` })
  }
  send(res, 409, { title: "Version conflict" })
}

interface TrackedEvent {
  readonly customerId: string
  readonly id?: string
  readonly type: string
  readonly occurredAt?: string
  readonly sessionId?: string
  readonly channel?: string
  readonly device?: postgres.JSONValue
  readonly properties?: postgres.JSONValue
  readonly revenue?: number
  readonly currency?: string
}

/**
 * The service's statement for a batch of events (src/events/EventStore.ts): checked against the customers,
 * deduplicated by (id, occurred_at), recorded as a committed batch. One statement per request: the plainest
 * way, without the service's group commit.
 */
const storeEvents = async (events: ReadonlyArray<TrackedEvent>) => {
  const now = Date.now()
  const committedAt = new Date(now).toISOString()
  const input = sql.json(events.map((event, n) => ({
    n,
    id: event.id ?? uuidv7(now),
    customer_id: event.customerId,
    type: event.type,
    occurred_at: event.occurredAt ?? committedAt,
    session_id: event.sessionId ?? null,
    channel: event.channel ?? null,
    device: event.device ?? null,
    properties: event.properties ?? {},
    revenue: event.revenue ?? null,
    currency: event.currency ?? null,
    plan_violations: null
  })))
  const rows = await sql<Array<{ n: number; status: string | null; stored: boolean; id: string }>>`WITH input AS (
      SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS t(
        n int, id uuid, customer_id uuid, type text, occurred_at timestamptz, session_id text,
        channel text, device jsonb, properties jsonb, revenue numeric, currency text, plan_violations jsonb)
    ),
    checked AS (
      SELECT input.*, customers.status FROM input LEFT JOIN customers ON customers.id = input.customer_id
    ),
    stored AS (
      INSERT INTO baseline_customer_events (id, occurred_at, customer_id, type, received_at, session_id, channel, device,
        properties, revenue, currency, plan_violations)
      SELECT id, occurred_at, customer_id, type, ${committedAt}::timestamptz, session_id, channel, device, properties,
        revenue, currency, plan_violations
      FROM checked WHERE status IS NOT NULL AND status <> 'DELETED'
      ON CONFLICT DO NOTHING
      RETURNING id, occurred_at
    ),
    batch AS (
      INSERT INTO baseline_event_batches (committed_at, event_ids, occurred)
      SELECT ${committedAt}::timestamptz, array_agg(id), array_agg(occurred_at) FROM stored HAVING count(*) > 0
    )
    SELECT checked.n, checked.id, checked.status, stored.id IS NOT NULL AS stored
    FROM checked LEFT JOIN stored ON stored.id = checked.id AND stored.occurred_at = checked.occurred_at`
  const results = new Array<{ id: string; status: string }>(events.length)
  for (const row of rows) {
    results[row.n] = {
      id: row.id,
      status: row.status === null || row.status === "DELETED" ? "rejected" : row.stored ? "stored" : "duplicate"
    }
  }
  return results
}

const trackBatch = async (req: IncomingMessage, res: ServerResponse) => {
  const { events } = (await readJson(req)) as unknown as { readonly events: ReadonlyArray<TrackedEvent> }
  const results = await storeEvents(events)
  const count = (status: string) => results.reduce((n, result) => result.status === status ? n + 1 : n, 0)
  send(res, 200, { stored: count("stored"), duplicates: count("duplicate"), rejected: count("rejected"), results })
}

const track = async (req: IncomingMessage, res: ServerResponse, customerId: string) => {
  const event = (await readJson(req)) as unknown as Omit<TrackedEvent, "customerId">
  const [result] = await storeEvents([{ ...event, customerId }])
  if (result.status === "rejected") return send(res, 404, { title: "Customer not found" })
  send(res, 200, result)
}

const prefix = "/api/v1/customers"
const segmentMembersPath = /^\/api\/v1\/customers\/segments\/([0-9a-f-]{36})\/customers$/

/** A segment's current members after the cursor (a customer id), by id: src/segments/SegmentRepo.ts `members`. */
const segmentMembers = async (res: ServerResponse, segmentId: string, params: URLSearchParams) => {
  const limit = Number(params.get("limit") ?? 100)
  const cursor = params.get("cursor")
  if (cursor !== null && !uuidPattern.test(cursor)) return send(res, 400, { title: "Invalid cursor" })
  const rows = await sql<Array<{ customer_id: string; joined_at: Date }>>`SELECT customer_id, joined_at
    FROM customer_segment_memberships
    WHERE segment_id = ${segmentId} AND left_at IS NULL AND ${cursor === null ? sql`TRUE` : sql`customer_id > ${cursor}`}
    ORDER BY customer_id LIMIT ${limit + 1}`
  const page = rows.slice(0, limit)
  send(res, 200, {
    data: page.map((row) => ({ customerId: row.customer_id, joinedAt: row.joined_at.toISOString() })),
    nextCursor: rows.length > limit ? page[page.length - 1].customer_id : null
  })
}

const server = createServer((req, res) => {
  const url = req.url ?? "/"
  const q = url.indexOf("?")
  const path = q === -1 ? url : url.slice(0, q)
  const handle = async () => {
    if (path === "/hello") return send(res, 200, { status: "ok" })
    if (path === "/api/v1/events/batch" && req.method === "POST") return trackBatch(req, res)
    if (path.startsWith(prefix + "/") && path.endsWith("/track") && req.method === "POST") {
      return track(req, res, path.slice(prefix.length + 1, -"/track".length))
    }
    const members = segmentMembersPath.exec(path)
    if (members !== null && req.method === "GET") {
      return segmentMembers(res, members[1], new URLSearchParams(q === -1 ? "" : url.slice(q + 1)))
    }
    if (path === prefix || path === prefix + "/") {
      if (req.method === "GET") return list(res, new URLSearchParams(q === -1 ? "" : url.slice(q + 1)))
      if (req.method === "POST") return create(req, res)
    } else if (path.startsWith(prefix + "/")) {
      const id = path.slice(prefix.length + 1)
      if (!uuidPattern.test(id)) return send(res, 400, { title: "Invalid id" })
      if (req.method === "GET") return getById(res, id)
      if (req.method === "PATCH") return update(req, res, id)
    }
    send(res, 404, { title: "Not found" })
  }
  handle().catch((error) => {
    console.error(error)
    if (!res.headersSent) send(res, 500, { title: "Internal error" })
    else res.destroy()
  })
})
server.keepAliveTimeout = 65_000

/** The service's outbox and audit tables, duplicated so the service's relay never sees the baseline's events. */
await sql`CREATE TABLE IF NOT EXISTS baseline_outbox (LIKE outbox INCLUDING ALL)`
await sql`CREATE TABLE IF NOT EXISTS baseline_audit_log (LIKE audit_log INCLUDING ALL)`
/** Likewise for events: the service's folder and publisher never see the baseline's. */
await sql`CREATE TABLE IF NOT EXISTS baseline_customer_events (LIKE customer_events INCLUDING ALL)
  PARTITION BY RANGE (occurred_at)`
await sql`CREATE TABLE IF NOT EXISTS baseline_event_batches (LIKE event_batches INCLUDING ALL)`
{
  const month = new Date()
  const start = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth(), 1))
  const end = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1))
  const name = `baseline_customer_events_p${start.toISOString().slice(0, 7).replace("-", "")}`
  await sql.unsafe(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF baseline_customer_events
    FOR VALUES FROM ('${start.toISOString()}') TO ('${end.toISOString()}')`)
}

server.listen(port, "127.0.0.1", () => console.log(`baseline listening on http://127.0.0.1:${port} (pool ${poolMax})`))

const stop = () => {
  server.close()
  server.closeAllConnections()
  sql.end({ timeout: 2 }).finally(() => process.exit(0))
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
