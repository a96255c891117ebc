/** REST handlers for a customer's analytics and insights. */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { CustomerAnalytics } from "../analytics/CustomerAnalytics.ts"

export const CustomerAnalyticsHttpLive = HttpApiBuilder.group(
  Api,
  "customerAnalytics",
  Effect.fn(function*(handlers) {
    const service = yield* CustomerAnalytics
    return handlers
      .handle("analytics", ({ params }) => service.analytics(params.id))
      .handle("insights", ({ params }) => service.insights(params.id))
  })
)
