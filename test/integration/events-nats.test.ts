/**
 * Tracking over NATS request/reply: the batch endpoint's body in, its answer
 * out once committed, or the REST problem (with NATS service-error headers) on
 * bad input and overload. Each service here listens on a subject of its own:
 * every test file's service shares the NATS server.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import type { BatchResult } from "../../src/domain/Event.ts"
import { testServiceWithDatabase } from "../support/Database.ts"
import { createCustomer, type Problem } from "../support/Http.ts"
import { natsConnection } from "../support/Nats.ts"
import { natsUrl } from "../support/TestService.ts"

const subjectFor = (name: string) => `ingest.events.test.${name}.${crypto.randomUUID().slice(0, 8)}`

interface Answer<A> {
  readonly body: A
  readonly headers: Record<string, string | undefined>
}

/** A request, retried while the service is not yet subscribed (no responders) after start-up. */
const request = <A>(nc: NatsConnection, subject: string, body: unknown) =>
  Effect.promise(async (): Promise<Answer<A>> => {
    const deadline = Date.now() + 10_000
    while (true) {
      try {
        const reply = await nc.request(subject, typeof body === "string" ? body : JSON.stringify(body), { timeout: 5_000 })
        const header = (name: string) => reply.headers?.get(name) || undefined
        return {
          body: reply.json<A>(),
          headers: {
            code: header("Nats-Service-Error-Code"),
            error: header("Nats-Service-Error"),
            retryAfter: header("Retry-After")
          }
        }
      } catch (error) {
        if (Date.now() > deadline || !String(error).includes("no responders")) throw error
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  })

const storedCount = (customerId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM customer_events WHERE customer_id = ${customerId}`).pipe(
      Effect.orDie,
      Effect.map(([row]) => row.n)
    )

const subject = subjectFor("ingest")

layer(testServiceWithDatabase({ env: { EVENTS_INGEST_SUBJECT: subject } }), { excludeTestServices: true })(
  "NATS ingest.events",
  (it) => {
    it.effect("a batch is answered with its results once committed", () =>
      Effect.gen(function*() {
        const nc = yield* natsConnection(natsUrl)
        const customer = yield* createCustomer()
        const unknown = crypto.randomUUID()
        const answer = yield* request<BatchResult>(nc, subject, {
          events: [
            { customerId: customer.id, type: "page_view" },
            { customerId: customer.id, type: "purchase", revenue: 3, currency: "EUR" },
            { customerId: unknown, type: "page_view" }
          ]
        })
        assert.isUndefined(answer.headers.code)
        assert.deepInclude(answer.body, { stored: 2, duplicates: 0, rejected: 1 })
        assert.strictEqual(answer.body.results[2].problem?.type, "/problems/customer-not-found")
        // Acknowledged after the commit: the events are there as soon as the reply is.
        assert.strictEqual(yield* storedCount(customer.id), 2)
      }))

    it.effect("the same event sent twice is stored once, the retry answered duplicate", () =>
      Effect.gen(function*() {
        const nc = yield* natsConnection(natsUrl)
        const customer = yield* createCustomer()
        const batch = { events: [{ customerId: customer.id, id: crypto.randomUUID(), type: "sign_in", occurredAt: "2026-01-02T03:04:05Z" }] }
        yield* request<BatchResult>(nc, subject, batch)
        const retry = yield* request<BatchResult>(nc, subject, batch)
        assert.deepInclude(retry.body, { stored: 0, duplicates: 1 })
        assert.strictEqual(yield* storedCount(customer.id), 1)
      }))

    it.effect("a malformed batch is answered with the REST problem naming the field, and nothing is stored", () =>
      Effect.gen(function*() {
        const nc = yield* natsConnection(natsUrl)
        const customer = yield* createCustomer()
        const answer = yield* request<Problem>(nc, subject, {
          events: [{ customerId: customer.id, type: "page_view" }, { customerId: customer.id, type: "Page View" }]
        })
        assert.strictEqual(answer.headers.code, "400")
        assert.strictEqual(answer.body.type, "/problems/invalid-request")
        assert.deepStrictEqual(answer.body.errors?.map((entry) => entry.path.join(".")), ["payload.events.1.type"])
        assert.strictEqual(yield* storedCount(customer.id), 0)
      }))

    it.effect("a body that is not JSON is answered 400, not dropped", () =>
      Effect.gen(function*() {
        const nc = yield* natsConnection(natsUrl)
        const answer = yield* request<Problem>(nc, subject, "events=1")
        assert.strictEqual(answer.headers.code, "400")
        assert.strictEqual(answer.body.type, "/problems/invalid-request")
      }))
  }
)

const smallSubject = subjectFor("overload")

layer(
  testServiceWithDatabase({ env: { EVENTS_INGEST_SUBJECT: smallSubject, EVENTS_MAX_QUEUED: "5" } }),
  { excludeTestServices: true }
)("NATS ingest.events over capacity", (it) => {
  it.effect("more than the queue holds is answered 503 with Retry-After, and nothing is stored", () =>
    Effect.gen(function*() {
      const nc = yield* natsConnection(natsUrl)
      const customer = yield* createCustomer()
      const events = Array.from({ length: 6 }, () => ({ customerId: customer.id, type: "page_view" }))
      const answer = yield* request<Problem>(nc, smallSubject, { events })
      assert.deepStrictEqual(answer.headers, { code: "503", error: answer.body.title, retryAfter: "1" })
      assert.strictEqual(answer.body.type, "/problems/overloaded")
      assert.strictEqual(yield* storedCount(customer.id), 0)
    }))
})
