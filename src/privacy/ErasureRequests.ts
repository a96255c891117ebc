/**
 * Erasure and suppression as both doors (REST and RPC) use them: permission first, then the customer's entity
 * (the erasing transaction) and the erasure store (src/privacy/Erasure.ts).
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option } from "effect"
import { type CommandOptions, requirePermission } from "../domain/Access.ts"
import type { CustomerId } from "../domain/Customer.ts"
import {
  type EraseCustomerDataErrors,
  type ErasureRequest,
  ErasureNotFound,
  type GetErasureErrors,
  type LiftSuppressionErrors,
  SuppressionNotFound
} from "../domain/Erasure.ts"
import type { ErrorOf } from "../domain/Errors.ts"
import { Customers } from "../customers/Customers.ts"
import { AuditLog } from "./AuditLog.ts"
import { Erasure } from "./Erasure.ts"

export class ErasureRequests extends Context.Service<ErasureRequests, {
  /**
   * Erases the customer now and answers with the request tracking the steps after. Asked again for a customer
   * already erased, it answers with the same request (a retry is safe).
   */
  erase(
    options: CommandOptions & { readonly id: CustomerId }
  ): Effect.Effect<ErasureRequest, ErrorOf<typeof EraseCustomerDataErrors>>
  status(options: CommandOptions & { readonly id: CustomerId }): Effect.Effect<ErasureRequest, ErrorOf<typeof GetErasureErrors>>
  /** Lets an erased identity be created again; audited with the reason. */
  liftSuppression(
    options: CommandOptions & { readonly email: string; readonly reason: string }
  ): Effect.Effect<void, ErrorOf<typeof LiftSuppressionErrors>>
}>()("cms/privacy/ErasureRequests") {
  static readonly layer = Layer.effect(
    ErasureRequests,
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const customers = yield* Customers
      const erasure = yield* Erasure
      const audit = yield* AuditLog

      const erase = Effect.fn("ErasureRequests.erase")(function*(
        { actor, requestId, id }: CommandOptions & { readonly id: CustomerId }
      ) {
        yield* requirePermission(actor, "customers:delete")
        const erased = yield* customers.delete({ actor, requestId, id, expectedVersion: null }).pipe(
          Effect.as(true),
          Effect.catchTag("CustomerNotFound", (notFound) =>
            Effect.flatMap(erasure.requestOf(id), (request) =>
              Option.isSome(request) ? Effect.succeed(false) : Effect.fail(notFound)))
        )
        const request = yield* erasure.requestOf(id)
        // Delete writes the request in its transaction: its absence after a successful erasure is a bug.
        if (Option.isNone(request)) return yield* Effect.die(`erasure of ${id} (new: ${erased}) left no request`)
        return request.value
      })

      const status = Effect.fn("ErasureRequests.status")(function*(
        { actor, id }: CommandOptions & { readonly id: CustomerId }
      ) {
        yield* requirePermission(actor, "privacy:export")
        const request = yield* erasure.requestOf(id)
        if (Option.isNone(request)) return yield* new ErasureNotFound({ customerId: id })
        return request.value
      })

      const liftSuppression = Effect.fn("ErasureRequests.liftSuppression")(function*(
        { actor, requestId, email, reason }: CommandOptions & { readonly email: string; readonly reason: string }
      ) {
        yield* requirePermission(actor, "privacy:lift-suppression")
        yield* sql.withTransaction(Effect.gen(function*() {
          if (!(yield* erasure.lift(email))) return yield* new SuppressionNotFound({ field: "email" })
          yield* audit.record({ actor, action: "identity.lift-suppression", requestId, fields: ["email"], reason })
        })).pipe(Effect.catchTag("SqlError", Effect.die))
      })

      return ErasureRequests.of({ erase, status, liftSuppression })
    })
  )
}
