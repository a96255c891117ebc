/** REST handlers for the data subject's rights: thin, the privacy services do the work. */
import { Effect } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { CurrentActor } from "../api/Security.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { DataExport } from "../privacy/DataExport.ts"

export const PrivacyHttpLive = HttpApiBuilder.group(
  Api,
  "privacy",
  Effect.fn(function*(handlers) {
    const exports = yield* DataExport
    const command = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })
    return handlers.handleAll({
      exportData: ({ params }) =>
        Effect.flatMap(command, (context) => exports.exportOf({ ...context, id: params.id })).pipe(
          Effect.map((body) =>
            HttpServerResponse.stream(body, {
              contentType: "application/json",
              headers: { "content-disposition": `attachment; filename="customer-${params.id}.json"` }
            })
          )
        )
    })
  })
)
