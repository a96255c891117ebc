/**
 * Group commit for tracked events. Requests hand their events to a queue;
 * a few flusher fibers each take whatever has gathered (up to a row limit)
 * and store it as one statement, then answer every request in it. So a
 * request's answer means its events are committed, without one transaction
 * per event. The queue is bounded in events: beyond the bound a request is
 * refused at once (503, Retry-After) instead of waiting without limit.
 */
import { type Cause, Clock, Config, Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Queue } from "effect"
import type { CustomerId } from "../domain/Customer.ts"
import type { BatchEvent, BatchResult, EventId, EventResult, TrackEvent } from "../domain/Event.ts"
import { EventId as EventIdSchema } from "../domain/Event.ts"
import {
  CustomerNotFound,
  OccurredBeforeRetention,
  OccurredInFuture,
  Overloaded,
  TrackingPlanViolation,
  UnregisteredEventType
} from "../domain/Errors.ts"
import { uuidv7 } from "../platform/Ids.ts"
import { EventStore, type EventToStore, type StoreOutcome } from "./EventStore.ts"
import { retentionHorizon, RetentionMonths } from "./EventRetention.ts"
import { TrackingPlan } from "./TrackingPlan.ts"

/** How far ahead of the service's clock an event may claim to have happened (clients' clocks drift). */
export const allowedClockSkewMillis = 5 * 60_000

/** One request's events, waiting to be stored together with others. */
interface Submission {
  readonly events: ReadonlyArray<EventToStore>
  readonly done: Deferred.Deferred<ReadonlyArray<StoreOutcome>>
}

const notFound = {
  type: "/problems/customer-not-found",
  title: "No customer with this id (or it was erased)",
  field: "customerId"
} as const

const inFuture = {
  type: "/problems/occurred-in-future",
  title: "The event's time is ahead of the service's clock by more than five minutes",
  field: "occurredAt"
} as const

const violatesPlan = {
  type: "/problems/tracking-plan-violation",
  title: "The event's properties do not match its type's schema in the tracking plan"
} as const

const unregisteredType = {
  type: "/problems/unregistered-event-type",
  title: "The tracking plan accepts only registered event types, and this one is not",
  field: "type"
} as const

const beforeRetention = {
  type: "/problems/occurred-before-retention",
  title: "The event's time is older than the events the service keeps",
  field: "occurredAt"
} as const

export class EventIngest extends Context.Service<EventIngest, {
  /** Stores the events (any customers); one result per event, in order. Fails only when over capacity. */
  track(events: ReadonlyArray<BatchEvent>): Effect.Effect<ReadonlyArray<EventResult>, Overloaded>
  /** One event for one customer: its rejection, if any, as the operation's error (REST, RPC). */
  trackOne(
    customerId: CustomerId,
    event: TrackEvent
  ): Effect.Effect<
    EventResult,
    | CustomerNotFound
    | OccurredInFuture
    | OccurredBeforeRetention
    | TrackingPlanViolation
    | UnregisteredEventType
    | Overloaded
  >
  /** A batch across customers, with its totals (REST, RPC, NATS). */
  trackBatch(events: ReadonlyArray<BatchEvent>): Effect.Effect<BatchResult, Overloaded>
}>()("cms/events/EventIngest") {
  static readonly layer = Layer.effect(
    EventIngest,
    Effect.gen(function*() {
      const store = yield* EventStore
      const plan = yield* TrackingPlan
      const retentionMonths = yield* RetentionMonths
      const maxQueuedEvents = yield* Config.Int("EVENTS_MAX_QUEUED").pipe(Config.withDefault(20_000))
      const maxEventsPerFlush = yield* Config.Int("EVENTS_MAX_PER_FLUSH").pipe(Config.withDefault(5_000))
      const flushers = yield* Config.Int("EVENTS_FLUSHERS").pipe(Config.withDefault(2))
      // Waiting a moment after the first request lets more join its statement; 0 relies on the flushers
      // being busy (requests gather while a statement runs), which is enough under load.
      const gatherWindow = yield* Config.Duration("EVENTS_GATHER_WINDOW").pipe(Config.withDefault(Duration.zero))

      const queue = yield* Queue.unbounded<Submission, Cause.Done>()
      // Events accepted and not yet answered: queued or in a statement. Bounds memory under overload.
      let inFlight = 0

      const takeFlush = Effect.gen(function*() {
        const first = yield* Queue.take(queue)
        if (Duration.isGreaterThan(gatherWindow, Duration.zero)) yield* Effect.sleep(gatherWindow)
        const taken = [first]
        let events = first.events.length
        while (events < maxEventsPerFlush) {
          const next = yield* Queue.poll(queue)
          if (Option.isNone(next)) break
          taken.push(next.value)
          events += next.value.events.length
        }
        return taken
      })

      const flush = (submissions: ReadonlyArray<Submission>) =>
        Effect.gen(function*() {
          // One statement cannot insert the same key twice; a repeat within the flush is a duplicate.
          const unique: Array<EventToStore> = []
          const position = new Map<string, number>()
          const places = submissions.map((submission) =>
            submission.events.map((event) => {
              const key = `${event.id}@${event.occurredAt}`
              const seen = position.get(key)
              if (seen !== undefined) return { index: seen, repeat: true }
              position.set(key, unique.length)
              unique.push(event)
              return { index: unique.length - 1, repeat: false }
            })
          )
          const committedAt = new Date(yield* Clock.currentTimeMillis)
          const outcomes = yield* Effect.exit(store.store(unique, committedAt))
          for (const [i, submission] of submissions.entries()) {
            yield* Deferred.done(
              submission.done,
              Exit.map(outcomes, (stored) =>
                places[i].map(({ index, repeat }) =>
                  repeat && stored[index] === "stored" ? "duplicate" as const : stored[index]
                ))
            )
          }
        }).pipe(Effect.ensuring(Effect.sync(() => {
          for (const submission of submissions) inFlight -= submission.events.length
        })))

      const flusher = Effect.forever(Effect.flatMap(takeFlush, flush))
      const fibers = yield* Effect.forEach(
        Array.from({ length: flushers }),
        () => Effect.forkScoped(Effect.catchTag(flusher, "Done", () => Effect.void)),
        { concurrency: "unbounded" }
      )
      // On shutdown: take no more, store what was accepted, then stop.
      yield* Effect.addFinalizer(() =>
        Queue.end(queue).pipe(Effect.andThen(Fiber.joinAll(fibers)), Effect.exit, Effect.asVoid)
      )

      const track = Effect.fn("EventIngest.track")(function*(events: ReadonlyArray<BatchEvent>) {
        const now = yield* Clock.currentTimeMillis
        // Older events would land in a partition that is (or is about to be) dropped.
        const horizon = Option.match(retentionMonths, { onNone: () => -Infinity, onSome: (months) => retentionHorizon(now, months) })
        const results: Array<EventResult> = new Array(events.length)
        const toStore: Array<EventToStore> = []
        const storedAt: Array<number> = []
        for (const [index, event] of events.entries()) {
          const id: EventId = event.id ?? EventIdSchema.make(uuidv7(now))
          // Kept to the millisecond in UTC, so that a retry's time compares equal to the stored one.
          const occurredAt = event.occurredAt === undefined ? now : Date.parse(event.occurredAt)
          if (occurredAt > now + allowedClockSkewMillis) {
            results[index] = { id, status: "rejected", problem: inFuture }
            continue
          }
          if (occurredAt < horizon) {
            results[index] = { id, status: "rejected", problem: beforeRetention }
            continue
          }
          const verdict = plan.check(event.type, event.properties)
          if (verdict.kind === "unregistered") {
            results[index] = { id, status: "rejected", problem: unregisteredType }
            continue
          }
          if (verdict.kind === "violates" && verdict.mode === "refuse") {
            const [first] = verdict.violations
            results[index] = {
              id,
              status: "rejected",
              problem: { ...violatesPlan, field: first.field, detail: first.message },
              violations: verdict.violations
            }
            continue
          }
          storedAt.push(index)
          toStore.push({
            id,
            customerId: event.customerId,
            type: event.type,
            occurredAt: new Date(occurredAt).toISOString(),
            sessionId: event.sessionId ?? null,
            channel: event.channel ?? null,
            device: event.device ?? null,
            properties: event.properties ?? null,
            revenue: event.revenue ?? null,
            currency: event.currency ?? null,
            planViolations: verdict.kind === "violates" ? verdict.violations : null,
            personalProperties: plan.personalProperties(event.type)
          })
        }
        if (toStore.length > 0) {
          if (inFlight + toStore.length > maxQueuedEvents) {
            return yield* new Overloaded({ detail: `More than ${maxQueuedEvents} events are waiting to be stored` })
          }
          inFlight += toStore.length
          const done = yield* Deferred.make<ReadonlyArray<StoreOutcome>>()
          const offered = yield* Queue.offer(queue, { events: toStore, done })
          if (!offered) {
            inFlight -= toStore.length
            return yield* new Overloaded({ detail: "The service is shutting down" })
          }
          const outcomes = yield* Deferred.await(done)
          for (const [n, outcome] of outcomes.entries()) {
            const { id, planViolations } = toStore[n]
            results[storedAt[n]] = outcome === "customer-not-found"
              ? { id, status: "rejected", problem: notFound }
              : planViolations === null
              ? { id, status: outcome }
              : { id, status: outcome, violations: planViolations }
          }
        }
        return results
      })

      const trackOne = Effect.fn("EventIngest.trackOne")(function*(customerId: CustomerId, event: TrackEvent) {
        const [result] = yield* track([{ customerId, ...event }])
        switch (result.problem?.type) {
          case "/problems/customer-not-found":
            return yield* new CustomerNotFound({ customerId })
          case "/problems/occurred-in-future":
            return yield* new OccurredInFuture({ field: "occurredAt" })
          case "/problems/occurred-before-retention":
            return yield* new OccurredBeforeRetention({ field: "occurredAt" })
          case "/problems/tracking-plan-violation":
            return yield* new TrackingPlanViolation({
              field: result.problem.field,
              violations: result.violations ?? [],
              ...(result.problem.detail === undefined ? {} : { detail: result.problem.detail })
            })
          case "/problems/unregistered-event-type":
            return yield* new UnregisteredEventType({ field: "type", detail: `'${event.type}' is not registered` })
        }
        return result
      })

      const trackBatch = Effect.fn("EventIngest.trackBatch")(function*(events: ReadonlyArray<BatchEvent>) {
        const results = yield* track(events)
        let stored = 0
        let duplicates = 0
        for (const result of results) {
          if (result.status === "stored") stored++
          else if (result.status === "duplicate") duplicates++
        }
        return { stored, duplicates, rejected: results.length - stored - duplicates, results }
      })

      return EventIngest.of({ track, trackOne, trackBatch })
    })
  )
}

