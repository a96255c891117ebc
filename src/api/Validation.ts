/**
 * Requests that fail schema decoding answer 400 with one entry per offending
 * value, its path starting at the request slot (`payload`, `query`, ...).
 */
import { Schema } from "effect"
import { HttpApiError, HttpApiMiddleware } from "effect/http-api"

export class RequestInvalid extends HttpApiError.Problem<RequestInvalid>()("RequestInvalid", {
  type: "/problems/invalid-request",
  status: 400,
  title: "The request is invalid"
}, { errors: Schema.Array(HttpApiError.ProblemIssue) }) {}

export class RequestValidation extends HttpApiMiddleware.Service<RequestValidation>()("cms/api/RequestValidation", {
  error: RequestInvalid
}) {}
