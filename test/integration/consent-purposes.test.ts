/**
 * Every consent purpose enforced, on the real database and NATS, beside analytics and marketing
 * (consent-enforcement.test.ts):
 * - personalisation withdrawn: no next-best action is derived, on REST and RPC, while the analytics stay;
 * - third-party-sharing: a destination marked as a third party receives only customers who granted sharing, at
 *   fan-out, on withdrawal and when it is marked;
 * - a segment's required purposes (custom ones included): no member without each of them, in the calculation
 *   and in real time.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { CustomerInsights } from "../../src/domain/Analytics.ts"
import type { Destination } from "../../src/domain/Destination.ts"
import { customersPath, newCustomer, unique } from "../support/Customers.ts"
import { calculated, choice, enforcingService, members, setConsent, taggedWith } from "../support/Consent.ts"
import {
  createDestination,
  destinationPath,
  durableConsumerReady,
  receiver
} from "../support/Destinations.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer, expectProblem } from "../support/Http.ts"
import { withRpcClient } from "../support/Rpc.ts"
import {
  createSegment,
  dynamicSegment,
  manualSegment,
  type SegmentBody,
  segmentPath
} from "../support/SegmentsApi.ts"
import { json } from "../support/TestService.ts"

const durable = `test-purposes-${unique()}`

// --- personalisation -------------------------------------------------------------------------------------

const insightsOf = (id: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${customersPath}/${id}/insights`, { role: "analyst" })
    assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.clone().text()))
    return yield* json<CustomerInsights>(response)
  })

/** Five page views in the last hours and no purchase: the rules recommend a first-purchase incentive. */
const activeNonBuyer = Effect.gen(function*() {
  const customer = yield* createCustomer(newCustomer())
  const events = Array.from({ length: 5 }, (_, index) => ({
    customerId: customer.id,
    type: "page_view",
    occurredAt: new Date(Date.now() - (index + 1) * 60_000).toISOString()
  }))
  const response = yield* call("POST", "/api/v1/events/batch", { body: { events }, role: "service" })
  assert.strictEqual(response.status, 200)
  yield* eventually("the fold", insightsOf(customer.id), (insights) => insights.recommendations.length > 0)
  return customer
})

// --- third parties ---------------------------------------------------------------------------------------

/** The customer ids the receiver was sent for the segment, per event type. */
const sentFor = (received: ReadonlyArray<{ readonly body: string }>, segmentId: string, type = "segment.joined") =>
  received
    .map((request) => JSON.parse(request.body) as { readonly type: string; readonly segmentId: string; readonly customerIds: ReadonlyArray<string> })
    .filter((body) => body.segmentId === segmentId && body.type === type)
    .flatMap((body) => body.customerIds)
    .sort()

/** A destination's deliveries: status and the ids each names. */
const deliveriesOf = (destinationId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly status: string; readonly ids: ReadonlyArray<string> }>`SELECT status,
        ARRAY(SELECT jsonb_array_elements_text(payload::jsonb -> 'customerIds')) AS ids
      FROM destination_deliveries WHERE destination_id = ${destinationId}`.pipe(Effect.orDie))

const namedIn = (rows: ReadonlyArray<{ readonly ids: ReadonlyArray<string> }>) => new Set(rows.flatMap((row) => row.ids))

layer(
  enforcingService(durable),
  { excludeTestServices: true, timeout: 90_000 }
)("consent purposes", (it) => {
  // --- personalisation ---------------------------------------------------------------------------------

  it.effect("personalisation withdrawn: insights carry no recommendation and say why; patterns and risks stay", () =>
    Effect.gen(function*() {
      const customer = yield* activeNonBuyer
      const before = yield* insightsOf(customer.id)
      assert.isNull(before.recommendationsWithheld)

      yield* setConsent(customer.id, choice("personalisation", "withdrawn"))
      const after = yield* insightsOf(customer.id)
      assert.deepStrictEqual(after.recommendations, [])
      assert.strictEqual(after.recommendationsWithheld, "personalisation-consent-withdrawn")
      assert.deepStrictEqual(after.patterns, before.patterns)
      assert.deepStrictEqual(after.riskFactors, before.riskFactors)
    }))

  it.effect("personalisation withdrawn: RPC's insights withhold the recommendations the same way", () =>
    Effect.gen(function*() {
      const customer = yield* activeNonBuyer
      yield* setConsent(customer.id, choice("personalisation", "withdrawn"))
      const insights = yield* withRpcClient((client) => client.GetCustomerInsights({ id: customer.id }), "analyst")
      assert.deepStrictEqual(insights.recommendations, [])
      assert.strictEqual(insights.recommendationsWithheld, "personalisation-consent-withdrawn")
    }))

  it.effect("personalisation granted again: the recommendations come back", () =>
    Effect.gen(function*() {
      const customer = yield* activeNonBuyer
      yield* setConsent(customer.id, choice("personalisation", "withdrawn"))
      yield* setConsent(customer.id, choice("personalisation", "granted"))
      const insights = yield* insightsOf(customer.id)
      assert.isNull(insights.recommendationsWithheld)
      assert.include(insights.recommendations.map((item) => item.action), "first-purchase-incentive")
    }))

  it.effect("analytics withdrawn still refuses the whole insights (409), personalisation or not", () =>
    Effect.gen(function*() {
      const customer = yield* activeNonBuyer
      yield* setConsent(customer.id, choice("personalisation", "withdrawn"), choice("analytics", "withdrawn"))
      yield* expectProblem(
        yield* call("GET", `${customersPath}/${customer.id}/insights`, { role: "analyst" }),
        409,
        "/problems/analytics-consent-withdrawn"
      )
    }))

  // --- third-party-sharing -----------------------------------------------------------------------------

  it.effect("a destination is not a third party unless marked; the mark is read back on REST and RPC", () =>
    Effect.gen(function*() {
      const own = yield* createDestination({ url: "http://127.0.0.1:9/own" })
      assert.isFalse(own.thirdParty)
      const partner = yield* createDestination({ url: "http://127.0.0.1:9/partner", thirdParty: true })
      assert.isTrue(partner.thirdParty)
      const read = yield* json<Destination>(yield* call("GET", destinationPath(partner.id)))
      assert.isTrue(read.thirdParty)
      const viaRpc = yield* withRpcClient((client) => client.GetDestination({ id: partner.id }), "analyst")
      assert.isTrue(viaRpc.thirdParty)
      const marked = yield* withRpcClient(
        (client) => client.UpdateDestination({ id: own.id, update: { thirdParty: true } }),
        "admin"
      )
      assert.isTrue(marked.thirdParty)
    }))

  it.effect("a third party is sent only the customers who granted third-party-sharing; the owner's system all", () =>
    Effect.gen(function*() {
      const ownHooks = yield* receiver()
      const partnerHooks = yield* receiver()
      yield* durableConsumerReady(durable)
      // Every segment's events: the segment below is calculated at its creation.
      yield* createDestination({ url: ownHooks.url })
      yield* createDestination({ url: partnerHooks.url, thirdParty: true })
      const tag = `share-${unique()}`
      const sharing = yield* createCustomer(newCustomer({ tags: [tag] }))
      const withdrew = yield* createCustomer(newCustomer({ tags: [tag] }))
      const neverAsked = yield* createCustomer(newCustomer({ tags: [tag] }))
      yield* setConsent(sharing.id, choice("third-party-sharing", "granted"))
      yield* setConsent(withdrew.id, choice("third-party-sharing", "withdrawn"))

      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      const all = [sharing.id, withdrew.id, neverAsked.id].sort()
      yield* eventually("the owner's system's joins", Effect.sync(() => sentFor(ownHooks.received, segment.id)), (ids) =>
        ids.length === 3)
      assert.deepStrictEqual(sentFor(ownHooks.received, segment.id), all)
      yield* eventually("the partner's joins", Effect.sync(() => sentFor(partnerHooks.received, segment.id)), (ids) =>
        ids.length > 0)
      assert.deepStrictEqual(sentFor(partnerHooks.received, segment.id), [sharing.id])

      // Leaves alike: the customer without consent leaves, and the partner is told nothing of it.
      const leaving = yield* call("PATCH", `${customersPath}/${neverAsked.id}`, { body: { tags: [] } })
      assert.strictEqual(leaving.status, 200)
      yield* eventually("the owner's system's leave", Effect.sync(() => sentFor(ownHooks.received, segment.id, "segment.left")), (ids) =>
        ids.length === 1)
      yield* Effect.sleep("500 millis")
      assert.deepStrictEqual(sentFor(partnerHooks.received, segment.id, "segment.left"), [])
    }))

  it.effect("third-party-sharing withdrawn: a third party's queued deliveries lose the customer's id", () =>
    Effect.gen(function*() {
      // The partner fails: its joins wait for their next attempt, queued.
      const partnerHooks = yield* receiver(() => 503)
      yield* durableConsumerReady(durable)
      const tag = `share-${unique()}`
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      yield* calculated(segment.id)
      const partner = yield* createDestination({ url: partnerHooks.url, segmentId: segment.id, thirdParty: true })
      const stays = yield* createCustomer(newCustomer())
      const withdraws = yield* createCustomer(newCustomer())
      for (const customer of [stays, withdraws]) {
        yield* setConsent(customer.id, choice("third-party-sharing", "granted"))
        const tagged = yield* call("PATCH", `${customersPath}/${customer.id}`, { body: { tags: [tag] } })
        assert.strictEqual(tagged.status, 200)
      }
      yield* eventually("both joins queued for the partner", deliveriesOf(partner.id), (rows) =>
        namedIn(rows).has(stays.id) && namedIn(rows).has(withdraws.id))

      yield* setConsent(withdraws.id, choice("third-party-sharing", "withdrawn"))
      const after = yield* deliveriesOf(partner.id)
      assert.isFalse(namedIn(after).has(withdraws.id))
      assert.isTrue(namedIn(after.filter((row) => row.status === "pending")).has(stays.id))
      // A delivery that named only them is dropped, never sent.
      for (const row of after.filter((row) => row.status === "erased")) assert.deepStrictEqual(row.ids, [])
    }))

  it.effect("marking a destination as a third party withholds, from what it has still to receive, those not sharing", () =>
    Effect.gen(function*() {
      const hooks = yield* receiver(() => 503)
      yield* durableConsumerReady(durable)
      const tag = `share-${unique()}`
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      yield* calculated(segment.id)
      const destination = yield* createDestination({ url: hooks.url, segmentId: segment.id })
      const sharing = yield* createCustomer(newCustomer({ tags: [tag] }))
      const notSharing = yield* createCustomer(newCustomer({ tags: [tag] }))
      yield* setConsent(sharing.id, choice("third-party-sharing", "granted"))
      yield* eventually("the joins queued", deliveriesOf(destination.id), (rows) =>
        namedIn(rows).has(sharing.id) && namedIn(rows).has(notSharing.id))

      const marked = yield* call("PATCH", destinationPath(destination.id), { body: { thirdParty: true } })
      assert.strictEqual(marked.status, 200)
      assert.isTrue((yield* json<Destination>(marked)).thirdParty)
      const after = yield* deliveriesOf(destination.id)
      assert.isFalse(namedIn(after).has(notSharing.id))
      assert.isTrue(namedIn(after).has(sharing.id))
    }))

  // --- a segment's required purposes -------------------------------------------------------------------

  it.effect("a segment requiring a custom purpose holds only the customers who granted it", () =>
    Effect.gen(function*() {
      const tag = `purpose-${unique()}`
      const granted = yield* createCustomer(newCustomer({ tags: [tag] }))
      const withdrawn = yield* createCustomer(newCustomer({ tags: [tag] }))
      yield* createCustomer(newCustomer({ tags: [tag] }))
      yield* setConsent(granted.id, choice("custom:newsletter", "granted"))
      yield* setConsent(withdrawn.id, choice("custom:newsletter", "withdrawn"))
      const segment = yield* createSegment(dynamicSegment({
        criteria: taggedWith(tag),
        requiredPurposes: ["custom:newsletter"]
      }))
      assert.deepStrictEqual(segment.requiredPurposes, ["custom:newsletter"])
      assert.isFalse(segment.marketing)
      yield* calculated(segment.id)
      assert.deepStrictEqual(yield* members(segment.id), [granted.id])
    }))

  it.effect("in real time: withdrawing a required purpose leaves the segment, granting it again joins", () =>
    Effect.gen(function*() {
      const tag = `purpose-${unique()}`
      const customer = yield* createCustomer(newCustomer({ tags: [tag] }))
      yield* setConsent(customer.id, choice("personalisation", "granted"))
      const segment = yield* createSegment(dynamicSegment({
        criteria: taggedWith(tag),
        requiredPurposes: ["personalisation"]
      }))
      yield* calculated(segment.id)
      assert.deepStrictEqual(yield* members(segment.id), [customer.id])

      yield* setConsent(customer.id, choice("personalisation", "withdrawn"))
      yield* eventually("the leave", members(segment.id), (ids) => ids.length === 0)
      yield* setConsent(customer.id, choice("personalisation", "granted"))
      yield* eventually("the join", members(segment.id), (ids) => ids.length === 1)
    }))

  it.effect("changing the required purposes recalculates the members", () =>
    Effect.gen(function*() {
      const tag = `purpose-${unique()}`
      const sharing = yield* createCustomer(newCustomer({ tags: [tag] }))
      yield* createCustomer(newCustomer({ tags: [tag] }))
      yield* setConsent(sharing.id, choice("third-party-sharing", "granted"))
      const segment = yield* createSegment(dynamicSegment({ criteria: taggedWith(tag) }))
      yield* calculated(segment.id)
      assert.strictEqual((yield* members(segment.id)).length, 2)
      const changed = yield* call("PATCH", segmentPath(segment.id), { body: { requiredPurposes: ["third-party-sharing"] } })
      assert.strictEqual(changed.status, 200)
      assert.deepStrictEqual((yield* json<SegmentBody>(changed)).requiredPurposes, ["third-party-sharing"])
      yield* eventually("the recalculation", members(segment.id), (ids) => ids.length === 1)
      assert.deepStrictEqual(yield* members(segment.id), [sharing.id])
    }))

  it.effect("marketing: true is marketing among the required purposes, both ways; a contradiction is refused", () =>
    Effect.gen(function*() {
      const flagged = yield* createSegment(dynamicSegment({ marketing: true, requiredPurposes: ["custom:surveys"] }))
      assert.isTrue(flagged.marketing)
      assert.deepStrictEqual(flagged.requiredPurposes, ["custom:surveys", "marketing"])
      const listed = yield* createSegment(dynamicSegment({ requiredPurposes: ["marketing"] }))
      assert.isTrue(listed.marketing)
      const unflagged = yield* json<SegmentBody>(
        yield* call("PATCH", segmentPath(flagged.id), { body: { marketing: false } })
      )
      assert.isFalse(unflagged.marketing)
      assert.deepStrictEqual(unflagged.requiredPurposes, ["custom:surveys"])
      const contradiction = yield* call("POST", "/api/v1/customers/segments", {
        body: dynamicSegment({ marketing: false, requiredPurposes: ["marketing"] })
      })
      yield* expectProblem(contradiction, 422, "/problems/invalid-segment-criteria")
    }))

  it.effect("a manual segment requires no purposes; an unknown purpose or one twice is refused", () =>
    Effect.gen(function*() {
      const created = yield* call("POST", "/api/v1/customers/segments", {
        body: manualSegment({ requiredPurposes: ["analytics"] })
      })
      yield* expectProblem(created, 400, "/problems/invalid-request")
      const manual = yield* createSegment(manualSegment())
      const changed = yield* call("PATCH", segmentPath(manual.id), { body: { requiredPurposes: ["analytics"] } })
      yield* expectProblem(changed, 422, "/problems/invalid-segment-criteria")
      for (const requiredPurposes of [["newsletter"], ["analytics", "analytics"]]) {
        const refused = yield* call("POST", "/api/v1/customers/segments", { body: dynamicSegment({ requiredPurposes }) })
        yield* expectProblem(refused, 400, "/problems/invalid-request")
      }
    }))

  it.effect("RPC: a segment is created and changed with required purposes", () =>
    Effect.gen(function*() {
      const created = yield* withRpcClient((client) =>
        client.CreateSegment({
          input: {
            name: `Purposes ${unique()}`,
            type: "dynamic",
            criteria: { kind: "tags", match: "any", tags: ["vip"] },
            requiredPurposes: ["custom:loyalty"]
          }
        }), "admin")
      assert.deepStrictEqual(created.requiredPurposes, ["custom:loyalty"])
      const changed = yield* withRpcClient((client) =>
        client.UpdateSegment({ id: created.id, update: { marketing: true } }), "admin")
      assert.deepStrictEqual(changed.requiredPurposes, ["custom:loyalty", "marketing"])
    }))
})
