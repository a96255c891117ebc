/**
 * Tracking over NATS, for services already on the bus: request/reply on
 * `ingest.events` (EVENTS_INGEST_SUBJECT) in the queue group
 * `customer-service`, so every instance shares the subject and each request is
 * handled once. The request is the body of POST /api/v1/events/batch; the
 * reply, sent after the commit, is its BatchResult, or a problem (the REST
 * one) with the headers `Nats-Service-Error-Code` (the HTTP status) and
 * `Nats-Service-Error`, plus `Retry-After` when overloaded.
 *
 * Not `events.ingest`: the JetStream stream EVENTS holds `events.<type>`, and
 * a stream's subjects cannot leave one out, so a request there would also be
 * stored (and acknowledged) by JetStream as if it were a tracked event.
 *
 * Authentication is NATS's own: whoever the server lets publish to this
 * subject is a trusted service with `events:write` (docs/events-nats.md).
 */
import { Cause, Config, Effect, Exit, Layer, Option, Schema } from "effect"
import { RequestInvalid } from "../api/Validation.ts"
import { BatchResult, TrackBatch } from "../domain/Event.ts"
import { Overloaded } from "../domain/Errors.ts"
import { requestInvalid } from "../http/Validation.ts"
import { Nats, type Reply } from "../platform/Nats.ts"
import { EventIngest } from "./EventIngest.ts"

export const defaultIngestSubject = "ingest.events"
export const ingestQueue = "customer-service"

const decodeBatch = Schema.decodeUnknownExit(Schema.fromJsonString(TrackBatch), { errors: "all", onExcessProperty: "error" })
const encodeResult = Schema.encodeSync(BatchResult)
const encodeInvalid = Schema.encodeSync(RequestInvalid)
const encodeOverloaded = Schema.encodeSync(Overloaded)
const encoder = new TextEncoder()
const decoder = new TextDecoder()

const json = (value: unknown) => encoder.encode(JSON.stringify(value))

const problemHeaders = (status: number, title: string) => ({
  "Content-Type": "application/problem+json",
  "Nats-Service-Error-Code": String(status),
  "Nats-Service-Error": title
})

const invalid = (error: RequestInvalid): Reply => ({
  data: json(encodeInvalid(error)),
  headers: problemHeaders(error.status, error.title)
})

const overloaded = (error: Overloaded): Reply => ({
  data: json(encodeOverloaded(error)),
  headers: { ...problemHeaders(error.status, error.title), "Retry-After": "1" }
})

/** One request: decoded as the batch endpoint decodes its body, tracked, answered after the commit. */
export const handleIngestRequest = (ingest: EventIngest["Service"]) => (data: Uint8Array): Effect.Effect<Reply> => {
  const decoded = decodeBatch(decoder.decode(data))
  if (Exit.isFailure(decoded)) {
    const error = Cause.findErrorOption(decoded.cause)
    return Effect.succeed(invalid(
      Option.isSome(error)
        ? requestInvalid(error.value.issue, ["payload"])
        : new RequestInvalid({ detail: "The request is not a batch of events", errors: [] })
    ))
  }
  return ingest.trackBatch(decoded.value.events).pipe(
    Effect.map((result): Reply => ({ data: json(encodeResult(result)), headers: { "Content-Type": "application/json" } })),
    Effect.catchTag("Overloaded", (error) => Effect.succeed(overloaded(error)))
  )
}

export const EventsNatsDoorLive = Layer.effectDiscard(Effect.gen(function*() {
  const nats = yield* Nats
  const ingest = yield* EventIngest
  const subject = yield* Config.String("EVENTS_INGEST_SUBJECT").pipe(Config.withDefault(defaultIngestSubject))
  // Enough requests at once to fill the group commit; the ingest queue's own bound refuses the excess.
  const concurrency = yield* Config.Int("EVENTS_INGEST_CONCURRENCY").pipe(Config.withDefault(64))
  yield* nats.serve({ subject, queue: ingestQueue, concurrency }, handleIngestRequest(ingest))
}))
