/**
 * What every request goes through before and after its handler: a correlation
 * id (X-Request-Id in and out), the body size limit, the headers declared in
 * api/Transport.ts (no-store, nosniff, the 401 challenge), one JSON
 * access-log line without query strings (they can carry PII), and
 * problem+json for requests that cannot even be read or routed.
 */
import { ByteSize, Cause, Config, Effect, ErrorReporter, Layer } from "effect"
import {
  HttpIncomingMessage,
  HttpRouter,
  HttpServerError,
  HttpServerRequest,
  HttpServerRespondable,
  HttpServerResponse
} from "effect/http"
import { randomUUID } from "node:crypto"
import { asyncApiPath, docsPath, openApiDocument, openApiPath } from "../api/Documentation.ts"
import {
  InternalError,
  MalformedBody,
  MethodNotAllowed,
  PayloadTooLarge,
  pipelineHeaders,
  RouteNotFound
} from "../api/Transport.ts"
import { RequestInvalid } from "../api/Validation.ts"
import { CurrentRequestId, offeredRequestId } from "../platform/RequestContext.ts"

/** The public documentation may be cached; everything else can carry personal data. */
const documentation = new Set([openApiPath, asyncApiPath, docsPath])

/** Each documented path with the methods it answers: what a 405 names in Allow. */
const routes = [
  ...Object.entries(openApiDocument().paths).map(([path, item]) => ({
    segments: path.split("/"),
    methods: Object.keys(item).map((method) => method.toUpperCase())
  })),
  ...[...documentation].map((path) => ({ segments: path.split("/"), methods: ["GET"] }))
]

/** `{id}` in a documented path stands for any one non-empty segment. */
const matches = (template: ReadonlyArray<string>, segments: ReadonlyArray<string>) =>
  template.length === segments.length &&
  template.every((part, i) => part === segments[i] || (part.startsWith("{") && segments[i] !== ""))

/** Per segment, left to right: a static segment is more specific than a parameter, as the router prefers it. */
const moreSpecific = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => {
  for (let i = 0; i < a.length; i++) {
    const aStatic = !a[i].startsWith("{")
    if (aStatic !== !b[i].startsWith("{")) return aStatic
  }
  return false
}

/** The routes by their number of segments: a path is only compared with routes as long as it is (on every request). */
const routesByLength = Map.groupBy(routes, (route) => route.segments.length)

/** The documented routes matching the path, the most specific first (`/customers/segments` before `/customers/{id}`). */
const matchingRoutes = (path: string) => {
  const segments = path.split("/")
  const matching = (routesByLength.get(segments.length) ?? []).filter((route) => matches(route.segments, segments))
  return matching.length < 2 ? matching : matching.sort((a, b) =>
    moreSpecific(a.segments, b.segments) ? -1 : moreSpecific(b.segments, a.segments) ? 1 : 0
  )
}

/** What a 405 names in Allow: the methods of the path's most specific route. */
const allowedMethods = (path: string) => matchingRoutes(path)[0]?.methods ?? []

/**
 * A method the path's most specific route lacks but a less specific one has: the router would hand
 * `PUT /customers/segments` to `PUT /customers/{id}` with the id "segments". Such a request is a 405 instead.
 */
const isMisroutedMethod = (path: string, method: string) => {
  const [best, ...others] = matchingRoutes(path)
  return best !== undefined && !best.methods.includes(method) &&
    others.some((route) => route.methods.includes(method))
}

const headersOf = (status: number, method: string, documented: boolean): Readonly<Record<string, string>> =>
  Object.fromEntries(
    pipelineHeaders.flatMap((header) =>
      header.value !== undefined && header.appliesTo(status, method) &&
        !(header.name === "cache-control" && documented)
        ? [[header.name, header.value]]
        : []
    )
  )

/** Built once per status, method and kind of path: few combinations occur, and every answer needs one. */
const declaredHeadersCache = new Map<string, Readonly<Record<string, string>>>()

/** The fixed-value headers of api/Transport.ts that apply to this answer. */
const declaredHeaders = (status: number, method: string, path: string) => {
  const documented = documentation.has(path)
  const key = `${status} ${method} ${documented}`
  let headers = declaredHeadersCache.get(key)
  if (headers === undefined) {
    headers = headersOf(status, method, documented)
    // Methods are the client's to choose: only the standard ones are kept, so the cache stays small.
    if (standardMethods.has(method)) declaredHeadersCache.set(key, headers)
  }
  return headers
}

const standardMethods = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])

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
  const tooLarge = new PayloadTooLarge({ maxBytes: maxBodyBytes, detail: `The limit is ${maxBodyBytes} bytes` })

  /** What the handler could not turn into a response itself, as a problem. */
  const problemFor = (error: unknown, request: HttpServerRequest.HttpServerRequest, requestId: string) => {
    const reason = HttpServerError.isHttpServerError(error) ? error.reason : error
    if (reason instanceof HttpServerError.RequestParseError) {
      return reason.reason === "BodyTooLarge"
        ? tooLarge
        : new MalformedBody({ detail: "The body could not be read" })
    }
    if (reason instanceof HttpServerError.RouteNotFound) {
      const allowed = allowedMethods(request.url.split("?")[0])
      return allowed.length > 0
        ? new MethodNotAllowed({ allowed, detail: `${request.method} is not one of ${allowed.join(", ")}` })
        : new RouteNotFound({ detail: `See ${openApiPath}` })
    }
    return InternalError.forRequest(requestId)
  }

  return HttpRouter.middleware((httpEffect) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const requestId = offeredRequestId(request.headers["x-request-id"]) ?? randomUUID()
      const path = request.url.split("?")[0]
      const declaredLength = Number(request.headers["content-length"] ?? 0)
      const startedAt = performance.now()
      const handled = refusingDeepJson(httpEffect).pipe(
        Effect.provideService(CurrentRequestId, requestId),
        Effect.provideService(HttpIncomingMessage.MaxBodySize, bodyLimit),
        Effect.annotateLogs({ requestId }),
        // Whatever escaped the handler (a defect: the API reads JSON bodies with orDie, so even a
        // streamed body over the limit arrives as one) still gets a problem and an access-log line.
        Effect.catchCause((cause) => {
          if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
          const problem = problemFor(Cause.squash(cause), request, requestId)
          const response = HttpServerRespondable.toResponse(problem)
          return problem.status >= 500 ? Effect.andThen(ErrorReporter.report(cause), response) : response
        })
      )
      const answer = declaredLength > maxBodyBytes
        ? HttpServerRespondable.toResponse(tooLarge)
        : isMisroutedMethod(path, request.method)
        ? HttpServerRespondable.toResponse(
          new MethodNotAllowed({
            allowed: allowedMethods(path),
            detail: `${request.method} is not one of ${allowedMethods(path).join(", ")}`
          })
        )
        : handled
      const response = yield* Effect.map(answer, (response) =>
        HttpServerResponse.setHeaders(response, {
          ...declaredHeaders(response.status, request.method, path),
          ...(response.status === 405 ? { allow: allowedMethods(path).join(", ") } : {}),
          "x-request-id": requestId
        }))
      if (accessLog) {
        yield* Effect.logInfo("request").pipe(Effect.annotateLogs({
          requestId,
          method: request.method,
          path,
          status: response.status,
          durationMs: Math.round((performance.now() - startedAt) * 10) / 10
        }))
      }
      return response
    }), { global: true })
}))
