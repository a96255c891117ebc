/**
 * Calculation of dynamic segments on the real database and NATS: joins and
 * leaves with their history, counts, events in the outbox and on JetStream,
 * one pending calculation per segment however many ask, a job whose process
 * died taken up again after its lease, recalculation on a change of criteria
 * and of a segment the criteria name, the refusals, and members paging.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import type { SegmentCalculation, SegmentMembersPage } from "../../src/domain/SegmentCalculation.ts"
import { SegmentMembershipChanged } from "../../src/domain/SegmentEvents.ts"
import { customersPath, newCustomer, unique } from "../support/Customers.ts"
import { outboxRows, testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { natsConnection, readStream } from "../support/Nats.ts"
import {
  createSegment,
  dynamicSegment,
  manualSegment,
  memberOf,
  type SegmentBody,
  segmentPath
} from "../support/SegmentsApi.ts"
import { json, natsUrl } from "../support/TestService.ts"

const taggedWith = (tag: string) => ({ kind: "tags", match: "any", tags: [tag] })

/** A customer carrying these tags, created through the API; its id. */
const customerTagged = (...tags: ReadonlyArray<string>) =>
  Effect.map(createCustomer(newCustomer({ tags: [...tags] })), (customer) => customer.id as string)

/**
 * Changes the customer's tags straight in the table, unseen by real-time membership (which would move the
 * customer at once: segments-realtime.test.ts), so that the calculation is what finds the change.
 */
const retag = (customerId: string, tags: ReadonlyArray<string>) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql`UPDATE customers SET tags = ${tags}::text[] WHERE id = ${customerId}`.pipe(Effect.orDie, Effect.asVoid))

const calculate = (segmentId: string) =>
  Effect.gen(function*() {
    const response = yield* call("POST", `${segmentPath(segmentId)}/calculate`)
    const text = yield* Effect.promise(() => response.clone().text())
    assert.strictEqual(response.status, 202, text)
    const job = yield* json<SegmentCalculation>(response)
    assert.strictEqual(response.headers.get("location"), `${segmentPath(segmentId)}/calculations/${job.id}`)
    return job
  })

const readCalculation = (segmentId: string, calculationId: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${segmentPath(segmentId)}/calculations/${calculationId}`)
    assert.strictEqual(response.status, 200)
    return yield* json<SegmentCalculation>(response)
  })

const finished = (segmentId: string, calculationId: string) =>
  eventually(
    `calculation ${calculationId}`,
    readCalculation(segmentId, calculationId),
    (job) => job.status === "succeeded" || job.status === "failed"
  )

const readSegment = (segmentId: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", segmentPath(segmentId))
    assert.strictEqual(response.status, 200)
    return yield* json<SegmentBody>(response)
  })

/** Every calculation of the segment, oldest first, from the table. */
const calculationRows = (segmentId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly id: string; readonly status: string; readonly trigger: string; readonly attempts: number }>`SELECT
        id::text AS id, status, trigger, attempts
      FROM segment_calculations WHERE segment_id = ${segmentId} ORDER BY requested_at, id`.pipe(Effect.orDie))

/** Waits until the segment has no pending calculation and at least one finished. */
const settled = (segmentId: string) =>
  eventually(
    `segment ${segmentId} to settle`,
    calculationRows(segmentId),
    (rows) => rows.length > 0 && rows.every((row) => row.status === "succeeded" || row.status === "failed")
  )

/** Every stay in the segment, from the table: who, and whether it is current. */
const stays = (segmentId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly customerId: string; readonly joinedAt: Date; readonly leftAt: Date | null }>`SELECT
        customer_id::text AS "customerId", joined_at AS "joinedAt", left_at AS "leftAt"
      FROM customer_segment_memberships WHERE segment_id = ${segmentId} ORDER BY id`.pipe(Effect.orDie))

const membersPage = (segmentId: string, query = "") =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${segmentPath(segmentId)}/customers${query}`)
    assert.strictEqual(response.status, 200)
    return yield* json<SegmentMembersPage>(response)
  })

const sorted = (ids: ReadonlyArray<string>) => [...ids].sort()

const decodeMembershipEvent = Schema.decodeUnknownSync(SegmentMembershipChanged)

layer(
  testServiceWithDatabase({
    env: { SEGMENT_CALCULATION_POLL_SECONDS: "0.2", SEGMENT_CALCULATION_LEASE_SECONDS: "60" }
  }),
  { excludeTestServices: true }
)("segment calculation", (it) => {
  it.effect("joins the customers who match and leaves those who no longer do, keeping each stay, with events", () =>
    Effect.gen(function*() {
      const tag = `calc-${unique()}`
      const [ada, grace, alan] = [yield* customerTagged(tag), yield* customerTagged(tag), yield* customerTagged("other")]
      const erased = yield* customerTagged(tag)
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${erased}`)).status, 204)

      // Creating the segment queues its first calculation.
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      const [created] = yield* settled(segment.id)
      assert.strictEqual(created.trigger, "created")
      assert.strictEqual(created.status, "succeeded")
      const first = yield* readCalculation(segment.id, created.id)
      assert.strictEqual(first.members, 2)
      assert.strictEqual(first.joined, 2)
      assert.strictEqual(first.left, 0)
      assert.isNumber(first.durationMs)
      assert.isNull(first.error)
      const afterFirst = yield* readSegment(segment.id)
      assert.strictEqual(afterFirst.memberCount, 2)
      assert.strictEqual(afterFirst.lastCalculatedAt, first.startedAt)

      // Grace stops matching and Alan starts.
      yield* retag(grace, ["other"])
      yield* retag(alan, [tag])
      const requested = yield* calculate(segment.id)
      assert.strictEqual(requested.trigger, "requested")
      assert.include(["queued", "running"], requested.status)
      const second = yield* finished(segment.id, requested.id)
      assert.strictEqual(second.status, "succeeded")
      assert.deepStrictEqual([second.members, second.joined, second.left], [2, 1, 1])
      assert.strictEqual(second.attempts, 1)
      assert.isNotNull(second.startedAt)
      assert.isNotNull(second.finishedAt)
      assert.strictEqual((yield* readSegment(segment.id)).memberCount, 2)

      // Grace's stay is closed at the second run's instant; the others are open.
      const history = yield* stays(segment.id)
      assert.deepStrictEqual(
        history.map((stay) => [stay.customerId, stay.leftAt === null]),
        [...sorted([ada, grace]).map((id) => [id, id !== grace]), [alan, true]]
      )
      assert.strictEqual(history.find((stay) => stay.customerId === grace)?.leftAt?.toISOString(), second.startedAt)
      assert.strictEqual(history.find((stay) => stay.customerId === alan)?.joinedAt.toISOString(), second.startedAt)
      assert.deepStrictEqual(sorted((yield* membersPage(segment.id)).data.map((member) => member.customerId)), sorted([ada, alan]))

      // A run that changes nothing keeps the stays and publishes nothing.
      const third = yield* finished(segment.id, (yield* calculate(segment.id)).id)
      assert.deepStrictEqual([third.members, third.joined, third.left], [2, 0, 0])
      assert.strictEqual((yield* stays(segment.id)).length, 3)

      // The outbox: one event per kind and run, ids ascending, typed.
      const events = (yield* outboxRows()).filter((row) => row.subject.startsWith(`segments.${segment.id}.`))
      const decoded = events.map((row) => decodeMembershipEvent(row.payload))
      assert.deepStrictEqual(
        decoded.map((event): ReadonlyArray<unknown> => [event.type, event.calculationId, event.customerIds, event.part, event.parts]),
        [
          ["segment.joined", first.id, sorted([ada, grace]), 1, 1],
          ["segment.joined", second.id, [alan], 1, 1],
          ["segment.left", second.id, [grace], 1, 1]
        ]
      )
      assert.deepStrictEqual(events.map((row) => row.subject), [
        `segments.${segment.id}.joined`,
        `segments.${segment.id}.joined`,
        `segments.${segment.id}.left`
      ])
      assert.strictEqual(decoded[1].occurredAt, second.startedAt)

      // ... and the same on JetStream, once each, Nats-Msg-Id the event's id.
      const nc = yield* natsConnection(natsUrl)
      const stream = yield* eventually(
        "the segment's events on JetStream",
        readStream(nc, `segments.${segment.id}.>`, "SEGMENTS"),
        (read) => read.stored === 3 && read.delivered.length === 3
      )
      assert.deepStrictEqual(stream.delivered.map((message) => message.msgId), decoded.map((event) => event.eventId))
      assert.deepStrictEqual(stream.delivered.map((message) => message.subject), events.map((row) => row.subject))
    }))

  it.effect("deleting a segment while a run holds its job waits for the run instead of deadlocking with it", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(`deleted-${unique()}`) }))
      yield* settled(segment.id)

      // A run's locks in a run's order: its job row, then (once the deletion is waiting) the segment's row.
      const deletion = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1 FROM segment_calculations WHERE segment_id = ${segment.id} FOR UPDATE`
        const deleting = yield* Effect.forkChild(call("DELETE", segmentPath(segment.id)))
        yield* Effect.sleep("300 millis")
        yield* sql`SELECT 1 FROM customer_segments WHERE id = ${segment.id} FOR NO KEY UPDATE`
        return deleting
      })).pipe(Effect.orDie)

      assert.strictEqual((yield* Fiber.join(deletion)).status, 204)
      assert.deepStrictEqual(yield* calculationRows(segment.id), [])
    }))

  it.effect("asking again while a calculation is pending answers that calculation: two never run at once", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const tag = `busy-${unique()}`
      yield* customerTagged(tag)
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      yield* settled(segment.id)

      // Holding the segment's row keeps the run that claims the job waiting (it locks the row first).
      const { first, again, concurrent } = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1 FROM customer_segments WHERE id = ${segment.id} FOR NO KEY UPDATE`
        const first = yield* calculate(segment.id)
        const again = yield* calculate(segment.id)
        const concurrent = yield* Effect.all(Array.from({ length: 6 }, () => calculate(segment.id)), {
          concurrency: "unbounded"
        })
        const pending = (yield* calculationRows(segment.id)).filter((row) => row.status === "queued" || row.status === "running")
        assert.deepStrictEqual(pending.map((row) => row.id), [first.id])
        return { first, again, concurrent }
      })).pipe(Effect.orDie)
      assert.strictEqual(again.id, first.id)
      assert.deepStrictEqual(concurrent.map((job) => job.id), concurrent.map(() => first.id))

      const done = yield* finished(segment.id, first.id)
      assert.strictEqual(done.status, "succeeded")
      // Once it is done, a request queues a new one.
      const next = yield* calculate(segment.id)
      assert.notStrictEqual(next.id, first.id)
      yield* finished(segment.id, next.id)
      assert.deepStrictEqual((yield* calculationRows(segment.id)).map((row) => row.trigger), ["created", "requested", "requested"])
    }))

  it.effect("a job whose process died is taken up again once its lease has passed, and given up after 3 attempts", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const tag = `lease-${unique()}`
      const member = yield* customerTagged(tag)
      const [abandoned, leased, doomed] = [
        yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) })),
        yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) })),
        yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      ]
      for (const segment of [abandoned, leased, doomed]) yield* settled(segment.id)
      // What a process leaves when it dies after claiming: running, its lease passed or not.
      const claimedBefore = (segmentId: string, attempts: number, leaseSeconds: number) =>
        sql<{ readonly id: string }>`INSERT INTO segment_calculations (id, segment_id, status, trigger, requested_at,
            started_at, lease_expires_at, attempts)
          VALUES (gen_random_uuid(), ${segmentId}, 'running', 'requested', now() - interval '2 minutes',
            now() - interval '2 minutes', now() + make_interval(secs => ${leaseSeconds}), ${attempts})
          RETURNING id::text AS id`.pipe(Effect.map(([row]) => row.id), Effect.orDie)
      const abandonedJob = yield* claimedBefore(abandoned.id, 1, -60)
      const leasedJob = yield* claimedBefore(leased.id, 1, 3600)
      const doomedJob = yield* claimedBefore(doomed.id, 3, -60)

      const retaken = yield* finished(abandoned.id, abandonedJob)
      assert.strictEqual(retaken.status, "succeeded")
      assert.strictEqual(retaken.attempts, 2)
      assert.strictEqual(retaken.members, 1)
      const givenUp = yield* finished(doomed.id, doomedJob)
      assert.strictEqual(givenUp.status, "failed")
      assert.strictEqual(givenUp.error, "gave up after 3 attempts that did not finish")

      // A lease still running is left to its holder, poll after poll...
      yield* Effect.sleep("1 second")
      const held = yield* readCalculation(leased.id, leasedJob)
      assert.deepStrictEqual([held.status, held.attempts], ["running", 1])
      // ... and asking for a calculation meanwhile answers that job.
      assert.strictEqual((yield* calculate(leased.id)).id, leasedJob)
      // Once the lease passes, it is taken up.
      yield* sql`UPDATE segment_calculations SET lease_expires_at = now() - interval '1 second' WHERE id = ${leasedJob}`.pipe(
        Effect.orDie
      )
      const resumed = yield* finished(leased.id, leasedJob)
      assert.deepStrictEqual([resumed.status, resumed.attempts, resumed.members], ["succeeded", 2, 1])
      assert.deepStrictEqual((yield* membersPage(leased.id)).data.map((row) => row.customerId), [member])
    }))

  it.effect("a run whose connection dies after changing the stays leaves nothing behind, and the job runs again", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const tag = `crash-${unique()}`
      const [ada, grace, alan] = [yield* customerTagged(tag), yield* customerTagged(tag), yield* customerTagged("other")]
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      const dependent = yield* createSegment(dynamicSegment({ criteria: memberOf(segment.id) }))
      yield* settled(segment.id)
      yield* eventually("the dependent's members", readSegment(dependent.id), (read) => read.memberCount === 2)
      yield* settled(dependent.id)
      yield* retag(grace, ["other"])
      yield* retag(alan, [tag])
      const before = yield* stays(segment.id)

      // A pending calculation of the dependent, not yet committed: the run, at its very end (its stays changed,
      // its events written), queues the dependent's and waits for this transaction. There its connection is
      // cut, as a crash would.
      const job = yield* sql.withTransaction(Effect.gen(function*() {
        const [blocker] = yield* sql<{ readonly id: string }>`INSERT INTO segment_calculations
            (id, segment_id, status, trigger, requested_at)
          VALUES (gen_random_uuid(), ${dependent.id}, 'queued', 'requested', now()) RETURNING id::text AS id`
        const job = yield* calculate(segment.id)
        const [waiting] = yield* eventually(
          "the run to wait for this transaction",
          sql<{ readonly pid: number }>`SELECT pid FROM pg_stat_activity
            WHERE pg_blocking_pids(pid) @> ARRAY[pg_backend_pid()]`,
          (rows) => rows.length === 1
        )
        yield* sql`SELECT pg_terminate_backend(${waiting.pid})`
        // The killed attempt rolled back: the stays are as they were (the next attempt waits here again).
        yield* eventually("the first attempt to end", readCalculation(segment.id, job.id), (read) => read.attempts === 2)
        assert.deepStrictEqual(yield* stays(segment.id), before)
        yield* sql`DELETE FROM segment_calculations WHERE id = ${blocker.id}`
        return job
      })).pipe(Effect.orDie)

      const done = yield* finished(segment.id, job.id)
      assert.deepStrictEqual([done.status, done.attempts, done.joined, done.left, done.error], ["succeeded", 2, 1, 1, null])
      const after = yield* stays(segment.id)
      // One stay opened (Alan), one closed (Grace), once.
      assert.strictEqual(after.length, before.length + 1)
      assert.deepStrictEqual(
        sorted(after.filter((stay) => stay.leftAt === null).map((stay) => stay.customerId)),
        sorted([ada, alan])
      )
      const events = (yield* outboxRows()).filter((row) => row.subject.startsWith(`segments.${segment.id}.`))
        .map((row) => decodeMembershipEvent(row.payload))
        .filter((event) => event.calculationId === job.id)
      assert.deepStrictEqual(events.map((event): ReadonlyArray<unknown> => [event.type, event.customerIds]), [
        ["segment.joined", [alan]],
        ["segment.left", [grace]]
      ])
    }))

  it.effect("changing the criteria queues a recalculation, and so does a change of a segment the criteria name", () =>
    Effect.gen(function*() {
      const [before, after] = [`before-${unique()}`, `after-${unique()}`]
      const [ada, grace] = [yield* customerTagged(before), yield* customerTagged(after)]
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(before) }))
      const dependent = yield* createSegment(dynamicSegment({ criteria: memberOf(segment.id) }))
      yield* settled(segment.id)
      yield* eventually("the dependent's members", readSegment(dependent.id), (read) => read.memberCount === 1)

      const response = yield* call("PATCH", segmentPath(segment.id), { body: { criteria: taggedWith(after) } })
      assert.strictEqual(response.status, 200)
      const rows = yield* settled(segment.id)
      assert.deepStrictEqual(rows.map((row) => row.trigger), ["created", "criteria-changed"])
      assert.deepStrictEqual((yield* membersPage(segment.id)).data.map((member) => member.customerId), [grace])

      // The dependent follows: its members are the segment's.
      yield* eventually(
        "the dependent's recalculation",
        calculationRows(dependent.id),
        (jobs) => jobs.some((job) => job.trigger === "dependency-changed" && job.status === "succeeded")
      )
      assert.deepStrictEqual((yield* membersPage(dependent.id)).data.map((member) => member.customerId), [grace])
      assert.notInclude((yield* membersPage(dependent.id)).data.map((member) => member.customerId), ada)

      // A manual segment's members changed by hand: the segments defined by its membership follow.
      const manual = yield* createSegment(manualSegment())
      const follower = yield* createSegment(dynamicSegment({ criteria: memberOf(manual.id) }))
      yield* settled(follower.id)
      const added = yield* call("POST", "/api/v1/customers/bulk/segments", {
        body: { segmentId: manual.id, action: "add", customerIds: [ada] }
      })
      assert.strictEqual(added.status, 200)
      yield* eventually("the follower's recalculation", readSegment(follower.id), (read) => read.memberCount === 1)
      assert.deepStrictEqual(
        (yield* calculationRows(follower.id)).map((job) => job.trigger),
        ["created", "dependency-changed"]
      )

      // A change of name alone does not recalculate.
      yield* call("PATCH", segmentPath(segment.id), { body: { name: `Renamed ${unique()}` } })
      assert.strictEqual((yield* calculationRows(segment.id)).length, 2)
    }))

  it.effect("publishes at most 1,000 ids an event, over a behavioural criterion; erasure takes an id out of them", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const tag = `bulk-${unique()}`
      // 2,500 customers with the tag, straight into the table; the first 2,100 bought 3 times today.
      const seeded = yield* sql<{ readonly id: string }>`INSERT INTO customers (id, email, name, tags, consent)
          SELECT gen_random_uuid(), ${tag} || '-' || i || '@example.com', 'Seeded', ARRAY[${tag}],
            '{"marketing": false, "dataProcessing": true}'::jsonb
          FROM generate_series(1, 2500) AS i
          RETURNING id::text AS id`.pipe(Effect.orDie)
      const erased = yield* customerTagged(tag)
      const buyers = [...seeded.slice(0, 2100).map((row) => row.id), erased]
      const purchasedToday = (ids: ReadonlyArray<string>) =>
        sql`INSERT INTO customer_daily_activity (customer_id, day, type, events, revenue)
          SELECT id, (now() AT TIME ZONE 'UTC')::date, 'purchase', 3, 30 FROM unnest(${ids}::uuid[]) AS id`.pipe(
          Effect.orDie
        )
      yield* purchasedToday(buyers)
      const segment = yield* createSegment(dynamicSegment({
        criteria: {
          kind: "all",
          criteria: [
            taggedWith(tag),
            { kind: "eventCount", type: "purchase", window: { lastDays: 30 }, atLeast: 3 }
          ]
        }
      }))
      const [first] = yield* settled(segment.id)
      const joinedEvents = () =>
        Effect.map(
          outboxRows(`segments.${segment.id}.joined`),
          (rows) => rows.map((row) => decodeMembershipEvent(row.payload))
        )
      const firstEvents = (yield* joinedEvents()).filter((event) => event.calculationId === first.id)
      assert.deepStrictEqual(firstEvents.map((event) => [event.customerIds.length, event.part, event.parts]), [
        [1000, 1, 3],
        [1000, 2, 3],
        [101, 3, 3]
      ])
      assert.deepStrictEqual(firstEvents.flatMap((event) => event.customerIds), sorted(buyers))
      assert.strictEqual((yield* readSegment(segment.id)).memberCount, 2101)

      // Erasing a member takes their id out of the events the service still holds, and their stay goes.
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${erased}`)).status, 204)
      const afterErasure = (yield* joinedEvents()).flatMap((event) => event.customerIds)
      assert.lengthOf(afterErasure, 2100)
      assert.notInclude(afterErasure, erased)
      assert.strictEqual((yield* readSegment(segment.id)).memberCount, 2100)

      // 1,500 stop buying: two events of leaves.
      yield* sql`DELETE FROM customer_daily_activity WHERE customer_id = ANY(${buyers.slice(0, 1500)}::uuid[])`.pipe(
        Effect.orDie
      )
      const second = yield* finished(segment.id, (yield* calculate(segment.id)).id)
      assert.deepStrictEqual([second.members, second.joined, second.left], [600, 0, 1500])
      const leftEvents = (yield* outboxRows(`segments.${segment.id}.left`)).map((row) => decodeMembershipEvent(row.payload))
      assert.deepStrictEqual(leftEvents.map((event) => [event.customerIds.length, event.part, event.parts]), [
        [1000, 1, 2],
        [500, 2, 2]
      ])
      assert.deepStrictEqual(leftEvents.flatMap((event) => event.customerIds), sorted(buyers.slice(0, 1500)))
    }))

  it.effect("refuses a manual segment (422), an unknown segment or calculation (404), and a reader (403)", () =>
    Effect.gen(function*() {
      const manual = yield* createSegment(manualSegment())
      const problem = yield* expectProblem(
        yield* call("POST", `${segmentPath(manual.id)}/calculate`),
        422,
        "/problems/segment-not-dynamic"
      )
      assert.include(problem.detail ?? "", "manual")
      assert.deepStrictEqual(yield* calculationRows(manual.id), [])

      const unknown = crypto.randomUUID()
      yield* expectProblem(yield* call("POST", `${segmentPath(unknown)}/calculate`), 404, "/problems/segment-not-found")
      yield* expectProblem(yield* call("GET", `${segmentPath(unknown)}/customers`), 404, "/problems/segment-not-found")
      const dynamic = yield* createSegment(dynamicSegment())
      yield* expectProblem(
        yield* call("GET", `${segmentPath(dynamic.id)}/calculations/${crypto.randomUUID()}`),
        404,
        "/problems/segment-calculation-not-found"
      )
      // A calculation is found under its own segment only.
      const [job] = yield* settled(dynamic.id)
      yield* expectProblem(
        yield* call("GET", `${segmentPath(manual.id)}/calculations/${job.id}`),
        404,
        "/problems/segment-calculation-not-found"
      )
      yield* expectProblem(
        yield* call("POST", `${segmentPath(dynamic.id)}/calculate`, { role: "agent" }),
        403,
        "/problems/forbidden"
      )
      // Every role reads.
      assert.strictEqual((yield* call("GET", `${segmentPath(dynamic.id)}/customers`, { role: "analyst" })).status, 200)
    }))

  it.effect("pages the current members by customer id", () =>
    Effect.gen(function*() {
      const tag = `page-${unique()}`
      const ids: Array<string> = []
      for (let index = 0; index < 5; index++) ids.push(yield* customerTagged(tag))
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      yield* settled(segment.id)

      const seen: Array<string> = []
      const sizes: Array<number> = []
      let cursor: string | null = null
      do {
        const page: SegmentMembersPage = yield* membersPage(
          segment.id,
          `?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`
        )
        sizes.push(page.data.length)
        seen.push(...page.data.map((member) => member.customerId))
        cursor = page.nextCursor
      } while (cursor !== null)
      assert.deepStrictEqual(sizes, [2, 2, 1])
      assert.deepStrictEqual(seen, sorted(ids))
      assert.lengthOf((yield* membersPage(segment.id)).data, 5)

      for (const query of ["?limit=0", "?limit=1001", "?limit=x", "?cursor=nope"]) {
        yield* expectProblem(yield* call("GET", `${segmentPath(segment.id)}/customers${query}`), 400, "/problems/invalid-request")
      }
    }))
})
