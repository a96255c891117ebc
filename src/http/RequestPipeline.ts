/**
 * What every request goes through before and after its handler: a correlation
 * id (X-Request-Id in and out), the body size limit, one JSON access-log line
 * without query strings (they can carry PII), and problem+json for requests
 * that cannot even be read.
 */
import { ByteSize, Cause, Config, Effect, ErrorReporter, Layer } from "effect"
import {
  HttpIncomingMessage,
  HttpRouter,
  HttpServerError,
  HttpServerRequest,
  HttpServerRespondable,
  HttpServerResponse,
  ProblemDetails
} from "effect/http"
import { randomUUID } from "node:crypto"
import { RequestInvalid } from "../api/Validation.ts"
import { CurrentRequestId, offeredRequestId } from "../platform/RequestContext.ts"

/** RFC 9110: a 401 names the schemes that would work. */
const challenge = `Bearer realm="customer-service", ApiKey realm="customer-service" header="X-API-Key"`

const problem = (status: number, type: string, title: string, detail: string, requestId: string) =>
  ProblemDetails.toResponse({ type, status, title, detail }).pipe(
    HttpServerResponse.setHeader("x-request-id", requestId)
  )

/**
 * JSON nested deeper than this is refused before any schema walks it: a 1 MB
 * body can nest 500,000 levels, and recursive code (decoding, JSON.stringify)
 * would overflow the stack long before that.
 */
export const maxJsonDepth = 32

/** Whether JSON text opens more than `max` objects or arrays inside each other; one pass, no parsing. */
export const nestsDeeperThan = (text: string, max: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i)
    if (inString) {
      if (char === 0x5c) i++ // a backslash escapes the next character
      else if (char === 0x22) inString = false
    } else if (char === 0x22) inString = true
    else if (char === 0x7b || char === 0x5b) {
      if (++depth > max) return true
    } else if (char === 0x7d || char === 0x5d) depth--
  }
  return false
}

const tooDeep = new RequestInvalid({
  detail: `The body nests JSON more than ${maxJsonDepth} levels deep`,
  errors: [{ path: ["body"], message: `JSON nested at most ${maxJsonDepth} levels deep` }]
})

/** Refuses a JSON body that nests too deep; the handler then reads the same, cached, text. */
const refusingDeepJson = <E, R>(httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if ((request.headers["content-type"] ?? "").includes("json") && nestsDeeperThan(yield* request.text, maxJsonDepth)) {
      return yield* HttpServerRespondable.toResponse(tooDeep)
    }
    return yield* httpEffect
  })

export const RequestPipelineLive = Layer.unwrap(Effect.gen(function*() {
  const maxBodyBytes = yield* Config.Int("MAX_BODY_BYTES").pipe(Config.withDefault(1_048_576))
  const accessLog = yield* Config.Boolean("ACCESS_LOG").pipe(Config.withDefault(true))
  const bodyLimit = ByteSize.bytes(maxBodyBytes)
  const tooLarge = (requestId: string) =>
    problem(413, "/problems/body-too-large", "Request body too large", `The limit is ${maxBodyBytes} bytes`, requestId)

  /** What the handler could not turn into a response itself, as a problem with the request id. */
  const problemFor = (error: unknown, requestId: string) => {
    const reason = HttpServerError.isHttpServerError(error) ? error.reason : error
    if (reason instanceof HttpServerError.RequestParseError) {
      return reason.reason === "BodyTooLarge"
        ? tooLarge(requestId)
        : problem(400, "/problems/malformed-body", "Malformed request body", "The body could not be read", requestId)
    }
    if (reason instanceof HttpServerError.RouteNotFound) {
      return problem(404, "/problems/route-not-found", "No such route", "See /api/v1/openapi.json", requestId)
    }
    return problem(500, "/problems/internal", "Internal error", `Quote request id ${requestId} to support`, requestId)
  }

  return HttpRouter.middleware((httpEffect) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const requestId = offeredRequestId(request.headers["x-request-id"]) ?? randomUUID()
      const declaredLength = Number(request.headers["content-length"] ?? 0)
      const startedAt = performance.now()
      const response = declaredLength > maxBodyBytes ? tooLarge(requestId) : yield* refusingDeepJson(httpEffect).pipe(
        Effect.provideService(CurrentRequestId, requestId),
        Effect.provideService(HttpIncomingMessage.MaxBodySize, bodyLimit),
        Effect.annotateLogs({ requestId }),
        Effect.map((response) =>
          response.status === 401
            ? HttpServerResponse.setHeaders(response, { "x-request-id": requestId, "www-authenticate": challenge })
            : HttpServerResponse.setHeader(response, "x-request-id", requestId)
        ),
        // Whatever escaped the handler (a defect: the API reads JSON bodies with orDie, so even a
        // streamed body over the limit arrives as one) still gets a problem and an access-log line.
        Effect.catchCause((cause) => {
          if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
          const error = Cause.squash(cause)
          const response = problemFor(error, requestId)
          return response.status >= 500 ? Effect.as(ErrorReporter.report(cause), response) : Effect.succeed(response)
        })
      )
      if (accessLog) {
        yield* Effect.logInfo("request").pipe(Effect.annotateLogs({
          requestId,
          method: request.method,
          path: request.url.split("?")[0],
          status: response.status,
          durationMs: Math.round((performance.now() - startedAt) * 10) / 10
        }))
      }
      return response
    }), { global: true })
}))
