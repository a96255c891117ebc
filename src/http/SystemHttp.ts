import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { Health } from "../platform/Health.ts"

export const SystemHttpLive = HttpApiBuilder.group(
  Api,
  "system",
  Effect.fn(function*(handlers) {
    const health = yield* Health
    return handlers.handleAll({
      health: () => Effect.succeed({ status: "ok" as const }),
      ready: () => health.readiness
    })
  })
)
