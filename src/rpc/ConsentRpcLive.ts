/** RPC handlers for consent: the same calls as REST, the caller from RpcAuthentication. */
import { Effect } from "effect"
import { ConsentRpc } from "../api/ConsentRpc.ts"
import { CurrentActor } from "../api/Security.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { Consents } from "../privacy/Consents.ts"

export const ConsentRpcLive = ConsentRpc.toLayer(Effect.gen(function*() {
  const consents = yield* Consents
  const context = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })
  return ConsentRpc.of({
    GetCustomerConsent: ({ id }) => Effect.flatMap(CurrentActor, (actor) => consents.get(actor, id)),
    ChangeCustomerConsent: ({ expectedVersion, id, ...input }) =>
      Effect.flatMap(context, (context) => consents.change({ ...context, id, input, expectedVersion: expectedVersion ?? null })),
    ListCustomerConsentHistory: ({ id, ...query }) =>
      Effect.flatMap(CurrentActor, (actor) => consents.history(actor, id, query))
  })
}))
