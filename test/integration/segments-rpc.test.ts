/**
 * The segment operations over the typed RPC client (src/client): the same
 * rules and errors as REST, errors decoded into the domain's classes, and the
 * door's limit on membership changes per request.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import {
  CustomerId,
  CustomerNotFound,
  Forbidden,
  InvalidSegmentCriteria,
  SegmentCalculationId,
  SegmentCalculationNotFound,
  SegmentId,
  SegmentInUse,
  SegmentNameTaken,
  SegmentNotDynamic,
  SegmentNotFound,
  SegmentNotManual,
  SegmentVersionConflict
} from "../../src/client/index.ts"
import type { Role } from "../../src/domain/Access.ts"
import type { Criterion } from "../../src/domain/SegmentCriteria.ts"
import { newCustomer, unique } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { type RpcClient, withRpcClient } from "../support/Rpc.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer } from "../support/Http.ts"
import { definitionOf, type SegmentBody, segmentPath } from "../support/SegmentsApi.ts"
import { json } from "../support/TestService.ts"

const withClient = <A, E>(use: (client: RpcClient) => Effect.Effect<A, E>, role: Role = "admin") =>
  withRpcClient(use, role)

const country = (code: "GB" | "FR"): Criterion => ({ kind: "country", in: [code] })

layer(testServiceWithDatabase({ nats: false }), { excludeTestServices: true })("segments over typed RPC", (it) => {
  it.effect("create, read, list, update and delete round trip, and REST serves the same segment", () =>
    Effect.gen(function*() {
      const name = `Rpc buyers ${unique()}`
      const created = yield* withClient((client) =>
        client.CreateSegment({ input: { name, type: "dynamic", criteria: country("GB") } })
      )
      assert.strictEqual(created.version, 1)
      assert.deepStrictEqual(created.criteria, country("GB"))
      const rest = yield* call("GET", segmentPath(created.id))
      assert.deepStrictEqual(definitionOf(yield* json<SegmentBody>(rest)), definitionOf(JSON.parse(JSON.stringify(created))))
      assert.deepStrictEqual(
        definitionOf(yield* withClient((client) => client.GetSegment({ id: created.id }))),
        definitionOf(created)
      )

      const updated = yield* withClient((client) =>
        client.UpdateSegment({ id: created.id, update: { criteria: country("FR"), description: "moved" }, expectedVersion: 1 })
      )
      assert.strictEqual(updated.version, 2)
      assert.strictEqual(updated.description, "moved")

      const page = yield* withClient((client) => client.ListSegments({ type: "dynamic", sort: "-createdAt", limit: 10 }))
      assert.include(page.data.map((segment) => segment.id), created.id)

      yield* withClient((client) => client.DeleteSegment({ id: created.id, expectedVersion: 2 }))
      const gone = yield* withClient((client) => client.GetSegment({ id: created.id })).pipe(Effect.flip)
      assert.instanceOf(gone, SegmentNotFound)
      assert.strictEqual((gone as SegmentNotFound).segmentId, created.id)
    }))

  it.effect("a stale expectedVersion fails with a SegmentVersionConflict catchable by its tag", () =>
    Effect.gen(function*() {
      const created = yield* withClient((client) =>
        client.CreateSegment({ input: { name: `Rpc stale ${unique()}`, type: "manual" } })
      )
      yield* withClient((client) => client.UpdateSegment({ id: created.id, update: { description: "first" } }))
      const conflict = yield* withClient((client) =>
        client.UpdateSegment({ id: created.id, update: { description: "second" }, expectedVersion: 1 })
      ).pipe(
        Effect.map(() => undefined),
        Effect.catchTag("SegmentVersionConflict", (error) => Effect.succeed(error))
      )
      assert.instanceOf(conflict, SegmentVersionConflict)
      assert.strictEqual(conflict!.expectedVersion, 1)
      assert.strictEqual(conflict!.currentVersion, 2)
    }))

  it.effect("typed errors: name taken, unknown reference with its path, in use, not manual, forbidden", () =>
    Effect.gen(function*() {
      const name = `Rpc unique ${unique()}`
      const manual = yield* withClient((client) => client.CreateSegment({ input: { name, type: "manual" } }))
      const taken = yield* withClient((client) =>
        client.CreateSegment({ input: { name: name.toUpperCase(), type: "manual" } })
      ).pipe(Effect.flip)
      assert.instanceOf(taken, SegmentNameTaken)

      const missing = SegmentId.make(crypto.randomUUID())
      const invalid = yield* withClient((client) =>
        client.CreateSegment({
          input: {
            name: `Rpc refs ${unique()}`,
            type: "dynamic",
            criteria: { kind: "not", criterion: { kind: "segment", segmentId: missing } }
          }
        })
      ).pipe(Effect.flip)
      assert.instanceOf(invalid, InvalidSegmentCriteria)
      assert.deepStrictEqual((invalid as InvalidSegmentCriteria).errors.map((entry) => entry.path), [[
        "criteria",
        "criterion",
        "segmentId"
      ]])

      yield* withClient((client) =>
        client.CreateSegment({
          input: {
            name: `Rpc referring ${unique()}`,
            type: "dynamic",
            criteria: { kind: "segment", segmentId: manual.id }
          }
        })
      )
      const inUse = yield* withClient((client) => client.DeleteSegment({ id: manual.id })).pipe(Effect.flip)
      assert.instanceOf(inUse, SegmentInUse)

      const dynamic = yield* withClient((client) =>
        client.CreateSegment({ input: { name: `Rpc dynamic ${unique()}`, type: "dynamic", criteria: country("GB") } })
      )
      const customer = yield* createCustomer()
      const notManual = yield* withClient((client) =>
        client.ChangeSegmentMembers({ segmentId: dynamic.id, action: "add", customerIds: [customer.id] })
      ).pipe(Effect.flip)
      assert.instanceOf(notManual, SegmentNotManual)

      const forbidden = yield* withClient(
        (client) => client.CreateSegment({ input: { name: `Rpc agent ${unique()}`, type: "manual" } }),
        "agent"
      ).pipe(Effect.flip)
      assert.instanceOf(forbidden, Forbidden)
      assert.strictEqual((forbidden as Forbidden).permission, "segments:manage")
    }))

  it.effect("bulk membership and a customer's segments", () =>
    Effect.gen(function*() {
      const segment = yield* withClient((client) =>
        client.CreateSegment({ input: { name: `Rpc members ${unique()}`, type: "manual" } })
      )
      const customer = yield* createCustomer()
      const unknown = CustomerId.make(crypto.randomUUID())
      const changes = yield* withClient((client) =>
        client.ChangeSegmentMembers({ segmentId: segment.id, action: "add", customerIds: [customer.id, unknown] })
      )
      assert.deepStrictEqual(changes.results.map((result) => result.outcome), ["added", "customer-not-found"])
      assert.strictEqual(changes.memberCount, 1)
      const mine = yield* withClient((client) => client.ListCustomerSegments({ id: customer.id }), "analyst")
      assert.deepStrictEqual(mine.data.map((item) => item.id), [segment.id])
      const notFound = yield* withClient((client) => client.ListCustomerSegments({ id: unknown })).pipe(Effect.flip)
      assert.instanceOf(notFound, CustomerNotFound)
    }))

  it.effect("calculation: queue, poll, page the members; a manual segment and an unknown job are typed errors", () =>
    Effect.gen(function*() {
      const tag = `rpc-${unique()}`
      const customer = yield* createCustomer(newCustomer({ tags: [tag] }))
      const segment = yield* withClient((client) =>
        client.CreateSegment({
          input: { name: `Rpc calculated ${unique()}`, type: "dynamic", criteria: { kind: "tags", match: "any", tags: [tag] } }
        })
      )
      const job = yield* withClient((client) => client.CalculateSegment({ id: segment.id }))
      assert.strictEqual(job.segmentId, segment.id)
      const done = yield* eventually(
        "the calculation",
        withClient((client) => client.GetSegmentCalculation({ id: segment.id, calculationId: job.id }), "analyst"),
        (read) => read.status === "succeeded"
      )
      assert.strictEqual(done.members, 1)
      const members = yield* withClient((client) => client.ListSegmentMembers({ id: segment.id, limit: 10 }))
      assert.deepStrictEqual(members.data.map((member) => member.customerId), [customer.id])
      assert.isNull(members.nextCursor)

      const manual = yield* withClient((client) =>
        client.CreateSegment({ input: { name: `Rpc by hand ${unique()}`, type: "manual" } })
      )
      const notDynamic = yield* withClient((client) => client.CalculateSegment({ id: manual.id })).pipe(Effect.flip)
      assert.instanceOf(notDynamic, SegmentNotDynamic)
      const unknownJob = yield* withClient((client) =>
        client.GetSegmentCalculation({ id: segment.id, calculationId: SegmentCalculationId.make(crypto.randomUUID()) })
      ).pipe(Effect.flip)
      assert.instanceOf(unknownJob, SegmentCalculationNotFound)
      const forbidden = yield* withClient((client) => client.CalculateSegment({ id: segment.id }), "agent").pipe(
        Effect.flip
      )
      assert.instanceOf(forbidden, Forbidden)
    }))

  it.effect("an invalid node is refused before the call runs, with its path in the RPC body", () =>
    Effect.gen(function*() {
      const response = yield* call("POST", "/api/v1/rpc", {
        body: [{
          _tag: "Request",
          id: "1",
          tag: "CreateSegment",
          payload: {
            input: {
              name: `Rpc invalid ${unique()}`,
              type: "dynamic",
              criteria: { kind: "any", criteria: [{ kind: "age", atLeast: 200 }] }
            }
          },
          headers: []
        }]
      })
      assert.strictEqual(response.status, 400)
      const problem = yield* json<{ readonly type: string; readonly errors: ReadonlyArray<{ readonly path: ReadonlyArray<unknown> }> }>(
        response
      )
      assert.strictEqual(problem.type, "/problems/invalid-request")
      assert.deepStrictEqual(problem.errors.map((entry) => entry.path), [[
        "body",
        0,
        "payload",
        "input",
        "criteria",
        "criteria",
        0,
        "atLeast"
      ]])
    }))

  it.effect("one request changes at most 10,000 members in all, however many calls carry them", () =>
    Effect.gen(function*() {
      const segment = yield* withClient((client) =>
        client.CreateSegment({ input: { name: `Rpc limit ${unique()}`, type: "manual" } })
      )
      const ids = (count: number) => Array.from({ length: count }, () => crypto.randomUUID())
      const callOf = (id: string, customerIds: ReadonlyArray<string>) => ({
        _tag: "Request",
        id,
        tag: "ChangeSegmentMembers",
        payload: { segmentId: segment.id, action: "add", customerIds },
        headers: []
      })
      const response = yield* call("POST", "/api/v1/rpc", { body: [callOf("1", ids(6_000)), callOf("2", ids(4_001))] })
      assert.strictEqual(response.status, 400)
      const problem = yield* json<{ readonly detail: string }>(response)
      assert.include(problem.detail, "10000")
      const within = yield* call("POST", "/api/v1/rpc", { body: [callOf("1", ids(6_000)), callOf("2", ids(4_000))] })
      assert.strictEqual(within.status, 200)
    }))
})
