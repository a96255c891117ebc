/** Consent and segment membership as the consent tests state and read them, through the API. */
import { assert } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { ConsentChange } from "../../src/domain/Consent.ts"
import { customersPath } from "./Customers.ts"
import { testServiceWithDatabase } from "./Database.ts"
import { durableConsumerCleanup } from "./Destinations.ts"
import { eventually } from "./Eventually.ts"
import { call } from "./Http.ts"
import { type SegmentBody, segmentPath } from "./SegmentsApi.ts"
import { json } from "./TestService.ts"

/** One purpose's choice, as a person gives it on a web form (`overrides` on top). */
export const choice = (
  purpose: string,
  status: "granted" | "withdrawn",
  overrides: Partial<ConsentChange> = {}
): ConsentChange => ({
  purpose,
  status,
  legalBasis: "consent",
  source: "web-form",
  policyVersion: "2026-01",
  ...overrides
})

/** Records the choices as a service would; anything but 200 fails the test. */
export const setConsent = (id: string, ...changes: ReadonlyArray<ConsentChange>) =>
  Effect.gen(function*() {
    const response = yield* call("PUT", `${customersPath}/${id}/consent`, { body: { changes }, role: "service" })
    assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.clone().text()))
  })

export const taggedWith = (tag: string) => ({ kind: "tags", match: "any", tags: [tag] })

/** The ids of the segment's current members, sorted. */
export const members = (segmentId: string) =>
  Effect.gen(function*() {
    const response = yield* call("GET", `${segmentPath(segmentId)}/customers?limit=100`)
    assert.strictEqual(response.status, 200)
    const page = yield* json<{ readonly data: ReadonlyArray<{ readonly id?: string; readonly customerId?: string }> }>(response)
    return page.data.map((member) => member.customerId ?? member.id ?? "").sort()
  })

/** Waits for the segment's first calculation. */
export const calculated = (segmentId: string) =>
  eventually(
    "the first calculation",
    Effect.flatMap(call("GET", segmentPath(segmentId)), (response) => json<SegmentBody>(response)),
    (read) => read.lastCalculatedAt !== null
  )

/**
 * The service as the enforcement tests run it: webhooks to loopback through the test file's own durable consumer
 * (deleted after), failed attempts retried only after 30 s (so a failing receiver keeps deliveries queued), and
 * calculations and real-time rounds polled often. `env` adds to it.
 */
export const enforcingService = (durable: string, env: Record<string, string> = {}) =>
  testServiceWithDatabase({
    env: {
      DESTINATIONS_ALLOW_PRIVATE_NETWORKS: "true",
      DESTINATIONS_CONSUMER: durable,
      DESTINATION_POLL_SECONDS: "0.1",
      DESTINATION_RETRY_BASE_SECONDS: "30",
      DESTINATION_MAX_ATTEMPTS: "5",
      DESTINATION_TIMEOUT_SECONDS: "2",
      SEGMENT_CALCULATION_POLL_SECONDS: "0.2",
      SEGMENT_REALTIME_POLL: "200 millis",
      SEGMENT_REALTIME_RETRY: "300 millis",
      ...env
    }
  }).pipe(Layer.provideMerge(durableConsumerCleanup(durable)))
