/** REST handlers for /api/v1/customers: decode (done by the schema), call Customers, add HTTP headers. */
import { Effect } from "effect"
import { HttpEffect, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { CurrentActor } from "../api/Security.ts"
import type { Customer } from "../domain/Customer.ts"
import { etagFor, versionFromEtag } from "../domain/CustomerRules.ts"
import { PreconditionRequired, VersionConflict } from "../domain/Errors.ts"
import { Customers } from "../customers/Customers.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"

const withHeaders = (headers: Record<string, string>) =>
  HttpEffect.appendPreResponseHandler((_request, response) =>
    Effect.succeed(HttpServerResponse.setHeaders(response, headers))
  )

const withEtag = (customer: Customer) => Effect.as(withHeaders({ etag: etagFor(customer.version) }), customer)

/**
 * The version a write expects: If-Match or the body's `version`; when both are
 * sent they must agree. `required` makes a missing version a 428.
 */
const expectedVersionOf = (ifMatch: string | undefined, bodyVersion: number | undefined, required: boolean) =>
  Effect.gen(function*() {
    const fromHeader = ifMatch === undefined || ifMatch.trim() === "*" ? undefined : versionFromEtag(ifMatch)
    if (ifMatch !== undefined && ifMatch.trim() !== "*" && fromHeader === undefined) {
      return yield* new VersionConflict({ expectedVersion: 0, currentVersion: 0, detail: "If-Match names no version" })
    }
    if (fromHeader !== undefined && bodyVersion !== undefined && fromHeader !== bodyVersion) {
      return yield* new VersionConflict({
        expectedVersion: fromHeader,
        currentVersion: bodyVersion,
        detail: "If-Match and the body's version disagree"
      })
    }
    const expected = fromHeader ?? bodyVersion
    if (expected === undefined && required && ifMatch === undefined) {
      return yield* new PreconditionRequired({ field: "version" })
    }
    return expected ?? null
  })

export const CustomersHttpLive = HttpApiBuilder.group(
  Api,
  "customers",
  Effect.fn(function*(handlers) {
    const customers = yield* Customers

    const commandContext = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })

    return handlers.handleAll({
      list: ({ query }) => Effect.flatMap(CurrentActor, (actor) => customers.list(actor, query)),

      get: ({ params }) =>
        CurrentActor.pipe(Effect.flatMap((actor) => customers.get(actor, params.id)), Effect.flatMap(withEtag)),

      create: Effect.fn(function*({ payload, headers }) {
        const context = yield* commandContext
        const { customer, replayed } = yield* customers.create({
          ...context,
          input: payload,
          idempotencyKey: headers["idempotency-key"]
        })
        yield* withHeaders({
          etag: etagFor(customer.version),
          location: `/api/v1/customers/${customer.id}`,
          ...(replayed ? { "idempotent-replayed": "true" } : {})
        })
        return customer
      }),

      replace: Effect.fn(function*({ params, payload, headers }) {
        const expectedVersion = yield* expectedVersionOf(headers["if-match"], payload.version, true)
        const customer = yield* customers.replace({
          ...(yield* commandContext),
          id: params.id,
          replacement: payload,
          expectedVersion
        })
        return yield* withEtag(customer)
      }),

      patch: Effect.fn(function*({ params, payload, headers }) {
        const expectedVersion = yield* expectedVersionOf(headers["if-match"], payload.version, false)
        const customer = yield* customers.update({
          ...(yield* commandContext),
          id: params.id,
          patch: payload,
          expectedVersion
        })
        return yield* withEtag(customer)
      }),

      delete: Effect.fn(function*({ params, headers }) {
        const expectedVersion = yield* expectedVersionOf(headers["if-match"], undefined, false)
        yield* customers.delete({ ...(yield* commandContext), id: params.id, expectedVersion })
      }),

      verifyEmail: Effect.fn(function*({ params, payload }) {
        const customer = yield* customers.verifyEmail({
          ...(yield* commandContext),
          id: params.id,
          token: payload.token
        })
        return yield* withEtag(customer)
      })
    })
  })
)
