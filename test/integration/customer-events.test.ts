/**
 * Every event the service publishes is a typed event: each outbox row decodes
 * with its schema (src/domain/CustomerEvents.ts), sits on the subject its type
 * names, and satisfies the payload schema the AsyncAPI document publishes,
 * before and after the customer is erased.
 */
import { assert, layer } from "@effect/vitest"
import { Ajv } from "ajv"
import addFormatsPlugin from "ajv-formats"
import { Effect, Schema } from "effect"
import { eventsDocument } from "../../src/api/Documentation.ts"
import { CustomerEvent, subjectOf } from "../../src/client/index.ts"
import { customersPath, newCustomer, uniqueEmail } from "../support/Customers.ts"
import { outboxRows, testServiceWithDatabase } from "../support/Database.ts"
import { call, createCustomer } from "../support/Http.ts"

// No NATS: the events stay in the outbox unpublished, so erasure's rewriting of waiting events is covered too.
const Env = testServiceWithDatabase({ nats: false })

const decodeEvent = Schema.decodeUnknownSync(CustomerEvent)

// ajv-formats is CommonJS: its function arrives as the default export or as the module itself.
const addFormats = ((addFormatsPlugin as unknown as { default?: unknown }).default ?? addFormatsPlugin) as (
  ajv: Ajv
) => Ajv

/** Validates a payload against the AsyncAPI message of its type (draft-07, AsyncAPI's schema dialect). */
const payloadErrors = (() => {
  const document = eventsDocument()
  const ajv = addFormats(new Ajv({ strict: false, allErrors: true }))
  ajv.addSchema({ $id: "asyncapi", components: document.components }, "asyncapi")
  const messages = Object.values(document.components.messages)
  return (payload: { readonly type: string; readonly [field: string]: unknown }) => {
    const message = messages.find((candidate) => candidate.name === payload.type)
    if (message === undefined) return [`no message for ${payload.type}`]
    const validate = ajv.getSchema(`asyncapi${message.payload.$ref}`)!
    return validate(payload) ? [] : (validate.errors ?? []).map((error: { readonly instancePath: string; readonly message?: string }) => `${error.instancePath} ${error.message}`)
  }
})()

const eventsOf = (customerId: string) =>
  Effect.map(outboxRows(), (rows) => rows.filter((row) => row.subject.startsWith(`customers.${customerId}.`)))

const expectTyped = (customerId: string, types: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const rows = yield* eventsOf(customerId)
    assert.deepStrictEqual(rows.map((row) => row.payload.type), types)
    for (const row of rows) {
      const event = decodeEvent(row.payload)
      assert.strictEqual(event.eventId, row.eventId)
      assert.strictEqual(event.customerId, customerId)
      assert.strictEqual(subjectOf(event), row.subject)
      assert.deepStrictEqual(payloadErrors(row.payload), [], row.payload.type)
    }
    return rows
  })

layer(Env, { excludeTestServices: true })("typed customer events", (it) => {
  it.effect("every event of a customer's life decodes with its schema and matches the AsyncAPI document", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer(newCustomer({ tags: ["vip"], location: { country: "GB" } }))
      const newEmail = uniqueEmail("moved")
      const patched = yield* call("PATCH", `${customersPath}/${created.id}`, { body: { name: "Ada King", email: newEmail } })
      assert.strictEqual(patched.status, 200)
      const requested = (yield* eventsOf(created.id)).at(-1)!
      assert.strictEqual(requested.payload.type, "customer.email-verification-requested")
      const verified = yield* call("POST", `${customersPath}/${created.id}/email/verify`, {
        body: { token: requested.payload.token }
      })
      assert.strictEqual(verified.status, 200)

      const rows = yield* expectTyped(created.id, [
        "customer.created",
        "customer.updated",
        "customer.email-verification-requested",
        "customer.email-verified"
      ])
      // The document's schemas do refuse what the decoder refuses.
      assert.isNotEmpty(payloadErrors({ ...rows[0].payload, version: "one" }))
      assert.throws(() => decodeEvent({ ...rows[0].payload, version: "one" }))
      const updated = decodeEvent(rows[1].payload)
      assert.strictEqual(updated.type, "customer.updated")
      if (updated.type === "customer.updated") assert.deepStrictEqual(updated.changes, ["name", "pendingEmail"])
    }))

  it.effect("after erasure, the waiting events without the person's data still decode, and so does the deletion", () =>
    Effect.gen(function*() {
      const created = yield* createCustomer()
      yield* call("PATCH", `${customersPath}/${created.id}`, { body: { email: uniqueEmail("pending") } })
      assert.strictEqual((yield* call("DELETE", `${customersPath}/${created.id}`)).status, 204)
      const rows = yield* expectTyped(created.id, [
        "customer.created",
        "customer.updated",
        "customer.email-verification-requested",
        "customer.deleted"
      ])
      assert.isUndefined(rows[0].payload.customer)
      assert.isUndefined(rows[2].payload.token)
      assert.strictEqual(decodeEvent(rows[3].payload).type, "customer.deleted")
    }))
})
