/**
 * Calling the segment endpoints in tests: fixtures for a valid dynamic or
 * manual segment, and creating one through the API.
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import type { Segment } from "../../src/domain/Segment.ts"
import { unique } from "./Customers.ts"
import { call } from "./Http.ts"
import { json } from "./TestService.ts"

/** A segment as the API sends it: the JSON. */
export type SegmentBody = typeof Segment.Encoded

export const segmentsPath = "/api/v1/customers/segments"
export const bulkSegmentsPath = "/api/v1/customers/bulk/segments"

export const segmentPath = (id: string) => `${segmentsPath}/${id}`

export const ukBuyers = {
  kind: "all",
  criteria: [
    { kind: "country", in: ["GB"] },
    { kind: "eventCount", type: "purchase", window: { lastDays: 30 }, atLeast: 3 }
  ]
}

/** A valid dynamic segment body with a name no other test uses. */
export const dynamicSegment = (overrides: Record<string, unknown> = {}) => ({
  name: `Buyers ${unique()}`,
  type: "dynamic",
  criteria: ukBuyers,
  ...overrides
})

export const manualSegment = (overrides: Record<string, unknown> = {}) => ({
  name: `Hand-picked ${unique()}`,
  type: "manual",
  ...overrides
})

/** Creates a segment through the API; anything but 201 fails the test. */
export const createSegment = (body: unknown = dynamicSegment()) =>
  Effect.gen(function*() {
    const response = yield* call("POST", segmentsPath, { body })
    const text = yield* Effect.promise(() => response.clone().text())
    assert.strictEqual(response.status, 201, text)
    return yield* json<SegmentBody>(response)
  })

/**
 * A segment without what its calculation changes (the members' count, when they were calculated): creating a
 * dynamic segment queues a calculation, which may finish between two reads.
 */
export const definitionOf = <S extends { readonly memberCount: number; readonly lastCalculatedAt: string | null }>(
  segment: S
): Omit<S, "memberCount" | "lastCalculatedAt"> => {
  const { lastCalculatedAt: _calculatedAt, memberCount: _count, ...definition } = segment
  return definition
}

/** The segment node naming another segment. */
export const memberOf = (segmentId: string) => ({ kind: "segment", segmentId })
