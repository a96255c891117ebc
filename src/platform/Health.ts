/** Readiness: the database must answer; NATS, the rules engine and the outbox backlog are reported, not required. */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer } from "effect"
import { NotReady, type Readiness } from "../api/SystemApi.ts"
import { Nats } from "./Nats.ts"
import { RulesEngine } from "./RulesEngine.ts"

export class Health extends Context.Service<Health, {
  readonly readiness: Effect.Effect<Readiness, NotReady>
}>()("cms/platform/Health") {
  static readonly layer = Layer.effect(
    Health,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const nats = yield* Nats
      const rulesEngine = yield* RulesEngine
      const pendingEvents = sql<{ readonly pending: number }>`
        SELECT count(*)::int AS pending FROM outbox WHERE published_at IS NULL`.pipe(
        Effect.map(([row]) => row.pending),
        Effect.timeout("2 seconds")
      )
      const readiness = Effect.gen(function*() {
        const pending = yield* pendingEvents.pipe(
          Effect.catch(() => Effect.fail(new NotReady({ checks: { database: { status: "down" } } })))
        )
        const [natsStatus, rules] = yield* Effect.all([nats.status, rulesEngine.check], { concurrency: 2 })
        const natsDetail = natsStatus === "disabled"
          ? "NATS_URL not set: events wait in the outbox"
          : natsStatus === "down"
          ? "reconnecting: events wait in the outbox"
          : undefined
        return {
          // A rules engine left unconfigured in production is a choice, not a fault.
          status: natsStatus === "up" && (rules.status === "up" || rules.status === "disabled") ? "ready" : "degraded",
          checks: {
            database: { status: "up" },
            nats: natsDetail === undefined ? { status: natsStatus } : { status: natsStatus, detail: natsDetail },
            rulesEngine: rules,
            outbox: { pending }
          }
        } satisfies Readiness
      })
      return Health.of({ readiness })
    })
  )
}
