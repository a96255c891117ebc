/**
 * Segment definitions over REST on the real database: create, read, change
 * and delete with ETag / If-Match as for customers; names unique whatever
 * their letter case; criteria refused with the path of the bad node (400 for
 * a malformed node, 422 for a reference that names no segment or makes a
 * cycle); nothing written by a refusal.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { testServiceWithDatabase } from "../support/Database.ts"
import { call, expectProblem, invalidPaths, type Problem } from "../support/Http.ts"
import {
  createSegment,
  definitionOf,
  dynamicSegment,
  manualSegment,
  memberOf,
  type SegmentBody,
  segmentPath,
  segmentsPath,
  ukBuyers
} from "../support/SegmentsApi.ts"
import { json, type TestService } from "../support/TestService.ts"

interface SegmentPageBody {
  readonly data: ReadonlyArray<SegmentBody>
  readonly nextCursor: string | null
  readonly total: number
}

interface Conflict extends Problem {
  readonly expectedVersion?: number
  readonly currentVersion?: number
}

const segmentCount = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM customer_segments`.pipe(
    Effect.orDie,
    Effect.map(([row]) => row.n)
  ))

/** Asserts that `request` is refused with `status` / `type` and that no segment was written meanwhile. */
const refusedWritingNothing = (request: Effect.Effect<Response, never, TestService>, status: number, type: string) =>
  Effect.gen(function*() {
    const before = yield* segmentCount
    const problem = yield* expectProblem(yield* request, status, type)
    assert.strictEqual(yield* segmentCount, before)
    return problem
  })

const patch = (id: string, body: unknown, headers: Record<string, string> = {}) =>
  call("PATCH", segmentPath(id), { body, headers })

layer(testServiceWithDatabase({ nats: false }), { excludeTestServices: true })("segment definitions", (it) => {
  it.effect("a dynamic segment is created with version 1, a Location and an ETag, and read back the same", () =>
    Effect.gen(function*() {
      const body = dynamicSegment({ description: "Three purchases in 30 days" })
      const response = yield* call("POST", segmentsPath, { body })
      assert.strictEqual(response.status, 201)
      const created = yield* json<SegmentBody>(response)
      assert.strictEqual(response.headers.get("location"), segmentPath(created.id))
      assert.strictEqual(response.headers.get("etag"), "\"v1\"")
      assert.strictEqual(created.name, body.name)
      assert.strictEqual(created.description, "Three purchases in 30 days")
      assert.strictEqual(created.type, "dynamic")
      assert.deepStrictEqual(created.criteria, ukBuyers)
      assert.strictEqual(created.memberCount, 0)
      assert.isNull(created.lastCalculatedAt)
      assert.strictEqual(created.createdBy, "user:test-admin")
      assert.strictEqual(created.version, 1)
      const read = yield* call("GET", segmentPath(created.id))
      assert.strictEqual(read.status, 200)
      assert.strictEqual(read.headers.get("etag"), "\"v1\"")
      assert.deepStrictEqual(definitionOf(yield* json<SegmentBody>(read)), definitionOf(created))
    }))

  it.effect("a manual segment has no criteria", () =>
    Effect.gen(function*() {
      const created = yield* createSegment(manualSegment())
      assert.strictEqual(created.type, "manual")
      assert.isNull(created.criteria)
      assert.isNull(created.description)
    }))

  it.effect("a dynamic segment without criteria is refused: at least one criterion", () =>
    Effect.gen(function*() {
      const problem = yield* refusedWritingNothing(
        call("POST", segmentsPath, { body: { name: "No criteria", type: "dynamic" } }),
        400,
        "/problems/invalid-request"
      )
      assert.include(invalidPaths(problem), "payload.criteria")
    }))

  it.effect("an empty combinator is refused: a tree always holds a criterion", () =>
    Effect.gen(function*() {
      const problem = yield* refusedWritingNothing(
        call("POST", segmentsPath, { body: dynamicSegment({ criteria: { kind: "all", criteria: [] } }) }),
        400,
        "/problems/invalid-request"
      )
      assert.include(invalidPaths(problem), "payload.criteria.criteria")
    }))

  it.effect("a manual segment with criteria is refused, naming the field", () =>
    Effect.gen(function*() {
      const problem = yield* refusedWritingNothing(
        call("POST", segmentsPath, { body: manualSegment({ criteria: ukBuyers }) }),
        400,
        "/problems/invalid-request"
      )
      assert.include(invalidPaths(problem), "payload.criteria")
    }))

  it.effect("an invalid node is refused with its path", () =>
    Effect.gen(function*() {
      const crossed = {
        kind: "any",
        criteria: [
          { kind: "tags", match: "any", tags: ["vip"] },
          { kind: "all", criteria: [{ kind: "age", atLeast: 40, atMost: 30 }] }
        ]
      }
      const problem = yield* refusedWritingNothing(
        call("POST", segmentsPath, { body: dynamicSegment({ criteria: crossed }) }),
        400,
        "/problems/invalid-request"
      )
      assert.deepStrictEqual(invalidPaths(problem), ["payload.criteria.criteria.1.criteria.0.atMost"])
      const unknownKind = yield* refusedWritingNothing(
        call("POST", segmentsPath, {
          body: dynamicSegment({ criteria: { kind: "all", criteria: [{ kind: "horoscope", sign: "leo" }] } })
        }),
        400,
        "/problems/invalid-request"
      )
      assert.deepStrictEqual(invalidPaths(unknownKind), ["payload.criteria.criteria.0.kind"])
    }))

  it.effect("unknown fields are refused, in the body and inside a criterion", () =>
    Effect.gen(function*() {
      const atTop = yield* refusedWritingNothing(
        call("POST", segmentsPath, { body: dynamicSegment({ owner: "marketing" }) }),
        400,
        "/problems/invalid-request"
      )
      assert.include(invalidPaths(atTop), "payload.owner")
      const inNode = yield* refusedWritingNothing(
        call("POST", segmentsPath, {
          body: dynamicSegment({ criteria: { kind: "country", in: ["GB"], exact: true } })
        }),
        400,
        "/problems/invalid-request"
      )
      assert.include(invalidPaths(inNode), "payload.criteria.exact")
    }))

  it.effect("names are unique regardless of letter case", () =>
    Effect.gen(function*() {
      const first = yield* createSegment(dynamicSegment({ name: "Lapsed Buyers" }))
      const problem = yield* refusedWritingNothing(
        call("POST", segmentsPath, { body: manualSegment({ name: "LAPSED buyers" }) }),
        409,
        "/problems/segment-name-taken"
      )
      assert.strictEqual(problem.field, "name")
      const other = yield* createSegment(manualSegment({ name: "Window shoppers" }))
      yield* expectProblem(yield* patch(other.id, { name: "lapsed BUYERS" }), 409, "/problems/segment-name-taken")
      // Its own name in another case is no conflict.
      const renamed = yield* patch(first.id, { name: "LAPSED BUYERS" })
      assert.strictEqual(renamed.status, 200)
      assert.strictEqual((yield* json<SegmentBody>(renamed)).name, "LAPSED BUYERS")
    }))

  it.effect("PATCH changes only the fields sent, bumps the version and answers the new ETag", () =>
    Effect.gen(function*() {
      const created = yield* createSegment(dynamicSegment({ description: "first" }))
      const criteria = { kind: "country", in: ["IE"] }
      const response = yield* patch(created.id, { criteria, description: null }, { "if-match": "\"v1\"" })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("etag"), "\"v2\"")
      const updated = yield* json<SegmentBody>(response)
      assert.deepStrictEqual(updated.criteria, criteria)
      assert.isNull(updated.description)
      assert.strictEqual(updated.name, created.name)
      assert.strictEqual(updated.version, 2)
      assert.strictEqual(updated.createdAt, created.createdAt)
      assert.isAtLeast(Date.parse(updated.updatedAt), Date.parse(created.updatedAt))
      // A change that changes nothing keeps the version.
      const unchanged = yield* patch(created.id, {})
      assert.strictEqual((yield* json<SegmentBody>(unchanged)).version, 2)
    }))

  it.effect("If-Match: a stale tag is a 412 naming both versions, `*` and no tag are any version", () =>
    Effect.gen(function*() {
      const created = yield* createSegment()
      assert.strictEqual((yield* patch(created.id, { description: "second" })).status, 200)
      const stale = (yield* expectProblem(
        yield* patch(created.id, { description: "third" }, { "if-match": "\"v1\"" }),
        412,
        "/problems/version-conflict"
      )) as Conflict
      assert.strictEqual(stale.expectedVersion, 1)
      assert.strictEqual(stale.currentVersion, 2)
      const unreadable = (yield* expectProblem(
        yield* patch(created.id, { description: "third" }, { "if-match": "yesterday's" }),
        412,
        "/problems/version-conflict"
      )) as Conflict
      assert.isUndefined(unreadable.expectedVersion)
      yield* expectProblem(
        yield* patch(created.id, { description: "third", version: 1 }, { "if-match": "\"v2\"" }),
        412,
        "/problems/version-conflict"
      )
      const bodyVersion = (yield* expectProblem(
        yield* patch(created.id, { description: "third", version: 1 }),
        412,
        "/problems/version-conflict"
      )) as Conflict
      assert.strictEqual(bodyVersion.currentVersion, 2)
      const anyVersion = yield* patch(created.id, { description: "third" }, { "if-match": "*" })
      assert.strictEqual(anyVersion.status, 200)
      assert.strictEqual(anyVersion.headers.get("etag"), "\"v3\"")
      const read = yield* json<SegmentBody>(yield* call("GET", segmentPath(created.id)))
      assert.strictEqual(read.description, "third")
    }))

  it.effect("the type never changes, and a manual segment takes no criteria", () =>
    Effect.gen(function*() {
      const manual = yield* createSegment(manualSegment())
      const typeChange = yield* expectProblem(
        yield* patch(manual.id, { type: "dynamic" }),
        400,
        "/problems/invalid-request"
      )
      assert.include(invalidPaths(typeChange), "payload.type")
      const problem = yield* expectProblem(
        yield* patch(manual.id, { criteria: ukBuyers }),
        422,
        "/problems/invalid-segment-criteria"
      )
      assert.deepStrictEqual(problem.errors?.map((entry) => entry.path), [["criteria"]])
      const read = yield* json<SegmentBody>(yield* call("GET", segmentPath(manual.id)))
      assert.strictEqual(read.version, 1)
      assert.isNull(read.criteria)
    }))

  it.effect("a segment node naming no segment is a 422 with the node's path", () =>
    Effect.gen(function*() {
      const missing = "0190a5e4-7c1a-7b3e-9f2d-000000000000"
      const problem = yield* refusedWritingNothing(
        call("POST", segmentsPath, {
          body: dynamicSegment({
            criteria: { kind: "any", criteria: [{ kind: "tags", match: "any", tags: ["vip"] }, memberOf(missing)] }
          })
        }),
        422,
        "/problems/invalid-segment-criteria"
      )
      assert.deepStrictEqual(problem.errors?.map((entry) => entry.path), [["criteria", "criteria", 1, "segmentId"]])
      assert.include(problem.errors?.[0].message ?? "", missing)
    }))

  it.effect("criteria that would make a segment depend on itself are a 422 naming the node", () =>
    Effect.gen(function*() {
      const base = yield* createSegment(manualSegment())
      const middle = yield* createSegment(dynamicSegment({ criteria: memberOf(base.id) }))
      const top = yield* createSegment(dynamicSegment({
        criteria: { kind: "all", criteria: [{ kind: "country", in: ["GB"] }, { kind: "not", criterion: memberOf(middle.id) }] }
      }))
      // middle -> top -> middle
      const cycle = yield* expectProblem(
        yield* patch(middle.id, { criteria: { kind: "any", criteria: [memberOf(base.id), memberOf(top.id)] } }),
        422,
        "/problems/invalid-segment-criteria"
      )
      assert.deepStrictEqual(cycle.errors?.map((entry) => entry.path), [["criteria", "criteria", 1, "segmentId"]])
      const self = yield* expectProblem(
        yield* patch(top.id, { criteria: memberOf(top.id) }),
        422,
        "/problems/invalid-segment-criteria"
      )
      assert.deepStrictEqual(self.errors?.map((entry) => entry.path), [["criteria", "segmentId"]])
      const read = yield* json<SegmentBody>(yield* call("GET", segmentPath(middle.id)))
      assert.strictEqual(read.version, 1)
      // A reference that makes no cycle is accepted.
      assert.strictEqual((yield* patch(top.id, { criteria: memberOf(base.id) })).status, 200)
    }))

  it.effect("a segment other segments refer to cannot be deleted until they stop", () =>
    Effect.gen(function*() {
      const referenced = yield* createSegment(manualSegment())
      const referring = yield* createSegment(dynamicSegment({ criteria: memberOf(referenced.id) }))
      const problem = (yield* expectProblem(
        yield* call("DELETE", segmentPath(referenced.id)),
        409,
        "/problems/segment-in-use"
      )) as Problem & { readonly referencedBy: ReadonlyArray<string> }
      assert.deepStrictEqual(problem.referencedBy, [referring.id])
      assert.strictEqual((yield* patch(referring.id, { criteria: ukBuyers })).status, 200)
      assert.strictEqual((yield* call("DELETE", segmentPath(referenced.id))).status, 204)
      yield* expectProblem(yield* call("GET", segmentPath(referenced.id)), 404, "/problems/segment-not-found")
    }))

  it.effect("DELETE honours If-Match and answers 404 once gone", () =>
    Effect.gen(function*() {
      const created = yield* createSegment()
      const stale = (yield* expectProblem(
        yield* call("DELETE", segmentPath(created.id), { headers: { "if-match": "\"v7\"" } }),
        412,
        "/problems/version-conflict"
      )) as Conflict
      assert.strictEqual(stale.currentVersion, 1)
      const deleted = yield* call("DELETE", segmentPath(created.id), { headers: { "if-match": "\"v1\"" } })
      assert.strictEqual(deleted.status, 204)
      yield* expectProblem(yield* call("DELETE", segmentPath(created.id)), 404, "/problems/segment-not-found")
      yield* expectProblem(yield* patch(created.id, { name: "Gone" }), 404, "/problems/segment-not-found")
    }))

  it.effect("each change is audited with the segment's id, the caller, the request id and the fields", () =>
    Effect.gen(function*() {
      const headers = { "x-request-id": "segment-audit-1" }
      const created = yield* json<SegmentBody>(yield* call("POST", segmentsPath, { body: dynamicSegment(), headers }))
      assert.strictEqual((yield* call("PATCH", segmentPath(created.id), { body: { description: "d" }, headers })).status, 200)
      // Refused changes leave no entry.
      yield* expectProblem(
        yield* call("DELETE", segmentPath(created.id), { headers: { ...headers, "if-match": "\"v1\"" } }),
        412,
        "/problems/version-conflict"
      )
      assert.strictEqual((yield* call("DELETE", segmentPath(created.id), { headers })).status, 204)
      const sql = yield* PgClient.PgClient
      const rows = yield* sql<{
        readonly action: string
        readonly actor: string
        readonly request_id: string
        readonly fields: ReadonlyArray<string>
        readonly customer_id: string | null
      }>`SELECT action, actor, request_id, fields, customer_id FROM audit_log WHERE segment_id = ${created.id}
        ORDER BY id`.pipe(Effect.orDie)
      assert.deepStrictEqual(rows.map((row) => [row.action, row.fields]), [
        ["segment.create", ["name", "type", "criteria"]],
        ["segment.update", ["description"]],
        ["segment.delete", []]
      ])
      for (const row of rows) {
        assert.strictEqual(row.actor, "user:test-admin")
        assert.strictEqual(row.request_id, "segment-audit-1")
        assert.isNull(row.customer_id)
      }
    }))

  it.effect("every role reads segments; analysts and services define them, agents do not", () =>
    Effect.gen(function*() {
      const created = yield* createSegment()
      for (const role of ["analyst", "agent", "service"] as const) {
        assert.strictEqual((yield* call("GET", segmentPath(created.id), { role })).status, 200)
        assert.strictEqual((yield* call("GET", segmentsPath, { role })).status, 200)
      }
      const forbidden = yield* refusedWritingNothing(
        call("POST", segmentsPath, { body: dynamicSegment(), role: "agent" }),
        403,
        "/problems/forbidden"
      )
      assert.strictEqual((forbidden as Problem & { readonly permission: string }).permission, "segments:manage")
      yield* expectProblem(yield* call("DELETE", segmentPath(created.id), { role: "agent" }), 403, "/problems/forbidden")
      const byAnalyst = yield* call("PATCH", segmentPath(created.id), { body: { description: "analyst" }, role: "analyst" })
      assert.strictEqual(byAnalyst.status, 200)
      yield* expectProblem(
        yield* call("GET", segmentsPath, { auth: false }),
        401,
        "/problems/unauthenticated"
      )
    }))

  it.effect("the list pages by name or by creation time, with exact totals and type filters", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* sql`DELETE FROM customer_segment_references`.pipe(Effect.orDie)
      yield* sql`DELETE FROM customer_segments`.pipe(Effect.orDie)
      const names = ["delta", "Alpha", "charlie", "Bravo", "echo"]
      const created: Array<SegmentBody> = []
      for (const [index, name] of names.entries()) {
        created.push(yield* createSegment(index % 2 === 0 ? dynamicSegment({ name }) : manualSegment({ name })))
      }
      const pages = (query: string) =>
        Effect.gen(function*() {
          const seen: Array<string> = []
          let cursor: string | null = null
          let total = 0
          do {
            const response: Response = yield* call(
              "GET",
              `${segmentsPath}?${query}&limit=2${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`
            )
            assert.strictEqual(response.status, 200)
            const page = yield* json<SegmentPageBody>(response)
            assert.isAtMost(page.data.length, 2)
            seen.push(...page.data.map((segment) => segment.name))
            cursor = page.nextCursor
            total = page.total
          } while (cursor !== null)
          return { seen, total }
        })
      const byName = yield* pages("sort=name")
      assert.deepStrictEqual(byName.seen, [...names].sort())
      assert.strictEqual(byName.total, 5)
      assert.deepStrictEqual((yield* pages("sort=-name")).seen, [...names].sort().reverse())
      assert.deepStrictEqual((yield* pages("sort=createdAt")).seen, names)
      assert.deepStrictEqual((yield* pages("sort=-createdAt")).seen, [...names].reverse())
      const manual = yield* pages("type=manual&sort=createdAt")
      assert.deepStrictEqual(manual.seen, ["Alpha", "Bravo"])
      assert.strictEqual(manual.total, 2)
      // A cursor belongs to its sort.
      const first = yield* json<{ readonly nextCursor: string }>(yield* call("GET", `${segmentsPath}?sort=name&limit=1`))
      const problem = yield* expectProblem(
        yield* call("GET", `${segmentsPath}?sort=createdAt&cursor=${encodeURIComponent(first.nextCursor)}`),
        400,
        "/problems/invalid-cursor"
      )
      assert.strictEqual(problem.field, "cursor")
      const invalid = yield* expectProblem(yield* call("GET", `${segmentsPath}?limit=201`), 400, "/problems/invalid-request")
      assert.deepStrictEqual(invalidPaths(invalid), ["query.limit"])
    }))
})
