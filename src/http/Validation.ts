/** Turns request decoding failures into a 400 problem that names every offending field. */
import { Cause, Effect, ErrorReporter, SchemaIssue } from "effect"
import { HttpServerRespondable } from "effect/http"
import { HttpApiError, HttpApiMiddleware } from "effect/http-api"
import { RequestInvalid, RequestValidation } from "../api/Validation.ts"

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

const segmentOf = (segment: PropertyKey | { readonly key: PropertyKey }): string | number => {
  const key = typeof segment === "object" ? segment.key : segment
  return typeof key === "number" ? key : String(key)
}

export const RequestValidationLive = HttpApiMiddleware.layerSchemaErrorTransform(RequestValidation, (error) => {
  if (error.kind === "Body" || error.kind === "ResponseHeaders") {
    // Our response failed its own schema: a bug on our side, reported and answered with a bare 500.
    return Effect.andThen(
      ErrorReporter.report(Cause.fail(error)),
      HttpServerRespondable.toResponse(new HttpApiError.InternalServerErrorProblem())
    )
  }
  const slot = error.kind.toLowerCase()
  const errors = formatIssues(error.cause.issue).issues.map((issue) => ({
    path: [slot, ...(issue.path ?? []).map(segmentOf)],
    message: issue.message
  }))
  return Effect.fail(
    new RequestInvalid({ detail: `Invalid ${errors.map((entry) => entry.path.join(".")).join(", ")}`, errors })
  )
})
