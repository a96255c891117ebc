/**
 * The OpenAPI document says what the server answers: for every operation in
 * the served document, a success and (where it declares any) an error answer
 * captured from the running service validate against the document (status,
 * media type, headers, body). An operation added without an entry below fails
 * the coverage test, so no endpoint slips by undocumented or untested.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { openApiDocument } from "../../src/api/Documentation.ts"
import { customersPath, newCustomer, uniqueEmail } from "../support/Customers.ts"
import { outboxRows, testServiceWithDatabase } from "../support/Database.ts"
import { createDestination, destinationPath, destinationsPath } from "../support/Destinations.ts"
import type { DataExportJob } from "../../src/domain/DataExportJob.ts"
import { eventually } from "../support/Eventually.ts"
import { call, type CallOptions, createCustomer } from "../support/Http.ts"
import { expectDocumented, makeValidator, operationsOf } from "../support/OpenApi.ts"
import {
  bulkSegmentsPath,
  createSegment,
  dynamicSegment,
  manualSegment,
  segmentPath,
  segmentsPath
} from "../support/SegmentsApi.ts"
import { json, TestService } from "../support/TestService.ts"

const apiKeysPath = "/api/v1/api-keys"
const rpcPath = "/api/v1/rpc"
const unknownId = "0190a5e4-7c1a-7b3e-9f2d-4c8b1e6a0d35"
// No segment event reaches these destinations: nothing is ever sent here.
const receiverUrl = "http://127.0.0.1:9/hooks"

/** A request in the service's own terms; `text` goes out as it is, with the content type `headers` give. */
const send = (method: string, path: string, { text, ...options }: CallOptions & { readonly text?: string } = {}) =>
  text === undefined
    ? call(method, path, options)
    : Effect.flatMap(TestService, ({ request }) =>
      request(path, {
        method,
        body: text,
        headers: options.headers ?? {},
        ...(options.auth === false ? { auth: false } : {}),
        ...(options.role === undefined ? {} : { role: options.role })
      }))

const customerPath = (id: string) => `${customersPath}/${id}`

const issueKey = Effect.flatMap(
  call("POST", apiKeysPath, { body: { name: "contract test", role: "service" } }),
  (response) => json<{ readonly id: string }>(response)
)

const planPath = "/api/v1/tracking-plan/event-types"
const registerEventType = (type: string) =>
  send("PUT", `${planPath}/${type}`, { body: { propertiesSchema: { type: "object" }, mode: "refuse" } })

const dataExportsPath = "/api/v1/data-exports"
const requestedExport = Effect.flatMap(Effect.suspend(() => createCustomer()), ({ id }) =>
  Effect.flatMap(send("POST", `${customerPath(id)}/data/exports`), json<DataExportJob>))
/** An export the worker finished: its download link. */
const finishedExport = Effect.flatMap(requestedExport, ({ id }) =>
  eventually(
    "the export to be done",
    Effect.flatMap(send("GET", `${dataExportsPath}/${id}`), json<DataExportJob>),
    (job) => job.status === "done",
    60_000
  ))

const rpcCall = (tag: string, payload: unknown) => ({ _tag: "Request", id: "1", tag, payload, headers: [] })

/** For each operationId: how to provoke a success and, when the operation declares errors, an error. */
const answers: Record<string, {
  readonly success: Effect.Effect<Response, never, TestService | PgClient.PgClient>
  readonly error?: Effect.Effect<Response, never, TestService | PgClient.PgClient>
}> = {
  health: { success: send("GET", "/health", { auth: false }) },
  ready: {
    success: send("GET", "/ready", { auth: false }),
    // The database check fails while the outbox cannot be read.
    error: Effect.flatMap(PgClient.PgClient, (sql) =>
      Effect.acquireUseRelease(
        Effect.orDie(sql`ALTER TABLE outbox RENAME TO outbox_hidden`),
        () => send("GET", "/ready", { auth: false }),
        () => Effect.orDie(sql`ALTER TABLE outbox_hidden RENAME TO outbox`)
      ))
  },
  "customers.list": {
    success: Effect.andThen(createCustomer(), send("GET", `${customersPath}?limit=2&fields=id,email,name&sort=-createdAt`)),
    error: send("GET", `${customersPath}?limit=0`)
  },
  "customers.create": {
    success: send("POST", customersPath, { body: newCustomer(), headers: { "idempotency-key": "contract-create" } }),
    error: send("POST", customersPath, { text: "name=Ada", headers: { "content-type": "text/plain" } })
  },
  "customers.get": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("GET", customerPath(id))),
    error: send("GET", customerPath(unknownId))
  },
  "customers.replace": {
    success: Effect.flatMap(createCustomer(), (customer) =>
      send("PUT", customerPath(customer.id), {
        body: { email: customer.email, name: "Ada King" },
        headers: { "if-match": "\"v1\"" }
      })),
    error: Effect.flatMap(createCustomer(), (customer) =>
      send("PUT", customerPath(customer.id), { body: { email: customer.email, name: "Ada King" } }))
  },
  "customers.patch": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("PATCH", customerPath(id), { body: { tags: ["vip"] } })),
    // Not JSON Merge Patch: this PATCH replaces objects whole.
    error: Effect.flatMap(createCustomer(), ({ id }) =>
      send("PATCH", customerPath(id), {
        text: JSON.stringify({ tags: ["vip"] }),
        headers: { "content-type": "application/merge-patch+json" }
      }))
  },
  "customers.delete": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("DELETE", customerPath(id))),
    error: send("DELETE", customerPath(unknownId))
  },
  "customers.verifyEmail": {
    success: Effect.gen(function*() {
      const { id } = yield* createCustomer()
      yield* call("PATCH", customerPath(id), { body: { email: uniqueEmail("moved") } })
      const [requested] = yield* outboxRows(`customers.${id}.email-verification-requested`)
      return yield* send("POST", `${customerPath(id)}/email/verify`, { body: { token: requested.payload.token } })
    }),
    error: Effect.flatMap(createCustomer(), ({ id }) =>
      send("POST", `${customerPath(id)}/email/verify`, { body: { token: "not-the-token-that-was-sent" } }))
  },
  "apiKeys.list": {
    success: Effect.andThen(issueKey, send("GET", `${apiKeysPath}?limit=10`)),
    error: send("GET", apiKeysPath, { role: "analyst" })
  },
  "apiKeys.issue": {
    success: send("POST", apiKeysPath, { body: { name: "contract test", role: "service", expiresInDays: 30 } }),
    error: send("POST", apiKeysPath, { body: { name: "contract test", role: "service" }, auth: false })
  },
  "apiKeys.revoke": {
    success: Effect.flatMap(issueKey, ({ id }) => send("DELETE", `${apiKeysPath}/${id}`)),
    error: send("DELETE", `${apiKeysPath}/${unknownId}`)
  },
  "audit.customerEntries": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("GET", `${customerPath(id)}/audit?limit=5`)),
    error: send("GET", `${customerPath(unknownId)}/audit`, { role: "agent" })
  },
  "privacy.exportData": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("GET", `${customerPath(id)}/data`)),
    error: send("GET", `${customerPath(unknownId)}/data`)
  },
  "consent.getConsent": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("GET", `${customerPath(id)}/consent`)),
    error: send("GET", `${customerPath(unknownId)}/consent`)
  },
  "consent.changeConsent": {
    success: Effect.flatMap(createCustomer(), ({ id }) =>
      send("PUT", `${customerPath(id)}/consent`, {
        body: {
          changes: [{ purpose: "analytics", status: "withdrawn", legalBasis: "consent", source: "web-form", policyVersion: "1" }],
          reason: "contract test"
        }
      })),
    error: Effect.flatMap(createCustomer(), ({ id }) =>
      send("PUT", `${customerPath(id)}/consent`, {
        body: {
          changes: [{
            purpose: "marketing",
            status: "granted",
            legalBasis: "legitimate-interests",
            source: "web-form",
            policyVersion: "1"
          }]
        }
      }))
  },
  "consent.consentHistory": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("GET", `${customerPath(id)}/consent/history?limit=1`)),
    error: send("GET", `${customerPath(unknownId)}/consent/history`)
  },
  "privacy.eraseData": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("DELETE", `${customerPath(id)}/data`)),
    error: send("DELETE", `${customerPath(unknownId)}/data`)
  },
  "privacy.getErasure": {
    success: Effect.flatMap(createCustomer(), ({ id }) =>
      Effect.andThen(send("DELETE", `${customerPath(id)}/data`), send("GET", `${customerPath(id)}/erasure`))),
    error: send("GET", `${customerPath(unknownId)}/erasure`)
  },
  "privacy.anonymize": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("POST", `${customerPath(id)}/anonymize`, { body: {} })),
    error: send("POST", `${customerPath(unknownId)}/anonymize`, { body: {} })
  },
  "privacy.requestExport": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("POST", `${customerPath(id)}/data/exports`)),
    error: send("POST", `${customerPath(unknownId)}/data/exports`)
  },
  "dataExports.getExport": {
    success: Effect.flatMap(requestedExport, ({ id }) => send("GET", `${dataExportsPath}/${id}`)),
    error: send("GET", `${dataExportsPath}/${unknownId}`)
  },
  "dataExports.download": {
    success: Effect.flatMap(finishedExport, ({ download }) => send("GET", download!)),
    error: Effect.flatMap(finishedExport, ({ download }) => send("GET", download!, { role: "analyst" }))
  },
  "suppressions.lift": {
    success: Effect.gen(function*() {
      const input = newCustomer({ email: uniqueEmail("contract-lift") })
      const { id } = yield* createCustomer(input)
      yield* send("DELETE", `${customerPath(id)}/data`)
      return yield* send("POST", "/api/v1/suppressions/lift", { body: { email: input.email, reason: "contract" } })
    }),
    error: send("POST", "/api/v1/suppressions/lift", { body: { email: uniqueEmail("never-erased"), reason: "contract" } })
  },
  "audit.verify": {
    success: send("GET", "/api/v1/audit/verification"),
    error: send("GET", "/api/v1/audit/verification", { role: "analyst" })
  },
  "events.track": {
    success: Effect.flatMap(createCustomer(), ({ id }) =>
      send("POST", `${customerPath(id)}/track`, { body: { type: "page_view", properties: { path: "/" } } })),
    error: send("POST", `${customerPath(unknownId)}/track`, { body: { type: "page_view" } })
  },
  "events.trackBatch": {
    success: Effect.flatMap(createCustomer(), ({ id }) =>
      send("POST", "/api/v1/events/batch", { body: { events: [{ customerId: id, type: "sign_in" }] } })),
    error: send("POST", "/api/v1/events/batch", { body: { events: [] }, role: "analyst" })
  },
  "trackingPlan.list": {
    success: Effect.andThen(registerEventType("contract_listed"), send("GET", planPath)),
    error: send("GET", planPath, { auth: false })
  },
  "trackingPlan.get": {
    success: Effect.andThen(registerEventType("contract_read"), send("GET", `${planPath}/contract_read`)),
    error: send("GET", `${planPath}/never_registered`)
  },
  "trackingPlan.register": {
    success: registerEventType("contract_registered"),
    error: send("PUT", `${planPath}/contract_invalid`, { body: { propertiesSchema: { type: "objekt" }, mode: "flag" } })
  },
  "trackingPlan.remove": {
    success: Effect.andThen(registerEventType("contract_removed"), send("DELETE", `${planPath}/contract_removed`)),
    error: send("DELETE", `${planPath}/never_registered`)
  },
  "customerAnalytics.analytics": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("GET", `${customerPath(id)}/analytics`)),
    error: send("GET", `${customerPath(unknownId)}/analytics`)
  },
  "customerAnalytics.insights": {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("GET", `${customerPath(id)}/insights`)),
    error: send("GET", `${customerPath(unknownId)}/insights`)
  },
  "analytics.getClvModel": {
    // A fit over no purchases fails, and the model in force is the latest successful fit: one is inserted.
    success: Effect.andThen(
      Effect.flatMap(PgClient.PgClient, (sql) =>
        sql`INSERT INTO clv_models (id, status, trigger, period_from, period_to, customers, repeat_customers,
          r, alpha, a, b, bg_nbd_log_likelihood, p, q, v, gamma_gamma_log_likelihood, requested_at, started_at,
          finished_at, duration_ms, attempts)
          VALUES (gen_random_uuid(), 'succeeded', 'requested', '1997-01-01T00:00:00Z', '1997-10-01T00:00:00Z', 2357,
            946, 0.243, 4.414, 0.793, 2.426, -9582.4, 6.25, 3.74, 15.44, -4055.9, now(), now(), now(), 480, 1)`
          .pipe(Effect.orDie)),
      send("GET", "/api/v1/analytics/models/clv", { role: "analyst" })
    ),
    error: send("GET", "/api/v1/analytics/models/clv", { auth: false })
  },
  "analytics.fitClvModel": {
    success: send("POST", "/api/v1/analytics/models/clv/fit", {
      body: { from: "1997-01-01T00:00:00Z", to: "1997-10-01T00:00:00Z" },
      role: "analyst"
    }),
    error: send("POST", "/api/v1/analytics/models/clv/fit", {
      body: { from: "2026-01-01T00:00:00Z", to: "2025-01-01T00:00:00Z" }
    })
  },
  "events.timeline": {
    success: Effect.flatMap(createCustomer(), ({ id }) =>
      Effect.andThen(
        send("POST", `${customerPath(id)}/track`, { body: { type: "purchase", revenue: 1.5, currency: "EUR" } }),
        send("GET", `${customerPath(id)}/events?types=purchase&limit=10`)
      )),
    error: send("GET", `${customerPath(unknownId)}/events`)
  },
  "analytics.fleetReport": {
    success: send("GET", "/api/v1/analytics/fleet?period=week&from=2026-01-01&to=2026-02-01", { role: "analyst" }),
    error: send("GET", "/api/v1/analytics/fleet?period=year")
  },
  "analytics.cohortRetention": {
    success: send("GET", "/api/v1/analytics/cohorts?from=2026-01-01", { role: "service" }),
    error: send("GET", "/api/v1/analytics/cohorts", { auth: false })
  },
  "segments.list": {
    success: Effect.andThen(createSegment(manualSegment()), send("GET", `${segmentsPath}?sort=-createdAt&limit=1&type=manual`)),
    error: send("GET", `${segmentsPath}?cursor=not-a-cursor`)
  },
  "segments.create": {
    success: send("POST", segmentsPath, { body: dynamicSegment() }),
    error: send("POST", segmentsPath, {
      body: dynamicSegment({ criteria: { kind: "segment", segmentId: unknownId } })
    })
  },
  "segments.get": {
    success: Effect.flatMap(createSegment(), ({ id }) => send("GET", segmentPath(id))),
    error: send("GET", segmentPath(unknownId))
  },
  "segments.update": {
    success: Effect.flatMap(createSegment(), ({ id }) =>
      send("PATCH", segmentPath(id), { body: { description: "changed" }, headers: { "if-match": "\"v1\"" } })),
    error: Effect.flatMap(createSegment(), ({ id }) =>
      send("PATCH", segmentPath(id), { body: { description: "changed" }, headers: { "if-match": "\"v9\"" } }))
  },
  "segments.delete": {
    success: Effect.flatMap(createSegment(), ({ id }) => send("DELETE", segmentPath(id))),
    error: Effect.gen(function*() {
      const referenced = yield* createSegment(manualSegment())
      yield* createSegment(dynamicSegment({ criteria: { kind: "segment", segmentId: referenced.id } }))
      return yield* send("DELETE", segmentPath(referenced.id))
    })
  },
  "segments.customerSegments": {
    success: Effect.gen(function*() {
      const customer = yield* createCustomer()
      const segment = yield* createSegment(manualSegment())
      yield* send("POST", bulkSegmentsPath, { body: { segmentId: segment.id, action: "add", customerIds: [customer.id] } })
      return yield* send("GET", `${customerPath(customer.id)}/segments`)
    }),
    error: send("GET", `${customerPath(unknownId)}/segments`)
  },
  "segments.changeMembers": {
    success: Effect.flatMap(Effect.all([createSegment(manualSegment()), createCustomer()]), ([segment, customer]) =>
      send("POST", bulkSegmentsPath, {
        body: { segmentId: segment.id, action: "add", customerIds: [customer.id, unknownId] }
      })),
    error: Effect.flatMap(createSegment(), (segment) =>
      send("POST", bulkSegmentsPath, { body: { segmentId: segment.id, action: "add", customerIds: [unknownId] } }))
  },
  "segments.calculate": {
    success: Effect.flatMap(createSegment(), ({ id }) => send("POST", `${segmentPath(id)}/calculate`)),
    error: Effect.flatMap(createSegment(manualSegment()), ({ id }) => send("POST", `${segmentPath(id)}/calculate`))
  },
  "segments.calculation": {
    success: Effect.gen(function*() {
      const segment = yield* createSegment()
      const job = yield* json<{ readonly id: string }>(yield* send("POST", `${segmentPath(segment.id)}/calculate`))
      return yield* send("GET", `${segmentPath(segment.id)}/calculations/${job.id}`)
    }),
    error: Effect.flatMap(createSegment(), ({ id }) => send("GET", `${segmentPath(id)}/calculations/${unknownId}`))
  },
  "segments.members": {
    success: Effect.flatMap(createSegment(), ({ id }) => send("GET", `${segmentPath(id)}/customers?limit=10`)),
    error: send("GET", `${segmentPath(unknownId)}/customers`)
  },
  "destinations.list": {
    success: Effect.andThen(createDestination({ url: receiverUrl }), send("GET", `${destinationsPath}?limit=10`)),
    error: send("GET", `${destinationsPath}?limit=0`)
  },
  "destinations.create": {
    success: send("POST", destinationsPath, { body: { name: "contract", url: receiverUrl } }),
    error: send("POST", destinationsPath, { body: { name: "contract", url: receiverUrl, segmentId: unknownId } })
  },
  "destinations.get": {
    success: Effect.flatMap(createDestination({ url: receiverUrl }), ({ id }) => send("GET", destinationPath(id))),
    error: send("GET", destinationPath(unknownId))
  },
  "destinations.update": {
    success: Effect.flatMap(createDestination({ url: receiverUrl }), ({ id }) =>
      send("PATCH", destinationPath(id), { body: { enabled: false } })),
    error: send("PATCH", destinationPath(unknownId), { body: { enabled: false } })
  },
  "destinations.delete": {
    success: Effect.flatMap(createDestination({ url: receiverUrl }), ({ id }) => send("DELETE", destinationPath(id))),
    error: send("DELETE", destinationPath(unknownId))
  },
  "destinations.rotateSecret": {
    success: Effect.flatMap(createDestination({ url: receiverUrl }), ({ id }) =>
      send("POST", `${destinationPath(id)}/rotate-secret`)),
    error: send("POST", `${destinationPath(unknownId)}/rotate-secret`)
  },
  "destinations.deadLetters": {
    success: Effect.flatMap(createDestination({ url: receiverUrl }), ({ id }) =>
      send("GET", `${destinationPath(id)}/dead-letters?limit=10`)),
    error: send("GET", `${destinationPath(unknownId)}/dead-letters`)
  },
  "destinations.replay": {
    success: Effect.flatMap(createDestination({ url: receiverUrl }), ({ id }) =>
      send("POST", `${destinationPath(id)}/dead-letters/replay`, { body: {} })),
    error: send("POST", `${destinationPath(unknownId)}/dead-letters/replay`, { body: {} })
  },
  rpc: {
    success: Effect.flatMap(createCustomer(), ({ id }) => send("POST", rpcPath, { body: [rpcCall("GetCustomer", { id })] })),
    error: send("POST", rpcPath, { body: [rpcCall("ListCustomers", {})], auth: false })
  }
}

const document = openApiDocument()
const validate = makeValidator(document)

// Destinations on loopback are allowed, as in local development.
const service = testServiceWithDatabase({ env: { DESTINATIONS_ALLOW_PRIVATE_NETWORKS: "true" } })

layer(service, { excludeTestServices: true })("the served OpenAPI document", (it) => {
  it.effect("is the document the service was built from", () =>
    Effect.gen(function*() {
      const served = yield* send("GET", "/api/v1/openapi.json", { auth: false }).pipe(Effect.flatMap(json))
      assert.deepStrictEqual(served, JSON.parse(JSON.stringify(document)))
    }))

  it("has a captured success and error for every operation it describes", () => {
    const missing = operationsOf(document).flatMap(({ id, operation }) => {
      const declaresErrors = Object.keys(operation.responses).some((status) => Number(status) >= 400)
      return answers[id] === undefined
        ? [`${id} (success and error)`]
        : declaresErrors && answers[id].error === undefined
        ? [`${id} (error)`]
        : []
    })
    assert.deepStrictEqual(missing, [])
  })

  for (const { id, method, path } of operationsOf(document)) {
    const entry = answers[id]
    if (entry === undefined) continue
    it.effect(`${method} ${path} (${id}): a success answer is one the document declares`, () =>
      Effect.gen(function*() {
        const response = yield* entry.success
        assert.isBelow(response.status, 300, `${id} did not succeed`)
        yield* expectDocumented(document, validate, id, response)
      }))
    if (entry.error !== undefined) {
      const error = entry.error
      it.effect(`${method} ${path} (${id}): an error answer is one the document declares`, () =>
        Effect.gen(function*() {
          const response = yield* error
          assert.isAtLeast(response.status, 400, `${id} did not fail`)
          yield* expectDocumented(document, validate, id, response)
        }))
    }
  }
})
