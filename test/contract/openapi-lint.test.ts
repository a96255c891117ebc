/**
 * The OpenAPI document passes Redocly's recommended rules without an error.
 * (Its two warnings are the probes /health and /ready, which have no 4xx
 * answer to declare.)
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

  it("warns only that the probes have no 4xx answer", () =>
    assert.deepStrictEqual(describeProblem("warn"), [
      "operation-4xx-response at #/paths/~1health/get/responses: Operation must have at least one `4XX` response.",
      "operation-4xx-response at #/paths/~1ready/get/responses: Operation must have at least one `4XX` response."
    ]))
})
