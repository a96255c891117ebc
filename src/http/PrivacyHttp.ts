/** REST handlers for the data subject's rights: thin, the privacy services do the work. */
import { Effect, type Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { CurrentActor } from "../api/Security.ts"
import { Customers } from "../customers/Customers.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { DataExport } from "../privacy/DataExport.ts"
import { DataExportJobs } from "../privacy/DataExportJobs.ts"
import { ErasureRequests } from "../privacy/ErasureRequests.ts"

const command = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })

const attachment = (customerId: string, body: Stream.Stream<Uint8Array>) =>
  HttpServerResponse.stream(body, {
    contentType: "application/json",
    headers: { "content-disposition": `attachment; filename="customer-${customerId}.json"` }
  })

export const PrivacyHttpLive = HttpApiBuilder.group(
  Api,
  "privacy",
  Effect.fn(function*(handlers) {
    const exports = yield* DataExport
    const erasures = yield* ErasureRequests
    const customers = yield* Customers
    const jobs = yield* DataExportJobs
    return handlers.handleAll({
      requestExport: ({ params }) => Effect.flatMap(command, (context) => jobs.request({ ...context, id: params.id })),
      exportData: ({ params }) =>
        Effect.flatMap(command, (context) => exports.exportOf({ ...context, id: params.id })).pipe(
          Effect.map((body) => attachment(params.id, body))
        ),
      eraseData: ({ params }) => Effect.flatMap(command, (context) => erasures.erase({ ...context, id: params.id })),
      getErasure: ({ params }) => Effect.flatMap(command, (context) => erasures.status({ ...context, id: params.id })),
      anonymize: ({ params, payload }) =>
        Effect.flatMap(command, (context) =>
          customers.anonymize({ ...context, id: params.id, reason: payload.reason ?? null }))
    })
  })
)

export const DataExportsHttpLive = HttpApiBuilder.group(
  Api,
  "dataExports",
  Effect.fn(function*(handlers) {
    const jobs = yield* DataExportJobs
    return handlers.handleAll({
      getExport: ({ params }) => Effect.flatMap(command, (context) => jobs.status({ ...context, exportId: params.id })),
      download: ({ params }) =>
        Effect.flatMap(command, (context) => jobs.download({ ...context, exportId: params.id, token: params.token })).pipe(
          Effect.map(({ body, job }) => attachment(job.customerId, body))
        )
    })
  })
)

export const SuppressionsHttpLive = HttpApiBuilder.group(
  Api,
  "suppressions",
  Effect.fn(function*(handlers) {
    const erasures = yield* ErasureRequests
    return handlers.handleAll({
      lift: ({ payload }) => Effect.flatMap(command, (context) => erasures.liftSuppression({ ...context, ...payload }))
    })
  })
)
