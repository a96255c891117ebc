/**
 * The client of the external rules engine (docs/rules-engine.md): one
 * scoped client whose every call has a per-attempt timeout, retries of
 * transient failures with exponential backoff, and a circuit breaker around
 * the whole (a call and its retries count once); rule lookups are cached.
 *
 * Without RULES_ENGINE_URL a local start runs the stand-in on loopback (as
 * the embedded database stands in for PostgreSQL); in production the engine
 * is disabled and every call fails as unreachable.
 */
import {
  Cache,
  Cause,
  Config,
  Context,
  Data,
  Duration,
  Effect,
  Exit,
  Layer,
  Option,
  Redacted,
  Schedule,
  Schema,
  Stream
} from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import { CircuitBreaker } from "effect/persistence"
import { EvaluateResponse, maxEvaluateBatch, Rule, type RuleId, type RuleSubject } from "../domain/Rules.ts"
import { errorClass } from "./BackgroundWork.ts"

export type RulesEngineStatus = "up" | "down" | "open" | "disabled"

export interface RulesEngineCheck {
  readonly status: RulesEngineStatus
  readonly detail?: string
}

/** No answer could be had from the engine; `reason` says why in a few words (never a body it sent). */
export class RulesEngineUnreachable extends Data.TaggedError("RulesEngineUnreachable")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/**
 * The most of an answer the client reads. A genuine one is small (1,000 results are about 60 KB); a larger one
 * is not an answer to rely on, and reading it whole would let the engine fill this service's memory.
 */
export const maxAnswerBytes = 1024 * 1024

class AnswerTooLarge extends Data.TaggedError("AnswerTooLarge")<{}> {}

/** The response with its body read, to at most maxAnswerBytes: past that it fails at once, the rest unread. */
const readBounded = (response: HttpClientResponse.HttpClientResponse) =>
  Effect.gen(function*() {
    if (Number(response.headers["content-length"]) > maxAnswerBytes) return yield* new AnswerTooLarge()
    const { chunks } = yield* response.stream.pipe(Stream.runFoldEffect(
      () => ({ size: 0, chunks: [] as Array<Uint8Array> }),
      (read, chunk) => {
        const size = read.size + chunk.length
        if (size > maxAnswerBytes) return Effect.fail(new AnswerTooLarge())
        read.chunks.push(chunk)
        return Effect.succeed({ size, chunks: read.chunks })
      }
    ))
    return HttpClientResponse.fromWeb(
      response.request,
      new Response(Buffer.concat(chunks), { status: response.status, headers: response.headers })
    )
  })

export class RulesEngine extends Context.Service<RulesEngine, {
  /** The rule, or none when the engine has no such rule (both cached for RULES_ENGINE_CACHE_TTL). */
  lookup(ruleId: RuleId): Effect.Effect<Option.Option<Rule>, RulesEngineUnreachable>
  /** The ids among `customers` that the rule matches; none when the engine has no such rule (any more). */
  evaluate(
    ruleId: RuleId,
    customers: ReadonlyArray<RuleSubject>
  ): Effect.Effect<Option.Option<ReadonlySet<string>>, RulesEngineUnreachable>
  /** Customers per evaluate request (RULES_ENGINE_BATCH_SIZE). */
  readonly batchSize: number
  /** For /ready: the breaker's state, else the engine's /health. */
  readonly check: Effect.Effect<RulesEngineCheck>
}>()("cms/platform/RulesEngine") {
  static readonly layer: Layer.Layer<RulesEngine, Config.ConfigError> = Layer.effect(
    RulesEngine,
    Effect.gen(function*() {
      const settings = yield* RulesEngineConfig
      const endpoint = yield* engineEndpoint(settings)
      if (Option.isNone(endpoint)) return disabled(settings.batchSize)
      const { apiKey, url } = endpoint.value
      const base = (yield* HttpClient.HttpClient).pipe(HttpClient.mapRequest(HttpClientRequest.prependUrl(url)))
      const breaker = yield* CircuitBreaker.make({
        tripPolicy: CircuitBreaker.consecutive(settings.breakerFailures),
        openDuration: settings.breakerCooldown
      })
      const breakerKey = "rules-engine"
      const client = base.pipe(
        HttpClient.mapRequest(HttpClientRequest.bearerToken(apiKey)),
        HttpClient.mapRequest(HttpClientRequest.acceptJson),
        // Per attempt, and the body within it (read here, bounded, into the response passed on), so a slow
        // answer is retried like a lost one.
        HttpClient.transformResponse((attempt) =>
          attempt.pipe(Effect.flatMap(readBounded), Effect.timeout(settings.timeout))
        ),
        // Both calls are safe to repeat: a lookup reads, and evaluating a rule changes nothing in the engine.
        HttpClient.retryTransient({
          schedule: Schedule.exponential(settings.retryBase).pipe(Schedule.jittered),
          times: settings.retries
        }),
        HttpClient.withCircuitBreaker({ breaker, key: breakerKey })
      )

      const unreachable = (error: unknown) =>
        new RulesEngineUnreachable({
          reason: error instanceof CircuitBreaker.CircuitBreakerError
            ? "circuit breaker open"
            : Cause.isTimeoutError(error)
            ? "timed out"
            : errorClass(error) === "HttpClientError/TransportError"
            ? "connection failed"
            : `invalid answer (${errorClass(error)})`
        })
      const answered = (response: HttpClientResponse.HttpClientResponse) =>
        new RulesEngineUnreachable({ reason: `answered ${response.status}` })

      const fetchRule = (ruleId: RuleId) =>
        client.get(`/v1/rules/${ruleId}`).pipe(
          Effect.flatMap(HttpClientResponse.matchStatus({
            200: (response) => Effect.map(HttpClientResponse.schemaBodyJson(Rule)(response), Option.some),
            404: () => Effect.succeedNone,
            orElse: (response) => Effect.fail(answered(response))
          })),
          Effect.mapError((error) => error instanceof RulesEngineUnreachable ? error : unreachable(error))
        )
      // Answers (a rule or none) are kept; failures are not, so the next call asks again.
      const rules = yield* Cache.makeWith(fetchRule, {
        capacity: 10_000,
        timeToLive: (exit) => Exit.isSuccess(exit) ? settings.cacheTtl : Duration.zero
      })

      const lookup = Effect.fn("RulesEngine.lookup")(function*(ruleId: RuleId) {
        return yield* Cache.get(rules, ruleId)
      })

      const evaluate = Effect.fn("RulesEngine.evaluate")(function*(
        ruleId: RuleId,
        customers: ReadonlyArray<RuleSubject>
      ) {
        const request = HttpClientRequest.post(`/v1/rules/${ruleId}/evaluate`).pipe(
          HttpClientRequest.bodyJsonUnsafe({ customers })
        )
        const answer = yield* client.execute(request).pipe(
          Effect.flatMap(HttpClientResponse.matchStatus({
            200: (response) => Effect.map(HttpClientResponse.schemaBodyJson(EvaluateResponse)(response), Option.some),
            404: () => Effect.succeedNone,
            orElse: (response) => Effect.fail(answered(response))
          })),
          Effect.mapError((error) => error instanceof RulesEngineUnreachable ? error : unreachable(error))
        )
        if (Option.isNone(answer)) return Option.none()
        // One answer per customer sent, no more and no other: anything else is not an answer to rely on.
        const sent = new Set(customers.map((customer) => customer.id))
        const answeredIds = new Set(answer.value.results.map((result) => result.id))
        if (answeredIds.size !== sent.size || [...answeredIds].some((id) => !sent.has(id))) {
          return yield* new RulesEngineUnreachable({ reason: "invalid answer (results do not match the customers sent)" })
        }
        return Option.some<ReadonlySet<string>>(
          new Set(answer.value.results.filter((result) => result.matches).map((result) => result.id))
        )
      })

      const health = base.get("/health").pipe(
        Effect.timeout("1 second"),
        Effect.map((response) => response.status === 200),
        Effect.orElseSucceed(() => false)
      )
      const check = Effect.gen(function*() {
        // The in-memory store cannot fail; were it to, the engine's own /health still answers for it.
        const state = yield* breaker.state(breakerKey).pipe(Effect.option)
        if (Option.isSome(state) && state.value._tag === "Open") {
          const seconds = Math.ceil(Duration.toSeconds(state.value.retryAfter))
          return { status: "open", detail: `circuit breaker open: calls are refused for ${seconds} s` } as const
        }
        return (yield* health)
          ? { status: "up" } as const
          : { status: "down", detail: "its /health does not answer 200" } as const
      })

      return RulesEngine.of({ lookup, evaluate, batchSize: settings.batchSize, check })
    })
  ).pipe(Layer.provide([FetchHttpClient.layer, CircuitBreaker.layerStoreMemory()]))
}

const RulesEngineConfig = Config.all({
  url: Config.option(Config.String("RULES_ENGINE_URL")),
  apiKey: Config.option(Config.Redacted("RULES_ENGINE_API_KEY")),
  timeout: Config.Duration("RULES_ENGINE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(2))),
  retries: Config.Int("RULES_ENGINE_RETRIES").pipe(Config.withDefault(2)),
  retryBase: Config.Duration("RULES_ENGINE_RETRY_BASE").pipe(Config.withDefault(Duration.millis(100))),
  breakerFailures: Config.Int("RULES_ENGINE_BREAKER_FAILURES").pipe(Config.withDefault(5)),
  breakerCooldown: Config.Duration("RULES_ENGINE_BREAKER_COOLDOWN").pipe(Config.withDefault(Duration.seconds(30))),
  cacheTtl: Config.Duration("RULES_ENGINE_CACHE_TTL").pipe(Config.withDefault(Duration.minutes(5))),
  batchSize: Config.schema(
    Schema.NumberFromString.pipe(Schema.decodeTo(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: maxEvaluateBatch })))),
    "RULES_ENGINE_BATCH_SIZE"
  ).pipe(Config.withDefault(500)),
  production: Config.String("NODE_ENV").pipe(Config.map((env) => env === "production"), Config.withDefault(false))
})

/**
 * Where the engine is: RULES_ENGINE_URL; without it, the local stand-in (loaded only then: the production image
 * does not ship it), or none in production.
 */
const engineEndpoint = Effect.fnUntraced(function*(settings: Config.Success<typeof RulesEngineConfig>) {
  if (Option.isSome(settings.url)) {
    yield* Effect.logInfo("rules engine: remote").pipe(Effect.annotateLogs({ host: new URL(settings.url.value).host }))
    // A remote engine without its key would refuse every call: refused at start-up instead.
    const apiKey = yield* Option.match(settings.apiKey, {
      onNone: () => Config.Redacted("RULES_ENGINE_API_KEY"),
      onSome: Effect.succeed
    })
    return Option.some({ url: settings.url.value, apiKey })
  }
  if (settings.production) {
    yield* Effect.logWarning("rules engine: disabled (NODE_ENV=production and no RULES_ENGINE_URL)").pipe(
      Effect.annotateLogs({ hint: "segments naming rules are refused with 503 until RULES_ENGINE_URL is set" })
    )
    return Option.none()
  }
  const apiKey = Option.getOrElse(settings.apiKey, () => Redacted.make(crypto.randomUUID()))
  const { startRulesEngine } = yield* Effect.promise(() => import("../../stand-ins/rules-engine/RulesEngineStandIn.ts"))
  const standIn = yield* Effect.acquireRelease(
    Effect.promise(() => startRulesEngine({ apiKey: Redacted.value(apiKey) })),
    (engine) => Effect.promise(() => engine.stop())
  )
  yield* Effect.logInfo("rules engine: local stand-in (no RULES_ENGINE_URL set)").pipe(Effect.annotateLogs({
    url: standIn.url,
    rules: "stand-ins/rules-engine/rules.json",
    hint: "set RULES_ENGINE_URL to use the Rules Management Service"
  }))
  return Option.some({ url: standIn.url, apiKey })
})

const disabled = (batchSize: number) => {
  const refused = Effect.fail(new RulesEngineUnreachable({ reason: "disabled: RULES_ENGINE_URL is not set" }))
  return RulesEngine.of({
    lookup: () => refused,
    evaluate: () => refused,
    batchSize,
    check: Effect.succeed({ status: "disabled", detail: "RULES_ENGINE_URL not set" })
  })
}
