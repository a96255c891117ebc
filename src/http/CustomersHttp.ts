/** REST handlers for /api/v1/customers: decode (done by the schema), call Customers, add HTTP headers. */
import { Effect } from "effect"
import { HttpApiBuilder, HttpApiSchema } from "effect/http-api"
import { Api } from "../api/Api.ts"
import { customersPath } from "../api/CustomersApi.ts"
import { CurrentActor } from "../api/Security.ts"
import type { ServedCustomer } from "../domain/CustomerQuery.ts"
import { etagFor, versionFromEtag } from "../domain/CustomerRules.ts"
import { PreconditionRequired, VersionConflict } from "../domain/Errors.ts"
import { Customers } from "../customers/Customers.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"

/** A customer with its version as ETag, as every read and write answers. */
const withEtag = (customer: ServedCustomer) =>
  HttpApiSchema.withHeaders({ body: customer, headers: { etag: etagFor(customer.version) } })

/** The version a write expects: If-Match or the body's `version`; when both are sent they must agree. */
const expectedVersionOf = (ifMatch: string | undefined, bodyVersion: number | undefined) =>
  Effect.gen(function*() {
    const fromHeader = ifMatch === undefined || ifMatch.trim() === "*" ? undefined : versionFromEtag(ifMatch)
    if (ifMatch !== undefined && ifMatch.trim() !== "*" && fromHeader === undefined) {
      // No version can match a tag that names none; no version is invented for the answer either.
      return yield* new VersionConflict({ detail: "If-Match names no version" })
    }
    if (fromHeader !== undefined && bodyVersion !== undefined && fromHeader !== bodyVersion) {
      return yield* new VersionConflict({
        expectedVersion: fromHeader,
        detail: `If-Match names version ${fromHeader} and the body's version is ${bodyVersion}`
      })
    }
    return fromHeader ?? bodyVersion ?? null
  })

/** PUT: a missing version (no If-Match, not even `*`, and no `version`) is a 428. */
const requiredVersionOf = (ifMatch: string | undefined, bodyVersion: number | undefined) =>
  Effect.flatMap(
    expectedVersionOf(ifMatch, bodyVersion),
    (expected) =>
      expected === null && ifMatch === undefined
        ? Effect.fail(new PreconditionRequired({ field: "version" }))
        : Effect.succeed(expected)
  )

export const CustomersHttpLive = HttpApiBuilder.group(
  Api,
  "customers",
  Effect.fn(function*(handlers) {
    const customers = yield* Customers

    const commandContext = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })

    return handlers.handleAll({
      list: ({ query }) => Effect.flatMap(CurrentActor, (actor) => customers.list(actor, query)),

      get: ({ params }) =>
        CurrentActor.pipe(Effect.flatMap((actor) => customers.get(actor, params.id)), Effect.map(withEtag)),

      create: Effect.fn(function*({ payload, headers }) {
        const context = yield* commandContext
        const { customer, replayed } = yield* customers.create({
          ...context,
          input: payload,
          idempotencyKey: headers["idempotency-key"]
        })
        return HttpApiSchema.withHeaders({
          body: customer,
          headers: {
            etag: etagFor(customer.version),
            location: `${customersPath}/${customer.id}`,
            ...(replayed ? { "idempotent-replayed": "true" as const } : {})
          }
        })
      }),

      replace: Effect.fn(function*({ params, payload, headers }) {
        const expectedVersion = yield* requiredVersionOf(headers["if-match"], payload.version)
        const customer = yield* customers.replace({
          ...(yield* commandContext),
          id: params.id,
          replacement: payload,
          expectedVersion
        })
        return withEtag(customer)
      }),

      patch: Effect.fn(function*({ params, payload, headers }) {
        const expectedVersion = yield* expectedVersionOf(headers["if-match"], payload.version)
        const customer = yield* customers.update({
          ...(yield* commandContext),
          id: params.id,
          patch: payload,
          expectedVersion
        })
        return withEtag(customer)
      }),

      delete: Effect.fn(function*({ params, headers }) {
        const expectedVersion = yield* expectedVersionOf(headers["if-match"], undefined)
        yield* customers.delete({ ...(yield* commandContext), id: params.id, expectedVersion })
      }),

      verifyEmail: Effect.fn(function*({ params, payload }) {
        const customer = yield* customers.verifyEmail({
          ...(yield* commandContext),
          id: params.id,
          token: payload.token
        })
        return withEtag(customer)
      })
    })
  })
)
