/** REST handlers for fleet analytics: straight to the reports. */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { FleetReports } from "../events/FleetReports.ts"

export const AnalyticsHttpLive = HttpApiBuilder.group(
  Api,
  "analytics",
  Effect.fn(function*(handlers) {
    const reports = yield* FleetReports
    return handlers.handleAll({
      fleetReport: ({ query }) => reports.fleet(query),
      cohortRetention: ({ query }) => reports.cohorts(query)
    })
  })
)
