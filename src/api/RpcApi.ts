/**
 * POST /api/v1/rpc in the OpenAPI document. The route is served by Effect
 * RPC (RpcServer, JSON serialisation), not by HttpApi: this group only
 * describes it, with the request and result messages derived from the
 * CustomersRpc group itself, so a new RPC appears here without an edit.
 */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSecurity, OpenApi } from "effect/http-api"
import { Rpc } from "effect/rpc"
import { CustomersRpc } from "./CustomersRpc.ts"
import { apiKeyHeader } from "./Security.ts"
import { PayloadTooLarge } from "./Transport.ts"

export const rpcPath = "/api/v1/rpc"

const rpcs = [...CustomersRpc.requests.values()]

const RequestId = Schema.String.annotate({ description: "Chosen by the client; the result carries it back" })

const RpcRequest = Schema.Union(rpcs.map((rpc) =>
  Schema.Struct({
    _tag: Schema.Literal("Request"),
    id: RequestId,
    tag: Schema.Literal(rpc._tag),
    payload: rpc.payloadSchema,
    headers: Schema.Array(Schema.Tuple([Schema.String, Schema.String])).annotate({
      description: "Per-call headers, e.g. [[\"x-request-id\", \"...\"]]"
    })
  }).annotate({ identifier: `${rpc._tag}Request` })
))

const RpcResult = Schema.Union([
  ...rpcs.map((rpc) =>
    Schema.Struct({
      _tag: Schema.Literal("Exit"),
      requestId: RequestId,
      exit: Rpc.exitSchema(rpc)
    }).annotate({ identifier: `${rpc._tag}Result` })
  ),
  Schema.Struct({ _tag: Schema.Literal("Defect"), defect: Schema.Unknown }).annotate({
    identifier: "RpcDefect",
    description: "The batch could not be read at all"
  })
])

/** The RPC endpoint reads the same credentials as the REST API; a refusal comes back inside the result. */
class RpcCredentials extends HttpApiMiddleware.Service<RpcCredentials>()("cms/api/RpcCredentials", {
  security: {
    bearer: HttpApiSecurity.bearer,
    apiKey: HttpApiSecurity.apiKey({ key: apiKeyHeader, in: "header" })
  }
}) {}

export class RpcApi extends HttpApiGroup.make("rpc", { topLevel: true })
  .add(
    HttpApiEndpoint.post("rpc", rpcPath, {
      payload: Schema.Union([RpcRequest, Schema.Array(RpcRequest)]),
      success: Schema.Array(RpcResult),
      // The request pipeline refuses an oversized body before RPC reads it.
      error: PayloadTooLarge
    })
      .middleware(RpcCredentials)
      .annotateMerge(OpenApi.annotations({
        summary: "Call the customer operations as Effect RPC",
        description: "The customer operations as typed RPC, for other services: Effect RPC's JSON protocol " +
          "over HTTP. The body is one request message or an array of them; the answer is always 200 with one " +
          "result per request, its `exit` either `Success` with the value or `Failure` with a cause whose " +
          "`Fail` entries are the same problems the REST endpoints answer (`/problems/...`). TypeScript " +
          "services use the generated client instead of writing messages by hand: `CustomerRpcClient` in " +
          "`src/client/index.ts`."
      }))
  )
  .annotateMerge(OpenApi.annotations({
    title: "RPC",
    description: "The customer operations as typed Effect RPC (one endpoint, JSON messages)"
  }))
{}
