/** Liveness and readiness probes, outside /api and without authentication. */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiError, HttpApiGroup, OpenApi } from "effect/http-api"

export const DependencyCheck = Schema.Struct({
  status: Schema.Literals(["up", "down", "disabled"]),
  detail: Schema.optionalKey(Schema.String)
})

/** The rules engine: `open` while the client's circuit breaker refuses calls to it. */
export const RulesEngineDependencyCheck = Schema.Struct({
  status: Schema.Literals(["up", "down", "open", "disabled"]),
  detail: Schema.optionalKey(Schema.String)
})

export const Readiness = Schema.Struct({
  status: Schema.Literals(["ready", "degraded"]),
  checks: Schema.Struct({
    database: DependencyCheck,
    nats: DependencyCheck,
    rulesEngine: RulesEngineDependencyCheck,
    outbox: Schema.Struct({ pending: Schema.Int })
  })
}).annotate({ identifier: "Readiness" })
export type Readiness = typeof Readiness.Type

export class NotReady extends HttpApiError.Problem<NotReady>()("NotReady", {
  type: "/problems/not-ready",
  status: 503,
  title: "The service cannot serve requests"
}, { checks: Schema.Struct({ database: DependencyCheck }) }) {}

export class SystemApi extends HttpApiGroup.make("system", { topLevel: true }).add(
  HttpApiEndpoint.get("health", "/health", {
    success: Schema.Struct({ status: Schema.Literal("ok") }).annotate({ identifier: "Health" })
  }).annotateMerge(OpenApi.annotations({
    summary: "Liveness",
    description: "Answers while the process can serve HTTP; checks nothing else."
  })),
  HttpApiEndpoint.get("ready", "/ready", { success: Readiness, error: NotReady }).annotateMerge(OpenApi.annotations({
    summary: "Readiness",
    description: "The database, NATS, the rules engine and the outbox backlog. 503 while the database is " +
      "unreachable; NATS being down only degrades (events wait in the outbox), and so does the rules engine being " +
      "down or its circuit breaker open (segments naming rules cannot be changed or calculated meanwhile)."
  }))
).annotateMerge(OpenApi.annotations({
  title: "System",
  description: "Probes for orchestrators, without authentication"
})) {}
