/**
 * The transactional outbox end to end: REST writes land in JetStream exactly
 * once and in order, also across a NATS outage (a private nats-server that
 * the test stops and starts again on the same port and store).
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { createServer, type AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { customersPath, newCustomer } from "../support/Customers.ts"
import { type OutboxRow, outboxRows } from "../support/Database.ts"
import { call } from "../support/Http.ts"
import { json, natsUrl, TestService, testService } from "../support/TestService.ts"

const natsServerBinary = "/usr/sbin/nats-server"

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/** Polls `check` until `done` holds for its value, for at most `timeoutMillis`. */
const eventually = <A, E, R>(
  what: string,
  check: Effect.Effect<A, E, R>,
  done: (value: A) => boolean,
  timeoutMillis = 20_000
) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    while (true) {
      const value = yield* check
      if (done(value)) return value
      if (Date.now() > deadline) {
        return yield* Effect.die(new Error(`timed out after ${timeoutMillis} ms waiting for ${what}: ${JSON.stringify(value)}`))
      }
      yield* Effect.sleep("100 millis")
    }
  })

const restJson = (method: string, path: string, body?: unknown) =>
  Effect.gen(function*() {
    const response = yield* call(method, path, { body })
    const text = yield* Effect.promise(() => response.text())
    return { status: response.status, body: text.length > 0 ? JSON.parse(text) : undefined }
  })

const createCustomer = (label: string) =>
  restJson("POST", customersPath, newCustomer({ name: label })).pipe(
    Effect.tap(({ status, body }) => Effect.sync(() => assert.strictEqual(status, 201, JSON.stringify(body))))
  )

const renameCustomer = (id: string, name: string) =>
  restJson("PATCH", `${customersPath}/${id}`, { name }).pipe(
    Effect.tap(({ status, body }) => Effect.sync(() => assert.strictEqual(status, 200, JSON.stringify(body))))
  )

const deleteCustomer = (id: string) =>
  restJson("DELETE", `${customersPath}/${id}`).pipe(
    Effect.tap(({ status, body }) => Effect.sync(() => assert.strictEqual(status, 204, JSON.stringify(body))))
  )

const readiness = Effect.flatMap(TestService, ({ request }) => request("/ready", { auth: false })).pipe(
  Effect.flatMap(json<{ checks: { nats: { status: string }; outbox: { pending: number } } }>)
)

const allPublished = eventually("every outbox row to be published", outboxRows(), (rows) =>
  rows.length > 0 && rows.every((row) => row.published))

/**
 * Deleting a customer erases its already-published outbox rows (they hold its
 * data), so a test records the rows as it goes: `record` waits until every row
 * is published and returns all rows seen so far, in id order.
 */
const outboxLedger = () => {
  const seen = new Map<string, OutboxRow>()
  return {
    record: Effect.map(allPublished, (rows) => {
      for (const row of rows) seen.set(row.id, row)
      return [...seen.values()].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))
    })
  }
}

/** A NATS connection for the test itself, closed with the test's scope. */
const natsConnection = (servers: string) =>
  Effect.acquireRelease(
    Effect.promise(() => connect({ servers, name: "outbox-test" })),
    (nc) => Effect.promise(() => nc.close())
  )

interface Delivered {
  readonly subject: string
  readonly msgId: string | undefined
  readonly streamSequence: number
  readonly payload: { readonly type: string; readonly customerId: string; readonly version: number }
}

/**
 * Everything CUSTOMERS holds under `filter`, in stream order, read by an ordered
 * consumer; also the stream's own count of those messages, so nothing beyond
 * what was read can hide.
 */
const readStream = (nc: NatsConnection, filter: string) =>
  Effect.promise(async () => {
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info("CUSTOMERS", { subjects_filter: filter })
    const stored = Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0)
    const consumer = await jetstream(nc).consumers.get("CUSTOMERS", { filter_subjects: filter })
    const delivered: Array<Delivered> = []
    while (delivered.length < stored) {
      const message = await consumer.next({ expires: 2_000 })
      if (message === null) break
      delivered.push({
        subject: message.subject,
        msgId: message.headers?.get("Nats-Msg-Id"),
        streamSequence: message.seq,
        payload: message.json()
      })
      if (message.info.pending === 0) break
    }
    return { stored, delivered }
  })

// ---------------------------------------------------------------------------
// a private nats-server the test can stop and start
// ---------------------------------------------------------------------------

const freePort = Effect.promise(() =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
)

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once("exit", () => resolve()))

const withTimeout = <A>(promise: Promise<A>, millis: number) =>
  Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), millis))])

class PrivateNats extends Context.Service<PrivateNats, {
  readonly url: string
  /** Starts the server (same port, same store) and waits until JetStream answers. */
  readonly start: Effect.Effect<void>
  /** SIGTERM, then waits for the process to exit. */
  readonly stop: Effect.Effect<void>
  /** Empties the store directory (while stopped): the server comes back with no streams. */
  readonly wipeStore: Effect.Effect<void>
}>()("test/PrivateNats") {
  static readonly layer = Layer.effect(
    PrivateNats,
    Effect.gen(function*() {
      const storeDir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "cms-outbox-nats-"))),
        (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
      )
      const port = yield* freePort
      const url = `nats://127.0.0.1:${port}`
      let child: ChildProcess | undefined

      const stop = Effect.promise(async () => {
        const running = child
        child = undefined
        if (running === undefined) return
        running.kill("SIGTERM")
        if (!(await withTimeout(exited(running), 10_000))) {
          running.kill("SIGKILL")
          await exited(running)
        }
      })

      const start = Effect.promise(async () => {
        let log = ""
        const spawned = spawn(natsServerBinary, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], {
          stdio: ["ignore", "ignore", "pipe"]
        })
        spawned.stderr!.on("data", (chunk: Buffer) => {
          log = (log + chunk.toString()).slice(-8_192)
        })
        child = spawned
        const deadline = Date.now() + 15_000
        while (true) {
          if (spawned.exitCode !== null || spawned.signalCode !== null) {
            throw new Error(`nats-server exited while starting:\n${log}`)
          }
          const probe = await connect({ servers: url, reconnect: false, timeout: 1_000 }).catch(() => undefined)
          if (probe !== undefined) {
            const jetStreamUp = await jetstreamManager(probe).then(() => true, () => false)
            await probe.close()
            if (jetStreamUp) return
          }
          if (Date.now() > deadline) throw new Error(`nats-server did not start within 15 s:\n${log}`)
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      })

      const wipeStore = Effect.promise(async () => {
        await rm(storeDir, { recursive: true, force: true })
        await mkdir(storeDir)
      })

      yield* Effect.acquireRelease(start, () => stop)
      return PrivateNats.of({ url, start, stop, wipeStore })
    })
  )
}

/** The whole service publishing to the private nats-server, which outlives it. */
const serviceOnPrivateNats = Layer.unwrap(
  Effect.map(PrivateNats, (nats) => testService({ env: { NATS_URL: nats.url } }))
).pipe(Layer.provideMerge(PrivateNats.layer))

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

// Live clock: the relay's polls and retries run on real time.
layer(testService(), { excludeTestServices: true })("outbox relay with the shared NATS", (it) => {
  it.effect("create, update and delete each reach JetStream once, in order, with Nats-Msg-Id = the event id", () =>
    Effect.gen(function*() {
      const ledger = outboxLedger()
      const created = (yield* createCustomer("Relay Ada")).body
      const updated = (yield* renameCustomer(created.id, "Relay Ada Lovelace")).body
      yield* ledger.record
      yield* deleteCustomer(created.id)

      const rows = yield* ledger.record
      assert.deepStrictEqual(rows.map((row) => row.payload.type), [
        "customer.created",
        "customer.updated",
        "customer.deleted"
      ])

      const nc = yield* natsConnection(natsUrl)
      const { stored, delivered } = yield* readStream(nc, `customers.${created.id}.>`)
      assert.strictEqual(stored, 3, "the stream holds each change once")
      assert.deepStrictEqual(
        delivered.map(({ msgId, subject }) => ({ msgId, subject })),
        rows.map(({ eventId, subject }) => ({ msgId: eventId, subject }))
      )
      assert.deepStrictEqual(delivered.map(({ payload }) => payload.type), [
        "customer.created",
        "customer.updated",
        "customer.deleted"
      ])
      assert.deepStrictEqual(delivered.map(({ subject }) => subject), [
        `customers.${created.id}.created`,
        `customers.${created.id}.updated`,
        `customers.${created.id}.deleted`
      ])
      for (const { payload } of delivered) assert.strictEqual(payload.customerId, created.id)
      assert.deepStrictEqual(delivered.map(({ payload }) => payload.version), [
        created.version,
        updated.version,
        updated.version + 1
      ])
      const sequences = delivered.map(({ streamSequence }) => streamSequence)
      assert.deepStrictEqual(sequences, [...sequences].sort((a, b) => a - b))
    }))
})

layer(serviceOnPrivateNats, { excludeTestServices: true, timeout: "60 seconds" })(
  "outbox relay across a NATS restart",
  (it) => {
    it.effect(
      "writes during a NATS outage succeed and every change is published exactly once after it returns",
      () =>
        Effect.gen(function*() {
          const nats = yield* PrivateNats
          const ledger = outboxLedger()
          yield* eventually("NATS to be up", readiness, (ready) => ready.checks.nats.status === "up")

          // Before the outage.
          const ada = (yield* createCustomer("Before Ada")).body
          const bob = (yield* createCustomer("Before Bob")).body
          yield* renameCustomer(ada.id, "Before Ada Lovelace")
          yield* ledger.record

          // During the outage: writes still succeed, events wait in the outbox.
          yield* nats.stop
          yield* eventually("NATS to be reported down", readiness, (ready) => ready.checks.nats.status === "down")
          const cleo = (yield* createCustomer("During Cleo")).body
          yield* renameCustomer(bob.id, "During Bob Builder")
          yield* deleteCustomer(ada.id)
          const dora = (yield* createCustomer("During Dora")).body
          // Enough that the backlog's ids go from one digit to two (4 to 12), in one relay batch.
          for (const name of ["Dora A", "Dora B", "Dora C", "Dora D", "Dora E"]) yield* renameCustomer(dora.id, name)
          const degraded = yield* readiness
          assert.strictEqual(degraded.checks.nats.status, "down")
          assert.isAbove(degraded.checks.outbox.pending, 0)

          // NATS returns on the same port and store: the relay catches up on its own.
          yield* nats.start
          yield* eventually(
            "NATS up and the outbox drained",
            readiness,
            (ready) => ready.checks.nats.status === "up" && ready.checks.outbox.pending === 0
          )
          yield* createCustomer("After Eve")
          yield* renameCustomer(cleo.id, "After Cleo")
          yield* renameCustomer(dora.id, "After Dora")

          const rows = yield* ledger.record
          assert.strictEqual(rows.length, 15)
          const nc = yield* natsConnection(nats.url)
          const { stored, delivered } = yield* readStream(nc, "customers.>")
          const msgIds = delivered.map(({ msgId }) => msgId)
          assert.strictEqual(stored, rows.length, "the stream holds as many messages as the outbox has rows")
          assert.strictEqual(new Set(msgIds).size, msgIds.length, "no Nats-Msg-Id is delivered twice")
          assert.deepStrictEqual(
            delivered.map(({ msgId, subject, payload }) => ({ msgId, subject, type: payload.type })),
            rows.map(({ eventId, subject, payload }) => ({ msgId: eventId, subject, type: payload.type })),
            "every change, before, during and after the outage, once and in outbox order"
          )
        })
    )
  }
)

layer(serviceOnPrivateNats, { excludeTestServices: true, timeout: "60 seconds" })(
  "outbox relay when NATS returns without its store",
  (it) => {
    it.effect("the CUSTOMERS stream is created again and the backlog is published to it", () =>
      Effect.gen(function*() {
        const nats = yield* PrivateNats
        yield* eventually("NATS to be up", readiness, (ready) => ready.checks.nats.status === "up")
        yield* createCustomer("Before Loss")
        yield* allPublished

        yield* nats.stop
        yield* nats.wipeStore
        yield* eventually("NATS to be reported down", readiness, (ready) => ready.checks.nats.status === "down")
        const during = (yield* createCustomer("During Loss")).body
        yield* nats.start

        yield* eventually(
          "NATS up and the outbox drained",
          readiness,
          (ready) => ready.checks.nats.status === "up" && ready.checks.outbox.pending === 0
        )
        const after = (yield* createCustomer("After Loss")).body
        const rows = yield* allPublished
        const nc = yield* natsConnection(nats.url)
        const { stored, delivered } = yield* readStream(nc, "customers.>")
        // The first event went down with the old store; the rest are in the new stream.
        assert.strictEqual(stored, 2)
        assert.deepStrictEqual(
          delivered.map(({ msgId, subject }) => ({ msgId, subject })),
          rows.slice(1).map(({ eventId, subject }) => ({ msgId: eventId, subject }))
        )
        assert.deepStrictEqual(delivered.map(({ payload }) => payload.customerId), [during.id, after.id])
      }))
  }
)
