/** REST handlers for fleet analytics: the reports, the CLV model's latest fit, and queueing a new one. */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { ClvModels } from "../analytics/ClvModels.ts"
import { Api } from "../api/Api.ts"
import { FleetReports } from "../events/FleetReports.ts"

export const AnalyticsHttpLive = HttpApiBuilder.group(
  Api,
  "analytics",
  Effect.fn(function*(handlers) {
    const reports = yield* FleetReports
    const models = yield* ClvModels
    return handlers.handleAll({
      fleetReport: ({ query }) => reports.fleet(query),
      cohortRetention: ({ query }) => reports.cohorts(query),
      getClvModel: () => models.latest,
      fitClvModel: ({ payload }) => models.request(payload ?? {})
    })
  })
)
