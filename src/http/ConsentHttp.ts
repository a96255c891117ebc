/** REST handlers for consent: thin, Consents does the work; the ETag and If-Match are HTTP's share. */
import { Effect } from "effect"
import { HttpApiBuilder, HttpApiSchema } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { CurrentActor } from "../api/Security.ts"
import type { CustomerConsent } from "../domain/Consent.ts"
import { etagFor } from "../domain/CustomerRules.ts"
import { VersionConflict } from "../domain/Errors.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { Consents } from "../privacy/Consents.ts"
import { expectedVersionOf as expectedVersionFrom } from "./Versioning.ts"

const withEtag = (consent: CustomerConsent) =>
  HttpApiSchema.withHeaders({ body: consent, headers: { etag: etagFor(consent.version) } })

const expectedVersionOf = expectedVersionFrom((found) => new VersionConflict(found))

export const ConsentHttpLive = HttpApiBuilder.group(
  Api,
  "consent",
  Effect.fn(function*(handlers) {
    const consents = yield* Consents
    const command = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })
    return handlers.handleAll({
      getConsent: ({ params }) =>
        CurrentActor.pipe(Effect.flatMap((actor) => consents.get(actor, params.id)), Effect.map(withEtag)),
      changeConsent: Effect.fn(function*({ headers, params, payload }) {
        const expectedVersion = yield* expectedVersionOf(headers["if-match"], undefined)
        return withEtag(yield* consents.change({ ...(yield* command), id: params.id, input: payload, expectedVersion }))
      }),
      consentHistory: ({ params, query }) =>
        Effect.flatMap(CurrentActor, (actor) => consents.history(actor, params.id, query))
    })
  })
)
