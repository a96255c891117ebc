/**
 * Getting segment events to destinations, in two steps that any number of
 * service processes share:
 *
 * - Fan-out: a durable JetStream consumer on `segments.>` files each event as
 *   one delivery per matching destination (its body the event as published,
 *   so extra fields pass through and every attempt signs the same bytes), then
 *   acknowledges it. A message JetStream delivers again adds nothing (unique
 *   destination + event).
 * - Delivery: every DESTINATION_POLL_SECONDS each process claims due
 *   deliveries (FOR UPDATE SKIP LOCKED, with a lease) as far as its free slots
 *   allow, and at most DESTINATION_CONCURRENCY_PER_DESTINATION in flight per
 *   destination, so a slow or failing destination holds only its own slots.
 *   Each attempt is a POST signed per Standard Webhooks; a 2xx delivers, and
 *   anything else is retried with exponential backoff and jitter until
 *   DESTINATION_MAX_ATTEMPTS, after which the delivery is dead (a dead letter).
 * - A destination failing DESTINATION_DISABLE_AFTER_FAILURES attempts in a row over at least
 *   DESTINATION_DISABLE_AFTER_HOURS is disabled (as Svix and Stripe do) until a user enables it again.
 */
import { Clock, Config, Duration, Effect, Exit, FiberSet, Layer, Option, Random, Ref, Result, Schema } from "effect"
import { Webhook } from "standardwebhooks"
import { segmentsStream } from "../domain/SegmentEvents.ts"
import { cutoffBefore, loggingFailures, repeatLoggingFailures } from "../platform/BackgroundWork.ts"
import { type ConsumedMessage, Nats } from "../platform/Nats.ts"
import { post } from "../platform/OutboundHttp.ts"
import { type ClaimedDelivery, DestinationRepo } from "./DestinationRepo.ts"
import { allowPrivateNetworks } from "./Destinations.ts"

/**
 * What the fan-out reads of an event: enough to route it. Other fields (a newer publisher's) are not checked;
 * they travel in the body as published.
 */
const RoutedEvent = Schema.fromJsonString(Schema.Struct({
  type: Schema.Literals(["segment.joined", "segment.left"]),
  eventId: Schema.String.check(Schema.isUUID()),
  segmentId: Schema.String.check(Schema.isUUID()),
  // Read to apply erasures that happened between the publication and the fan-out.
  customerIds: Schema.optionalKey(Schema.Array(Schema.String))
}))
const decodeRoutedEvent = Schema.decodeUnknownExit(RoutedEvent)

const decoder = new TextDecoder()

/** The backoff before attempt `attempt + 1`: base × 2^(attempt − 1), times a jitter of ±20 %, at most `cap`. */
export const retryDelayMillis = (attempt: number, baseMillis: number, capMillis: number, jitter: number) =>
  Math.min(capMillis, baseMillis * 2 ** (attempt - 1) * jitter)

const settings = Config.all({
  consumer: Config.String("DESTINATIONS_CONSUMER").pipe(Config.withDefault("cms-destinations")),
  poll: Config.Number("DESTINATION_POLL_SECONDS").pipe(Config.withDefault(1)),
  timeout: Config.Number("DESTINATION_TIMEOUT_SECONDS").pipe(Config.withDefault(15)),
  retryBase: Config.Number("DESTINATION_RETRY_BASE_SECONDS").pipe(Config.withDefault(60)),
  retryCap: Config.Number("DESTINATION_RETRY_CAP_SECONDS").pipe(Config.withDefault(36_000)),
  maxAttempts: Config.Int("DESTINATION_MAX_ATTEMPTS").pipe(Config.withDefault(12)),
  concurrency: Config.Int("DESTINATION_CONCURRENCY").pipe(Config.withDefault(32)),
  perDestination: Config.Int("DESTINATION_CONCURRENCY_PER_DESTINATION").pipe(Config.withDefault(4)),
  retentionHours: Config.Number("DESTINATION_DELIVERY_RETENTION_HOURS").pipe(Config.withDefault(168)),
  disableAfterFailures: Config.Int("DESTINATION_DISABLE_AFTER_FAILURES").pipe(Config.withDefault(20)),
  disableAfterHours: Config.Number("DESTINATION_DISABLE_AFTER_HOURS").pipe(Config.withDefault(72))
})

export const DestinationDeliveryLive = Layer.effectDiscard(Effect.gen(function*() {
  const repo = yield* DestinationRepo
  const nats = yield* Nats
  const allowPrivate = yield* allowPrivateNetworks
  const config = yield* settings
  const timeoutMillis = config.timeout * 1000
  // Longer than an attempt can take, so a live attempt keeps its claim; a dead process's claims pass after it.
  const leaseMillis = 2 * timeoutMillis + 10_000

  const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

  const fanOut = Effect.fn("DestinationDelivery.fanOut")(function*(message: ConsumedMessage) {
    const body = decoder.decode(message.data)
    const decoded = decodeRoutedEvent(body)
    // A message that is no join or leave cannot be routed, now or later: it is acknowledged, and logged.
    if (Exit.isFailure(decoded)) {
      return yield* Effect.logWarning("destinations: a message on the segment stream is no join or leave, skipped")
        .pipe(Effect.annotateLogs({ subject: message.subject }))
    }
    yield* repo.fanOut({ ...decoded.value, body }, yield* now)
  })

  /**
   * Where a new consumer starts: at the first destination's creation, so the events published before the
   * consumer existed (NATS reached after the outbox relay, the consumer deleted) still reach the destinations;
   * with none yet, now. Never before the delivered rows kept, whose events would otherwise be sent twice.
   */
  const consumerStart = Effect.gen(function*() {
    const at = yield* now
    const first = yield* repo.firstCreatedAt
    const oldestKept = yield* cutoffBefore(Duration.hours(config.retentionHours))
    return new Date(Math.max(Option.getOrElse(first, () => at).getTime(), oldestKept.getTime()))
  })

  yield* nats.consume(
    {
      stream: segmentsStream,
      durable: config.consumer,
      filter: "segments.>",
      ackWaitMillis: 30_000,
      startAt: consumerStart
    },
    fanOut
  )

  const attempt = Effect.fn("DestinationDelivery.attempt")(function*(delivery: ClaimedDelivery) {
    const sentAt = yield* now
    // During a rotation's grace period one signature per secret: receivers accept the message with either.
    const signature = delivery.secrets.map((secret) => new Webhook(secret).sign(delivery.id, sentAt, delivery.body))
      .join(" ")
    const answer = yield* Effect.result(post(delivery.url, {
      body: delivery.body,
      headers: {
        "webhook-id": delivery.id,
        "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
        "webhook-signature": signature
      },
      timeoutMillis,
      allowPrivate
    }))
    const at = yield* now
    if (Result.isSuccess(answer) && answer.success >= 200 && answer.success < 300) {
      return yield* repo.delivered(delivery, answer.success, at)
    }
    const jitter = yield* Random.nextBetween(0.8, 1.2)
    const delay = retryDelayMillis(delivery.attempt, config.retryBase * 1000, config.retryCap * 1000, jitter)
    const disabled = yield* repo.failed(delivery, {
      httpStatus: Result.isSuccess(answer) ? answer.success : null,
      error: Result.isSuccess(answer) ? `HTTP ${answer.success}` : answer.failure.reason,
      nextAttemptAt: delivery.attempt >= config.maxAttempts
        ? Option.none()
        : Option.some(new Date(at.getTime() + delay))
    }, {
      failures: config.disableAfterFailures,
      failingSince: new Date(at.getTime() - config.disableAfterHours * 3_600_000)
    }, at)
    if (disabled) {
      yield* Effect.logWarning("destinations: a destination kept failing and was disabled").pipe(
        Effect.annotateLogs({ destinationId: delivery.destinationId, failingForHours: config.disableAfterHours })
      )
    }
  })

  const pause = Effect.sleep(Duration.seconds(config.poll))
  const inFlight = yield* Ref.make(0)
  const attempts = yield* FiberSet.make()

  /** Claims as many due deliveries as there are free slots and starts them; how many it claimed, and asked. */
  const claimAndStart = Effect.gen(function*() {
    const free = config.concurrency - (yield* Ref.get(inFlight))
    if (free <= 0) return { claimed: 0, asked: 0 }
    const at = yield* now
    const claimed = yield* repo.claim(at, new Date(at.getTime() + leaseMillis), free, config.perDestination)
    for (const delivery of claimed) {
      yield* Ref.update(inFlight, (count) => count + 1)
      yield* FiberSet.run(
        attempts,
        attempt(delivery).pipe(
          // A failure to record the outcome leaves the claim to its lease: the delivery is attempted again then.
          loggingFailures("destinations: an attempt's outcome was not recorded"),
          Effect.ensuring(Ref.update(inFlight, (count) => count - 1))
        )
      )
    }
    return { claimed: claimed.length, asked: free }
  })

  yield* Effect.forkScoped(
    claimAndStart.pipe(
      // A full claim may have left more due work: claim again at once; otherwise wait for the next poll.
      Effect.flatMap(({ asked, claimed }) => claimed > 0 && claimed === asked ? Effect.void : pause),
      loggingFailures("destinations: claiming deliveries failed", pause),
      Effect.forever
    )
  )

  yield* Effect.forkScoped(repeatLoggingFailures(
    "destinations: pruning delivered deliveries failed",
    "10 minutes",
    Effect.flatMap(cutoffBefore(Duration.hours(config.retentionHours)), repo.prune)
  ))
}))
