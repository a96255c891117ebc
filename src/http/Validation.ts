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
  // A value failing two checks of one schema is reported once per distinct message.
  const entries = new Map(formatIssues(error.cause.issue).issues.map((issue) => {
    const path = [slot, ...(issue.path ?? []).map(segmentOf)]
    return [`${path.join(".")}\u0000${issue.message}`, { path, message: issue.message }] as const
  }))
  const errors = [...entries.values()]
  const fields = [...new Set(errors.map((entry) => entry.path.join(".")))]
  return Effect.fail(
    new RequestInvalid({ detail: `Invalid ${fields.join(", ")}`, errors })
  )
})
