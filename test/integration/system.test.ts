import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { Readiness } from "../../src/api/SystemApi.ts"
import { eventually } from "../support/Eventually.ts"
import { json, TestService, testService } from "../support/TestService.ts"

layer(testService(), { excludeTestServices: true })("system endpoints", (it) => {
  it.effect("GET /health answers without credentials", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const response = yield* request("/health", { auth: false })
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(yield* json(response), { status: "ok" })
    }))

  it.effect("GET /ready reports the database and NATS up, and the outbox backlog", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      // The NATS connection comes up beside the service: ready once it has.
      const body = yield* eventually(
        "NATS to be up",
        request("/ready", { auth: false }).pipe(Effect.flatMap(json<Readiness>)),
        (readiness) => readiness.checks.nats.status === "up"
      )
      assert.strictEqual(body.status, "ready")
      assert.strictEqual(body.checks.database.status, "up")
      assert.isAtLeast(body.checks.outbox.pending, 0)
    }))

  it.effect("the OpenAPI document is served and lists the customer endpoints", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const document = yield* request("/api/v1/openapi.json", { auth: false }).pipe(
        Effect.flatMap(json<{ readonly paths: Record<string, unknown> }>)
      )
      assert.property(document.paths, "/api/v1/customers")
      assert.property(document.paths, "/api/v1/customers/{id}")
    }))

  it.effect("X-Request-Id is echoed when acceptable and generated otherwise", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const echoed = yield* request("/health", { auth: false, headers: { "x-request-id": "trace-123" } })
      assert.strictEqual(echoed.headers.get("x-request-id"), "trace-123")
      const replaced = yield* request("/health", { auth: false, headers: { "x-request-id": "bad id with spaces" } })
      assert.match(replaced.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/)
    }))
})
