/**
 * NATS for tests: a connection of the test's own, reading what the CUSTOMERS
 * stream holds, and a private nats-server the test can stop and start.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { ConfigProvider, Context, Effect, Layer, Logger } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort as freePortOnLoopback } from "../../load/net.ts"
import { DatabaseLive } from "../../src/platform/Database.ts"
import { scopedDatabase } from "./TestService.ts"

const natsServerBinary = "/usr/sbin/nats-server"

/** A NATS connection for the test itself, closed with the test's scope. */
export const natsConnection = (servers: string) =>
  Effect.acquireRelease(
    Effect.promise(() => connect({ servers, name: "outbox-test" })),
    (nc) => Effect.promise(() => nc.close())
  )

export interface Delivered {
  readonly subject: string
  readonly msgId: string | undefined
  readonly streamSequence: number
  readonly payload: { readonly type: string; readonly customerId: string; readonly version: number }
}

/**
 * Everything `stream` (CUSTOMERS unless named) holds under `filter`, in stream order, read by an ordered
 * consumer; also the stream's own count of those messages, so nothing beyond
 * what was read can hide.
 */
export const readStream = (nc: NatsConnection, filter: string, stream = "CUSTOMERS") =>
  Effect.promise(async () => {
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info(stream, { subjects_filter: filter })
    const stored = Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0)
    const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: filter })
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

export const freePort = Effect.promise(freePortOnLoopback)

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once("exit", () => resolve()))

const withTimeout = <A>(promise: Promise<A>, millis: number) =>
  Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), millis))])

export class PrivateNats extends Context.Service<PrivateNats, {
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

/**
 * `services` on a database of their own, talking to a private nats-server (PrivateNats, provided beside them),
 * logging through `loggers` only.
 */
export const onPrivateNats = <A, E, R>(
  services: Layer.Layer<A, E, R>,
  loggers: ReadonlyArray<Logger.Logger<unknown, unknown>>
) =>
  Layer.unwrap(Effect.gen(function*() {
    const nats = yield* PrivateNats
    const database = yield* scopedDatabase
    return services.pipe(
      Layer.provideMerge(DatabaseLive),
      Layer.provide(Logger.layer(loggers)),
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({
        DATABASE_URL: database.url,
        NATS_URL: nats.url,
        DB_POOL_MAX: "4"
      })))
    )
  })).pipe(Layer.provideMerge(PrivateNats.layer))
