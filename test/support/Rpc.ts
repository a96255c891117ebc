/**
 * The RPC door in tests: the typed client of the client package signed in as a
 * role, and raw messages POSTed as an attacker or a careless client writes them.
 */
import { Effect } from "effect"
import { rpcPath } from "../../src/api/RpcApi.ts"
import { CustomerRpcClient } from "../../src/client/index.ts"
import type { Role } from "../../src/domain/Access.ts"
import { json, TestService } from "./TestService.ts"

export type RpcClient = CustomerRpcClient["Service"]

export const withRpcClient = <A, E>(use: (client: RpcClient) => Effect.Effect<A, E>, role: Role) =>
  Effect.gen(function*() {
    const { baseUrl, token } = yield* TestService
    const bearer = yield* token(role)
    return yield* Effect.flatMap(Effect.service(CustomerRpcClient), use).pipe(
      Effect.provide(CustomerRpcClient.layer({ baseUrl, credentials: { bearer } }))
    )
  })

export interface Call {
  readonly tag: string
  readonly payload: unknown
  readonly id?: string | number
  readonly headers?: ReadonlyArray<readonly [string, string]>
}

/** One RPC message as Effect's RPC client writes it. */
export const message = ({ tag, payload, id = "1", headers = [] }: Call) => ({ _tag: "Request", id, tag, payload, headers })

export interface PostOptions {
  /** The caller's role; `false` sends no credentials but those `headers` carry. */
  readonly as?: Role | false
  readonly headers?: Record<string, string>
}

/** POSTs a raw body (a batch of messages, or any JSON) to the RPC endpoint. */
export const postRpc = (body: unknown, { as = "admin", headers = {} }: PostOptions = {}) =>
  Effect.flatMap(TestService, ({ request }) =>
    request(rpcPath, {
      method: "POST",
      body: typeof body === "string" ? body : JSON.stringify(body),
      headers: { "content-type": "application/json", ...headers },
      ...(as === false ? { auth: false } : { role: as })
    }))

export interface ExitMessage {
  readonly _tag: "Exit"
  readonly requestId: string
  readonly exit: {
    readonly _tag: "Success" | "Failure"
    readonly value?: unknown
    readonly cause?: ReadonlyArray<{ readonly _tag: string; readonly error?: { readonly type: string }; readonly defect?: unknown }>
  }
}

export const exitsOf = (response: Response) => json<ReadonlyArray<ExitMessage>>(response)

/** The problem type a failed call carries (errors travel as their RFC 9457 bodies). */
export const failureType = (exit: ExitMessage) => exit.exit.cause?.[0]?.error?.type
