/**
 * What every request goes through before and after its handler: a correlation
 * id (X-Request-Id in and out), the body size limit, one JSON access-log line
 * without query strings (they can carry PII), and problem+json for requests
 * that cannot even be read.
 */
import { ByteSize, Config, Effect, Layer } from "effect"
import {
  HttpIncomingMessage,
  HttpRouter,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse,
  ProblemDetails
} from "effect/http"
import { randomUUID } from "node:crypto"
import { CurrentRequestId } from "../platform/RequestContext.ts"

/** RFC 9110: a 401 names the schemes that would work. */
const challenge = `Bearer realm="customer-service", ApiKey realm="customer-service" header="X-API-Key"`

const acceptableRequestId = /^[A-Za-z0-9._:-]{1,128}$/

const problem = (status: number, type: string, title: string, detail: string, requestId: string) =>
  ProblemDetails.toResponse({ type, status, title, detail }).pipe(
    HttpServerResponse.setHeader("x-request-id", requestId)
  )

export const RequestPipelineLive = Layer.unwrap(Effect.gen(function*() {
  const maxBodyBytes = yield* Config.Int("MAX_BODY_BYTES").pipe(Config.withDefault(1_048_576))
  const accessLog = yield* Config.Boolean("ACCESS_LOG").pipe(Config.withDefault(true))
  const bodyLimit = ByteSize.bytes(maxBodyBytes)
  const tooLarge = (requestId: string) =>
    problem(413, "/problems/body-too-large", "Request body too large", `The limit is ${maxBodyBytes} bytes`, requestId)

  const unreadable = (error: unknown, requestId: string) => {
    if (!HttpServerError.isHttpServerError(error) || error.reason._tag !== "RequestParseError") return undefined
    return error.reason.reason === "BodyTooLarge"
      ? tooLarge(requestId)
      : problem(400, "/problems/malformed-body", "Malformed request body", "The body is not valid JSON", requestId)
  }

  return HttpRouter.middleware((httpEffect) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const offered = request.headers["x-request-id"]
      const requestId = offered !== undefined && acceptableRequestId.test(offered) ? offered : randomUUID()
      const declaredLength = Number(request.headers["content-length"] ?? 0)
      const startedAt = performance.now()
      const response = declaredLength > maxBodyBytes ? tooLarge(requestId) : yield* httpEffect.pipe(
        Effect.provideService(CurrentRequestId, requestId),
        Effect.provideService(HttpIncomingMessage.MaxBodySize, bodyLimit),
        Effect.annotateLogs({ requestId }),
        Effect.map((response) =>
          response.status === 401
            ? HttpServerResponse.setHeaders(response, { "x-request-id": requestId, "www-authenticate": challenge })
            : HttpServerResponse.setHeader(response, "x-request-id", requestId)
        ),
        Effect.catch((error: unknown) => {
          const answer = unreadable(error, requestId)
          return answer === undefined ? Effect.fail(error) : Effect.succeed(answer)
        }),
        // The API reads JSON payloads with orDie, so a body that outgrows the limit while
        // streaming (no Content-Length) arrives here as a defect.
        Effect.catchDefect((defect) => {
          const answer = unreadable(defect, requestId)
          return answer === undefined ? Effect.die(defect) : Effect.succeed(answer)
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
