/** The typed RPC client of the client package, against the test service, signed in as a role. */
import { Effect } from "effect"
import { CustomerRpcClient } from "../../src/client/index.ts"
import type { Role } from "../../src/domain/Access.ts"
import { TestService } from "./TestService.ts"

export type RpcClient = CustomerRpcClient["Service"]

export const withRpcClient = <A, E>(use: (client: RpcClient) => Effect.Effect<A, E>, role: Role) =>
  Effect.gen(function*() {
    const { baseUrl, token } = yield* TestService
    const bearer = yield* token(role)
    return yield* Effect.flatMap(Effect.service(CustomerRpcClient), use).pipe(
      Effect.provide(CustomerRpcClient.layer({ baseUrl, credentials: { bearer } }))
    )
  })
