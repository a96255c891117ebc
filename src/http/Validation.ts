/**
 * Request-side middlewares: decoding failures become a 400 problem that names
 * the offending fields, and a body that is not JSON a 415. The 400 is small
 * whatever the input: a body with 260,000 bad tags has as many issues, so
 * only the first few are formatted.
 */
import { Cause, Effect, ErrorReporter, Layer, SchemaIssue } from "effect"
import { HttpServerRequest, HttpServerRespondable } from "effect/http"
import { HttpApiMiddleware } from "effect/http-api"
import { InternalError, InternalErrors, JsonBody, jsonMediaType, UnsupportedMediaType } from "../api/Transport.ts"
import { RequestInvalid, RequestValidation } from "../api/Validation.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"

/** At most this many entries in `errors`; a client fixes those and learns of the next ones. */
export const maxReportedIssues = 20
/** Messages naming a long literal list (countries, time zones) are cut to this length. */
const maxMessageLength = 300

const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

type Segment = string | number

const segmentOf = (segment: PropertyKey): Segment => typeof segment === "number" ? segment : String(segment)

/**
 * The issue tree's first failures, walked lazily: branches (pointers and
 * composites) are followed, and each failure below them is formatted alone,
 * so the cost is that of the issues reported, not of all there are.
 */
function* failures(issue: SchemaIssue.Issue, path: ReadonlyArray<Segment>): Generator<IssueEntry> {
  switch (issue._tag) {
    case "Pointer":
      return yield* failures(issue.issue, [...path, ...issue.path.map(segmentOf)])
    case "Encoding":
      return yield* failures(issue.issue, path)
    case "Composite":
      for (const inner of issue.issues) yield* failures(inner, path)
      return
    default:
      for (const formatted of formatIssue(issue).issues) {
        const message = formatted.message.length > maxMessageLength
          ? `${formatted.message.slice(0, maxMessageLength)}…`
          : formatted.message
        yield {
          path: [...path, ...(formatted.path ?? []).map((segment) =>
            segmentOf(typeof segment === "object" ? segment.key : segment)
          )],
          message
        }
      }
  }
}

export interface IssueEntry {
  readonly path: ReadonlyArray<Segment>
  readonly message: string
}

/** The invalid-request problem for a decoding failure of the request part `slot` (payload, query, ...). */
export const requestInvalid = (issue: SchemaIssue.Issue, slot: ReadonlyArray<Segment>): RequestInvalid => {
  // A value failing two checks of one schema is reported once per distinct message.
  const entries = new Map<string, IssueEntry>()
  let more = false
  for (const entry of failures(issue, slot)) {
    if (entries.size === maxReportedIssues) {
      more = true
      break
    }
    entries.set(`${entry.path.join(".")}\u0000${entry.message}`, entry)
  }
  const errors = [...entries.values()]
  const fields = [...new Set(errors.map((entry) => entry.path.join(".")))]
  const detail = `Invalid ${fields.join(", ")}${more ? ` (the first ${maxReportedIssues} problems; there are more)` : ""}`
  return new RequestInvalid({ detail, errors })
}

export const RequestValidationLive = HttpApiMiddleware.layerSchemaErrorTransform(RequestValidation, (error) => {
  if (error.kind === "Body" || error.kind === "ResponseHeaders") {
    // Our response failed its own schema: a bug on our side, reported and answered with a bare 500.
    return ErrorReporter.report(Cause.fail(error)).pipe(
      Effect.andThen(CurrentRequestId),
      Effect.flatMap((requestId) => HttpServerRespondable.toResponse(InternalError.forRequest(requestId ?? "unknown")))
    )
  }
  return Effect.fail(requestInvalid(error.cause.issue, [error.kind.toLowerCase()]))
})

/** A body that is not JSON is refused before it is read (RFC 9110: 415 names what would be accepted). */
export const JsonBodyLive = Layer.succeed(JsonBody, (httpEffect) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    // As HttpApi reads it: no Content-Type means JSON, parameters (charset) do not matter.
    const mediaType = (request.headers["content-type"] ?? jsonMediaType).split(";")[0].trim().toLowerCase()
    if (mediaType !== jsonMediaType) {
      return yield* new UnsupportedMediaType({
        accepted: [jsonMediaType],
        detail: `Send the body as ${jsonMediaType}${
          request.method === "PATCH" ? " (this PATCH is not JSON Merge Patch: objects are replaced whole)" : ""
        }`
      })
    }
    return yield* httpEffect
  }))

/** The 500 itself is rendered by the request pipeline, which sees every route; this only declares it. */
export const InternalErrorsLive = Layer.succeed(InternalErrors, (httpEffect) => httpEffect)
