/** REST handlers for the audit trail: thin, the chain does the work. */
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { AuditChain } from "../privacy/AuditChain.ts"

export const AuditHttpLive = HttpApiBuilder.group(
  Api,
  "audit",
  Effect.fn(function*(handlers) {
    const chain = yield* AuditChain
    return handlers.handleAll({
      customerEntries: ({ params, query }) =>
        chain.customerEntries(params.id, query).pipe(Effect.catchTag("SqlError", Effect.die)),
      verify: () => chain.verify.pipe(Effect.orDie)
    })
  })
)
