/**
 * GET /docs is a reference people can use: Scalar renders every operation of
 * the OpenAPI document in a real (headless) browser without fetching anything
 * from another origin, and its "try it" client, given a token, creates a
 * customer against the service itself.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { openApiDocument } from "../../src/api/Documentation.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { getCustomer } from "../support/Http.ts"
import { operationsOf } from "../support/OpenApi.ts"
import { Browser } from "../support/Browser.ts"
import { TestService } from "../support/TestService.ts"

const document = openApiDocument()

/** A fresh page on /docs, with every request it makes to another origin recorded. */
const openDocs = Effect.gen(function*() {
  const browser = yield* Browser
  const { baseUrl } = yield* TestService
  const page = yield* Effect.acquireRelease(Effect.promise(() => browser.newPage()), (page) => Effect.promise(() => page.close()))
  const elsewhere: Array<string> = []
  page.on("request", (request) => {
    if (!request.url().startsWith(baseUrl)) elsewhere.push(request.url())
  })
  yield* Effect.promise(() => page.goto(`${baseUrl}/docs`, { waitUntil: "load" }))
  return { page, elsewhere }
})

layer(Layer.mergeAll(testServiceWithDatabase(), Browser.layer), { excludeTestServices: true })("the /docs reference", (it) => {
  it.effect("renders every operation of the document and fetches nothing from another origin", () =>
    Effect.gen(function*() {
      const { page, elsewhere } = yield* openDocs
      const missing: Array<string> = []
      // The reference renders its sections after load; on a busy machine that alone can take many seconds.
      yield* Effect.promise(() => page.locator(`[id*="/GET/"]`).first().waitFor({ state: "attached", timeout: 60_000 }))
      for (const { method, path, operation } of operationsOf(document)) {
        // Scalar gives each operation a section whose id ends in "<METHOD><path>".
        const section = page.locator(`[id$="/${method}${path}"]`).first()
        const found = yield* Effect.promise(() =>
          section.waitFor({ state: "attached", timeout: 10_000 }).then(() => true, () => false)
        )
        if (!found) missing.push(`${method} ${path} (${operation.operationId})`)
      }
      assert.deepStrictEqual(missing, [])
      assert.deepStrictEqual(elsewhere, [])
    }).pipe(Effect.scoped))

  it.effect("try it, with a bearer token, creates a customer", () =>
    Effect.gen(function*() {
      const { page } = yield* openDocs
      const token = yield* Effect.flatMap(TestService, ({ token }) => token("agent"))
      const created = yield* Effect.promise(async () => {
        await page.locator(`[id$="/POST/api/v1/customers"]`).first().getByRole("button", { name: "Test Request" }).click()
        // The client opens with the operation's example body; only the credential is left to give.
        await page.locator(`input[id^="scalar-client"][placeholder="Token"]`).fill(token)
        const [response] = await Promise.all([
          page.waitForResponse((response) =>
            response.request().method() === "POST" && new URL(response.url()).pathname === "/api/v1/customers"
          ),
          page.getByRole("button", { name: /Send Request/ }).click()
        ])
        return { status: response.status(), body: await response.json() as { readonly id: string } }
      })
      assert.strictEqual(created.status, 201)
      const stored = yield* getCustomer(created.body.id)
      assert.strictEqual(stored.email, "ada@example.com")
    }).pipe(Effect.scoped))
})
