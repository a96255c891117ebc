/**
 * What the HTTP layer itself answers, around or instead of an operation's
 * handler: body and media-type refusals, unknown routes and methods, the
 * opaque 500, and the headers every response carries. Declared here once, so
 * the server renders them from these classes and the OpenAPI document
 * describes them from the same schemas.
 */
import { Schema } from "effect"
import { HttpApiError, HttpApiMiddleware, OpenApi } from "effect/http-api"

const problemType = (slug: string) => `/problems/${slug}` as const

/** The only request body media type: every body is JSON. */
export const jsonMediaType = "application/json"

export class MalformedBody extends HttpApiError.Problem<MalformedBody>()("MalformedBody", {
  type: problemType("malformed-body"),
  status: 400,
  title: "Malformed request body"
}) {}

export class PayloadTooLarge extends HttpApiError.Problem<PayloadTooLarge>()("PayloadTooLarge", {
  type: problemType("body-too-large"),
  status: 413,
  title: "Request body too large"
}, { maxBytes: Schema.Int }) {}

export class UnsupportedMediaType extends HttpApiError.Problem<UnsupportedMediaType>()("UnsupportedMediaType", {
  type: problemType("unsupported-media-type"),
  status: 415,
  title: "Unsupported request body media type"
}, {
  accepted: Schema.Array(Schema.Literal(jsonMediaType)).annotate({
    description: "The media types this operation accepts"
  })
}) {}

export class RouteNotFound extends HttpApiError.Problem<RouteNotFound>()("RouteNotFound", {
  type: problemType("route-not-found"),
  status: 404,
  title: "No such route"
}) {}

export class MethodNotAllowed extends HttpApiError.Problem<MethodNotAllowed>()("MethodNotAllowed", {
  type: problemType("method-not-allowed"),
  status: 405,
  title: "Method not allowed on this route"
}, { allowed: Schema.Array(Schema.String) }) {}

export class InternalError extends HttpApiError.Problem<InternalError>()("InternalError", {
  type: problemType("internal"),
  status: 500,
  title: "Internal error"
}) {
  /** Nothing about the failure itself reaches the caller: only the id that finds it in the logs. */
  static forRequest(requestId: string) {
    return new InternalError({ detail: `Quote request id ${requestId} to support` })
  }
}

/**
 * Operations that read a JSON body: the body is refused before decoding when
 * it is not JSON (415, by this middleware, applied per endpoint inside
 * authentication: credentials come first), larger than the limit (413) or
 * unreadable (400), both answered by the request pipeline, which meets the
 * body first.
 */
export class JsonBody extends HttpApiMiddleware.Service<JsonBody>()("cms/api/JsonBody", {
  error: [MalformedBody, PayloadTooLarge, UnsupportedMediaType]
}) {}

/** Every operation: a failure of the service itself is an opaque 500 naming the request id. */
export class InternalErrors extends HttpApiMiddleware.Service<InternalErrors>()("cms/api/InternalErrors", {
  error: InternalError
}) {}

/** `X-Request-Id`: the caller's correlation id when acceptable, else one the service made up. */
export const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/u

/** RFC 9110: a 401 names the schemes that would work. */
export const authenticationChallenge =
  `Bearer realm="customer-service", ApiKey realm="customer-service" header="X-API-Key"`

/** The headers the request pipeline adds to responses, and to which. */
export const pipelineHeaders: ReadonlyArray<{
  readonly name: string
  readonly value?: string
  readonly description: string
  readonly appliesTo: (status: number, method: string) => boolean
}> = [
  {
    name: "x-request-id",
    description:
      "The request's correlation id: the caller's X-Request-Id when it matches the pattern, else a UUID. Quote it to support.",
    appliesTo: () => true
  },
  {
    name: "cache-control",
    value: "no-store",
    description: "Answers can carry personal data: no cache may keep them.",
    appliesTo: () => true
  },
  {
    name: "x-content-type-options",
    value: "nosniff",
    description: "Browsers must not guess another media type than the one sent.",
    appliesTo: () => true
  },
  {
    name: "www-authenticate",
    value: authenticationChallenge,
    description: "The authentication schemes that would be accepted.",
    appliesTo: (status) => status === 401
  },
  {
    name: "retry-after",
    value: "1",
    description: "The service is over capacity for the moment: retry after this many seconds.",
    appliesTo: (status) => status === 503 || status === 429
  },
  {
    name: "accept-patch",
    value: jsonMediaType,
    description: "RFC 5789: the patch format this PATCH accepts (not JSON Merge Patch).",
    appliesTo: (status, method) => status === 415 && method === "PATCH"
  }
]

const headerSchema = (header: (typeof pipelineHeaders)[number]) =>
  Schema.toJsonSchemaDocument(
    header.value === undefined ? Schema.String.check(Schema.isPattern(requestIdPattern)) : Schema.Literal(header.value)
  ).schema

/**
 * The pipeline's headers in every operation's responses. HttpApi declares
 * response headers only for what a handler returns, and these are added
 * around every handler, so the document gets them here, from the same values.
 */
export const documentPipelineHeaders = OpenApi.annotations({
  transform: (spec) => {
    for (const pathItem of Object.values<Record<string, { responses?: Record<string, { headers?: object }> }>>(
      spec.paths
    )) {
      for (const [method, operation] of Object.entries(pathItem)) {
        for (const [status, response] of Object.entries(operation.responses ?? {})) {
          const applying = pipelineHeaders.filter((header) => header.appliesTo(Number(status), method.toUpperCase()))
          const headers = Object.fromEntries(
            applying.map((header) => [header.name, {
              description: header.description,
              required: true,
              schema: headerSchema(header)
            }])
          )
          response.headers = { ...response.headers, ...headers }
        }
      }
    }
    return spec
  }
})
