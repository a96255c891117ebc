/** REST handlers for fleet analytics: the CLV model's latest fit, and queueing a new one. */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { ClvModels } from "../analytics/ClvModels.ts"
import { Api } from "../api/Api.ts"

export const AnalyticsHttpLive = HttpApiBuilder.group(
  Api,
  "analytics",
  Effect.fn(function*(handlers) {
    const models = yield* ClvModels
    return handlers.handleAll({
      getClvModel: () => models.latest,
      fitClvModel: ({ payload }) => models.request(payload ?? {})
    })
  })
)
