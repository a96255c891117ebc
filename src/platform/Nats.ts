/**
 * The NATS connection and JetStream client. Connecting never blocks start-up:
 * the service runs (and the outbox fills) while NATS is away, and the client
 * reconnects on its own.
 */
import { AckPolicy, DeliverPolicy, jetstream, type JetStreamClient, jetstreamManager } from "@nats-io/jetstream"
import { connect, headers as natsHeaders, nanos, type NatsConnection } from "@nats-io/transport-node"
import { Cause, Config, Context, Data, Deferred, Effect, Layer, MutableRef, Option, Ref, Schedule, type Scope, Stream } from "effect"
import { describeFailure, logFailure, loggingFailures } from "./BackgroundWork.ts"

export type NatsStatus = "up" | "down" | "disabled"

/** A stream the service publishes into, created or updated at connection time. */
export interface StreamSpec {
  readonly name: string
  readonly subjects: ReadonlyArray<string>
  /** A republish within this window is dropped (Nats-Msg-Id); 10 minutes unless given. */
  readonly duplicateWindowMillis?: number
  /** Messages older than this are discarded; kept for ever unless given. */
  readonly maxAgeMillis?: number
}

export const streams: ReadonlyArray<StreamSpec> = [{ name: "CUSTOMERS", subjects: ["customers.>"] }]

/** A request/reply endpoint on a subject, shared by every process in the same queue group. */
export interface ServiceSpec {
  readonly subject: string
  readonly queue: string
  /** Requests handled at once by this process; more wait in the client's buffer (NATS' slow-consumer limits apply). */
  readonly concurrency: number
}

/**
 * A durable pull consumer on a stream, shared by every process that consumes with the same `durable` name:
 * each message goes to one of them. Created on first use to start at the messages published from `startAt`.
 */
export interface ConsumerSpec {
  readonly stream: StreamSpec
  readonly durable: string
  readonly filter: string
  /** How long a message may wait for its ack before JetStream delivers it again. */
  readonly ackWaitMillis: number
  /**
   * Asked when the consumer is created (first use, or after it was deleted): the publish time of the first
   * message it delivers, so messages published before it existed are not lost.
   */
  readonly startAt: Effect.Effect<Date>
}

/** A message as a consumer's handler sees it. */
export interface ConsumedMessage {
  readonly subject: string
  readonly data: Uint8Array
}

/** What a request is answered with: a body and optional headers. */
export interface Reply {
  readonly data: Uint8Array
  readonly headers?: Readonly<Record<string, string>>
}

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
  /** Creates or updates a stream once connected, and again whenever the server comes back without it. */
  readonly ensureStream: (stream: StreamSpec) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Serves `spec.subject` until the scope closes, from the moment NATS is first reached (at once when it is
   * disabled: nothing is served). `handle` answers each request; it cannot fail, so it owns its error replies.
   * A request without a reply subject is handled all the same and its answer dropped.
   */
  readonly serve: (
    spec: ServiceSpec,
    handle: (data: Uint8Array) => Effect.Effect<Reply>
  ) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Consumes `spec` until the scope closes, from the moment NATS is first reached (never when it is disabled).
   * A message is acknowledged once `handle` succeeds; a failure is logged and the message delivered again
   * after a pause, so `handle` must be idempotent.
   */
  readonly consume: <E, R>(
    spec: ConsumerSpec,
    handle: (message: ConsumedMessage) => Effect.Effect<void, E, R>
  ) => Effect.Effect<void, never, Scope.Scope | R>
}>()("cms/platform/Nats") {
  static readonly layer = Layer.effect(
    Nats,
    Effect.gen(function*() {
      const url = yield* Config.String("NATS_URL").pipe(Config.option)
      if (Option.isNone(url)) {
        yield* Effect.logWarning("nats: NATS_URL not set; changes stay in the outbox until it is")
        return Nats.of({
          status: Effect.succeed("disabled"),
          jetstream: Effect.succeedNone,
          ensureStream: () => Effect.void,
          serve: () => Effect.void,
          consume: () => Effect.void
        })
      }
      const connection = yield* Ref.make(Option.none<{ readonly nc: NatsConnection; readonly js: JetStreamClient }>())
      // Read synchronously on every relay pass; set as the connection's status changes.
      const connected = MutableRef.make(false)
      // Completed at the first connection: services subscribe then (the client resubscribes after reconnects).
      const firstConnection = yield* Deferred.make<NatsConnection>()
      // Streams features asked for, besides `streams`: restored with them after a reconnect.
      const extraStreams: Array<StreamSpec> = []

      const ensureStreams = (nc: NatsConnection) =>
        Effect.tryPromise({
          try: async () => {
            const manager = await jetstreamManager(nc)
            for (const stream of [...streams, ...extraStreams]) {
              const config = {
                name: stream.name,
                subjects: [...stream.subjects],
                duplicate_window: nanos(stream.duplicateWindowMillis ?? duplicateWindowMillis),
                ...(stream.maxAgeMillis === undefined ? {} : { max_age: nanos(stream.maxAgeMillis) })
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
            reconnectTimeWait: 1_000,
            // Otherwise every request (each JetStream publish) captures two stacks up front in case it fails:
            // ~3% of the service's CPU under write load. A failure still names what failed.
            noAsyncTraces: true
          }),
        catch: (cause) => cause
      }).pipe(
        Effect.tap(ensureStreams),
        Effect.tapError((error) => logFailure("nats: not reachable, retrying", error)),
        Effect.retry(Schedule.spaced("2 seconds")),
        Effect.tap((nc) => Ref.set(connection, Option.some({ nc, js: jetstream(nc) }))),
        Effect.tap((nc) => Deferred.succeed(firstConnection, nc)),
        Effect.tap(() => markUp),
        Effect.tap(() => Effect.logInfo("nats: connected")),
        Effect.flatMap(watchStatus)
      )
      yield* Effect.forkScoped(establish)
      yield* Effect.addFinalizer(() =>
        Ref.get(connection).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.void,
            // A drain that never ends (a server gone quiet mid-drain) must not hold the shutdown: close after 5 s.
            onSome: ({ nc }) =>
              Effect.promise(() => nc.drain().catch(() => undefined)).pipe(
                Effect.timeoutOption("5 seconds"),
                Effect.andThen(Effect.promise(() => nc.close().catch(() => undefined)))
              )
          }))
        )
      )

      const ensureStream = (stream: StreamSpec) =>
        Effect.gen(function*() {
          if (!extraStreams.some((known) => known.name === stream.name)) extraStreams.push(stream)
          // Once connected (again, should the first setup have run before this stream was known): idempotent.
          const nc = yield* Deferred.await(firstConnection)
          yield* ensureStreams(nc).pipe(
            Effect.retry({ schedule: Schedule.spaced("1 second"), while: () => !nc.isClosed() }),
            loggingFailures(`nats: stream ${stream.name} not created`)
          )
        }).pipe(Effect.forkScoped, Effect.asVoid)

      const serve = (spec: ServiceSpec, handle: (data: Uint8Array) => Effect.Effect<Reply>) =>
        Effect.gen(function*() {
          const nc = yield* Deferred.await(firstConnection)
          const subscription = yield* Effect.acquireRelease(
            Effect.sync(() => nc.subscribe(spec.subject, { queue: spec.queue })),
            (subscription) => Effect.sync(() => subscription.unsubscribe())
          )
          yield* Effect.logInfo("nats: serving").pipe(Effect.annotateLogs({ subject: spec.subject, queue: spec.queue }))
          yield* Stream.fromAsyncIterable(subscription, (cause) => cause).pipe(
            Stream.mapEffect((message) =>
              handle(message.data).pipe(
                Effect.tap((reply) =>
                  Effect.sync(() => {
                    if (reply.headers === undefined) return message.respond(reply.data)
                    const headers = natsHeaders()
                    for (const [name, value] of Object.entries(reply.headers)) headers.set(name, value)
                    return message.respond(reply.data, { headers })
                  })
                ),
                // A defect answers nothing (the requester times out) and ends neither the others nor the service.
                loggingFailures(`nats: a request on ${spec.subject} failed`)
              ), { concurrency: spec.concurrency, unordered: true }),
            Stream.runDrain,
            loggingFailures(`nats: serving ${spec.subject} stopped`)
          )
        }).pipe(Effect.forkScoped, Effect.asVoid)

      /** The durable consumer's messages, the consumer created (to start at `spec.startAt`) when it is missing. */
      const consumerMessages = (nc: NatsConnection, spec: ConsumerSpec, startAt: Date) =>
        Effect.acquireRelease(
          Effect.tryPromise({
            try: async () => {
              const manager = await jetstreamManager(nc)
              await manager.consumers.info(spec.stream.name, spec.durable).catch(() =>
                manager.consumers.add(spec.stream.name, {
                  durable_name: spec.durable,
                  ack_policy: AckPolicy.Explicit,
                  deliver_policy: DeliverPolicy.StartTime,
                  opt_start_time: startAt.toISOString(),
                  filter_subject: spec.filter,
                  ack_wait: nanos(spec.ackWaitMillis)
                })
              )
              const consumer = await jetstream(nc).consumers.get(spec.stream.name, spec.durable)
              return await consumer.consume({ max_messages: 64 })
            },
            catch: (cause) => new StreamSetupFailed({ reason: describeFailure(cause) })
          }),
          (messages) => Effect.promise(() => messages.close())
        )

      const consume = <E, R>(spec: ConsumerSpec, handle: (message: ConsumedMessage) => Effect.Effect<void, E, R>) =>
        Effect.gen(function*() {
          yield* ensureStream(spec.stream)
          const nc = yield* Deferred.await(firstConnection)
          const run = Effect.gen(function*() {
            // Asked on every (re)start, though used only when the consumer is missing: a cheap read.
            const messages = yield* consumerMessages(nc, spec, yield* spec.startAt)
            yield* Stream.fromAsyncIterable(messages, (cause) => cause).pipe(
              Stream.runForEach((message) =>
                handle({ subject: message.subject, data: message.data }).pipe(
                  Effect.andThen(Effect.sync(() => message.ack())),
                  Effect.catchCause((cause) =>
                    Cause.hasInterruptsOnly(cause)
                      ? Effect.interrupt
                      : Effect.andThen(
                        logFailure(`nats: a message on ${message.subject} failed, redelivering`, Cause.squash(cause)),
                        Effect.sync(() => message.nak(1_000))
                      )
                  )
                )
              )
            )
          }).pipe(Effect.scoped)
          // The stream missing (not created yet), the consumer deleted, the iterator ended: start again.
          yield* run.pipe(
            loggingFailures(`nats: consuming ${spec.stream.name} as ${spec.durable} failed, restarting`, Effect.sleep("1 second")),
            Effect.andThen(Effect.sleep("1 second")),
            Effect.forever
          )
        }).pipe(Effect.forkScoped, Effect.asVoid)

      return Nats.of({
        ensureStream,
        serve,
        consume,
        status: Effect.sync((): NatsStatus => MutableRef.get(connected) ? "up" : "down"),
        jetstream: Effect.map(
          Ref.get(connection),
          (current) => MutableRef.get(connected) ? Option.map(current, ({ js }) => js) : Option.none()
        )
      })
    })
  )
}
