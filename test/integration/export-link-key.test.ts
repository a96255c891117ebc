/**
 * Without EXPORT_LINK_KEY the export download links are keyed by a key derived (HKDF-SHA256) from the newest
 * master key (src/privacy/Keyring.ts derivedKey): one secret fewer in production, links still work.
 */
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { createHmac } from "node:crypto"
import type { DataExportJob } from "../../src/domain/DataExportJob.ts"
import { Keyring } from "../../src/privacy/Keyring.ts"
import { customersPath } from "../support/Customers.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { eventually } from "../support/Eventually.ts"
import { call, createCustomer } from "../support/Http.ts"
import { json, testExportLinkKey, testMasterKeys } from "../support/TestService.ts"

const Env = testServiceWithDatabase({ nats: false, env: { EXPORT_LINK_KEY: undefined } })

const derivedWith = (masterKeys: string) =>
  Effect.map(Keyring, (keyring) => keyring.derivedKey("export-link")).pipe(Effect.provide(
    Layer.fresh(Keyring.layer).pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ MASTER_KEYS: masterKeys })))
    )
  ))

const tokenUnder = (key: string | Buffer, jobId: string) =>
  createHmac("sha256", key).update(`data-export\u0000${jobId}`).digest("base64url")

layer(Env, { excludeTestServices: true, timeout: 60_000 })("export links without EXPORT_LINK_KEY", (it) => {
  it.effect("are keyed by a key derived from the master key, and download", () =>
    Effect.gen(function*() {
      const customer = yield* createCustomer()
      const queued = yield* json<DataExportJob>(yield* call("POST", `${customersPath}/${customer.id}/data/exports`))
      const job = yield* eventually(
        "the export to be done",
        Effect.flatMap(call("GET", `/api/v1/data-exports/${queued.id}`), json<DataExportJob>),
        (read) => read.status === "done"
      )
      const token = job.download!.split("/").at(-1)!
      assert.strictEqual(token, tokenUnder(yield* derivedWith(testMasterKeys), job.id))
      assert.notStrictEqual(token, tokenUnder(testExportLinkKey, job.id))
      const downloaded = yield* call("GET", job.download!)
      assert.strictEqual(downloaded.status, 200)
      assert.strictEqual((yield* json<{ readonly customer: { readonly id: string } }>(downloaded)).customer.id, customer.id)
    }))

  it.effect("the derived key is the master key's and the purpose's: another master key or purpose gives another", () =>
    Effect.gen(function*() {
      const other = `test2:${Buffer.alloc(32, 7).toString("base64")}`
      const derived = yield* derivedWith(testMasterKeys)
      assert.lengthOf(derived, 32)
      assert.notDeepEqual(yield* derivedWith(other), derived)
      const keyring = yield* Keyring
      assert.notDeepEqual(keyring.derivedKey("another purpose"), keyring.derivedKey("export-link"))
    }))
})
