/**
 * The NATS connection and JetStream client. Connecting never blocks start-up:
 * the service runs (and the outbox fills) while NATS is away, and the client
 * reconnects on its own.
 */
import { jetstream, type JetStreamClient, jetstreamManager } from "@nats-io/jetstream"
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node"
import { Config, Context, Data, Effect, Layer, MutableRef, Option, Ref, Schedule, Stream } from "effect"
import { describeFailure, logFailure, loggingFailures } from "./BackgroundWork.ts"

export type NatsStatus = "up" | "down" | "disabled"

/** A stream the service publishes into, created or updated at connection time. */
export interface StreamSpec {
  readonly name: string
  readonly subjects: ReadonlyArray<string>
}

export const streams: ReadonlyArray<StreamSpec> = [{ name: "CUSTOMERS", subjects: ["customers.>"] }]

/** The streams could not be created or updated; `reason` names the driver's error class. */
class StreamSetupFailed extends Data.TaggedError("StreamSetupFailed")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** Republishing an outbox row within this window is dropped by JetStream (Nats-Msg-Id). */
const duplicateWindowMillis = 10 * 60_000

export class Nats extends Context.Service<Nats, {
  readonly status: Effect.Effect<NatsStatus>
  /** The JetStream client while connected. */
  readonly jetstream: Effect.Effect<Option.Option<JetStreamClient>>
}>()("cms/platform/Nats") {
  static readonly layer = Layer.effect(
    Nats,
    Effect.gen(function*() {
      const url = yield* Config.String("NATS_URL").pipe(Config.option)
      if (Option.isNone(url)) {
        yield* Effect.logWarning("nats: NATS_URL not set; changes stay in the outbox until it is")
        return Nats.of({ status: Effect.succeed("disabled"), jetstream: Effect.succeedNone })
      }
      const connection = yield* Ref.make(Option.none<{ readonly nc: NatsConnection; readonly js: JetStreamClient }>())
      // Read synchronously on every relay pass; set as the connection's status changes.
      const connected = MutableRef.make(false)

      const ensureStreams = (nc: NatsConnection) =>
        Effect.tryPromise({
          try: async () => {
            const manager = await jetstreamManager(nc)
            for (const stream of streams) {
              const config = {
                name: stream.name,
                subjects: [...stream.subjects],
                duplicate_window: nanos(duplicateWindowMillis)
              }
              await manager.streams.info(stream.name).then(
                () => manager.streams.update(stream.name, config),
                () => manager.streams.add(config)
              )
            }
          },
          catch: (cause) => new StreamSetupFailed({ reason: describeFailure(cause) })
        })

      const markUp = Effect.sync(() => MutableRef.set(connected, true))
      const markDown = Effect.sync(() => MutableRef.set(connected, false))

      /**
       * The server may come back without its store (no persistent volume): every
       * publish fails until the streams exist again, so "up" waits for them.
       */
      const watchStatus = (nc: NatsConnection) =>
        Stream.fromAsyncIterable(nc.status(), (cause) => cause).pipe(
          Stream.runForEach((status) =>
            status.type === "disconnect"
              ? markDown
              : status.type === "reconnect"
              ? ensureStreams(nc).pipe(
                Effect.retry({ schedule: Schedule.spaced("1 second"), while: () => !nc.isClosed() }),
                Effect.andThen(markUp),
                // Only once the connection is closed for good: nothing to mark up any more.
                loggingFailures("nats: streams not restored after reconnecting")
              )
              : Effect.void
          ),
          // The status iterator ended in an error: status changes are no longer seen.
          loggingFailures("nats: status watcher stopped")
        )

      const establish = Effect.tryPromise({
        try: () =>
          connect({
            servers: url.value,
            name: "customer-service",
            reconnect: true,
            maxReconnectAttempts: -1,
            reconnectTimeWait: 1_000
          }),
        catch: (cause) => cause
      }).pipe(
        Effect.tap(ensureStreams),
        Effect.tapError((error) => logFailure("nats: not reachable, retrying", error)),
        Effect.retry(Schedule.spaced("2 seconds")),
        Effect.tap((nc) => Ref.set(connection, Option.some({ nc, js: jetstream(nc) }))),
        Effect.tap(() => markUp),
        Effect.tap(() => Effect.logInfo("nats: connected")),
        Effect.flatMap(watchStatus)
      )
      yield* Effect.forkScoped(establish)
      yield* Effect.addFinalizer(() =>
        Ref.get(connection).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.void,
            onSome: ({ nc }) => Effect.promise(() => nc.drain().catch(() => nc.close()))
          }))
        )
      )

      return Nats.of({
        status: Effect.sync((): NatsStatus => MutableRef.get(connected) ? "up" : "down"),
        jetstream: Effect.map(
          Ref.get(connection),
          (current) => MutableRef.get(connected) ? Option.map(current, ({ js }) => js) : Option.none()
        )
      })
    })
  )
}
