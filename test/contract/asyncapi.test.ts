/**
 * The events' AsyncAPI 3.0 document: served beside the OpenAPI document,
 * generated from the event schemas, and valid under a third-party validator
 * (Redocly CLI, which lints AsyncAPI 3.0 with its structural rules; no
 * AsyncAPI package is installed, see README).
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { asyncApiPath, eventsDocument } from "../../src/api/Documentation.ts"
import { customerEvents, streamName } from "../../src/domain/CustomerEvents.ts"
import { eventsStreamName, TrackedEvents } from "../../src/domain/Event.ts"
import { segmentEvents, segmentsStreamName } from "../../src/domain/SegmentEvents.ts"
import { json, TestService, testService } from "../support/TestService.ts"

interface LintReport {
  readonly totals: { readonly errors: number; readonly warnings: number }
  readonly problems: ReadonlyArray<{ readonly ruleId: string; readonly severity: "error" | "warn"; readonly message: string }>
}

const redocly = createRequire(import.meta.url).resolve("@redocly/cli/bin/cli.js")

const lint = (document: unknown): LintReport => {
  const directory = mkdtempSync(join(tmpdir(), "asyncapi-lint-"))
  try {
    const file = join(directory, "asyncapi.json")
    writeFileSync(file, JSON.stringify(document, null, 2))
    let output: string
    try {
      output = execFileSync(process.execPath, [redocly, "lint", "--extends=recommended", "--format=json", file], {
        encoding: "utf8",
        env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
        stdio: ["ignore", "pipe", "pipe"]
      })
    } catch (failure) {
      // Exits non-zero when there are errors; the JSON report is on stdout either way.
      output = (failure as { readonly stdout?: string }).stdout ?? ""
    }
    return JSON.parse(output) as LintReport
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}

describe("the AsyncAPI document under Redocly's recommended rules", () => {
  const report = lint(eventsDocument())
  const problems = (severity: string) =>
    report.problems.filter((problem) => problem.severity === severity).map((problem) => `${problem.ruleId}: ${problem.message}`)

  it("has no errors", () => {
    assert.deepStrictEqual(problems("error"), [])
    assert.strictEqual(report.totals.errors, 0)
  })

  // NATS credentials are the deployment's, not the document's to declare.
  it("warns only that the operations declare no security", () =>
    assert.isTrue(problems("warn").every((problem) => problem.startsWith("security-defined:"))))

  it("refuses a document that breaks AsyncAPI's structure", () => {
    const document = eventsDocument()
    const broken = { ...document, channels: { ...document.channels, created: { ...document.channels.created, address: 5 } } }
    assert.isAbove(lint(broken).totals.errors, 0)
  })
})

describe("the AsyncAPI document's content", () => {
  const document = eventsDocument()

  it("has a channel per customer event on its subject pattern of the CUSTOMERS stream, tracked events' on EVENTS, and segment membership events' on SEGMENTS", () => {
    assert.strictEqual(document.asyncapi, "3.0.0")
    assert.deepStrictEqual(
      Object.values(document.channels).map((channel) => [channel.address, channel["x-jetstream-stream"]]),
      [
        ...customerEvents.map((event) => [`customers.{customerId}.${event.name}`, streamName]),
        ["events.{type}", eventsStreamName],
        ...segmentEvents.map((event) => [`segments.{segmentId}.${event.name}`, segmentsStreamName])
      ]
    )
  })

  it("describes the tracked events' message with the TrackedEvents schema", () => {
    const message = document.components.messages.TrackedEvents
    const schema = (document.components.schemas as Record<string, { readonly properties: Record<string, unknown> }>)[
      message.payload.$ref.slice("#/components/schemas/".length)
    ]
    assert.deepStrictEqual(Object.keys(schema.properties).sort(), Object.keys(TrackedEvents.fields).sort())
  })

  it("describes each message's payload with its event schema", () => {
    for (const event of [...customerEvents, ...segmentEvents]) {
      const message = Object.values(document.components.messages).find((candidate) => candidate.name === event.type)!
      const schema = (document.components.schemas as Record<string, { readonly properties: Record<string, unknown> }>)[
        message.payload.$ref.slice("#/components/schemas/".length)
      ]
      assert.deepStrictEqual(Object.keys(schema.properties).sort(), Object.keys(event.schema.fields).sort())
    }
  })
})

layer(testService({ nats: false }), { excludeTestServices: true })("GET /api/v1/asyncapi.json", (it) => {
  it.effect("serves the generated document to anyone, cacheable like the OpenAPI document", () =>
    Effect.gen(function*() {
      const { request } = yield* TestService
      const response = yield* request(asyncApiPath, { auth: false })
      assert.strictEqual(response.status, 200)
      assert.include(response.headers.get("content-type"), "application/json")
      assert.notStrictEqual(response.headers.get("cache-control"), "no-store")
      assert.deepStrictEqual(yield* json(response), JSON.parse(JSON.stringify(eventsDocument())))
    }))
})
