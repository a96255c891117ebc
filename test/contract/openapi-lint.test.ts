/**
 * The OpenAPI document passes Redocly's recommended rules without an error.
 * (Its warnings are the probes /health and /ready, which have no 4xx answer
 * to declare, and the spec's segment paths beside the customer's, which the
 * router tells apart.)
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { openApiDocument } from "../../src/api/Documentation.ts"

interface LintReport {
  readonly totals: { readonly errors: number; readonly warnings: number }
  readonly problems: ReadonlyArray<{
    readonly ruleId: string
    readonly severity: "error" | "warn"
    readonly message: string
    readonly location: ReadonlyArray<{ readonly pointer: string }>
  }>
}

const redocly = createRequire(import.meta.url).resolve("@redocly/cli/bin/cli.js")

const lint = (document: unknown): LintReport => {
  const directory = mkdtempSync(join(tmpdir(), "openapi-lint-"))
  try {
    const file = join(directory, "openapi.json")
    writeFileSync(file, JSON.stringify(document, null, 2))
    // Exits non-zero when there are errors; the JSON report is on stdout either way.
    const run = () =>
      execFileSync(process.execPath, [redocly, "lint", "--extends=recommended", "--format=json", file], {
        encoding: "utf8",
        env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
        stdio: ["ignore", "pipe", "pipe"]
      })
    let output: string
    try {
      output = run()
    } catch (failure) {
      output = (failure as { readonly stdout?: string }).stdout ?? ""
    }
    return JSON.parse(output) as LintReport
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}

describe("the OpenAPI document under Redocly's recommended rules", () => {
  const report = lint(openApiDocument())
  const describeProblem = (severity: string) =>
    report.problems.filter((problem) => problem.severity === severity).map((problem) =>
      `${problem.ruleId} at ${problem.location[0]?.pointer}: ${problem.message}`
    )

  it("has no errors", () => {
    assert.deepStrictEqual(describeProblem("error"), [])
    assert.strictEqual(report.totals.errors, 0)
  })

  /**
   * The spec's segment paths sit beside the customer's: `/customers/segments/{id}` and `/customers/{id}/segments`
   * match the same text by their templates alone. The router prefers a static segment to a parameter (and a
   * customer id is a UUID, never `segments`), so each request has one handler: test/integration/segments-routing.
   */
  const ambiguousBesideCustomer = (problem: string) =>
    problem.startsWith("no-ambiguous-paths at #/paths/~1api~1v1~1customers~1{id}~1") &&
    problem.includes("`/api/v1/customers/segments/{id}` and `/api/v1/customers/{id}/")

  it("warns only that the probes have no 4xx answer, and of the segment paths beside the customer's", () => {
    const warnings = describeProblem("warn")
    assert.deepStrictEqual(warnings.filter((problem) => !ambiguousBesideCustomer(problem)), [
      "operation-4xx-response at #/paths/~1health/get/responses: Operation must have at least one `4XX` response.",
      "operation-4xx-response at #/paths/~1ready/get/responses: Operation must have at least one `4XX` response."
    ])
    assert.isAtMost(warnings.filter(ambiguousBesideCustomer).length, 10)
  })
})
