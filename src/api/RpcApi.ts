/**
 * POST /api/v1/rpc in the OpenAPI document. The route is served by the RPC
 * door (src/rpc/RpcDoor.ts, Effect RPC's JSON serialisation), not by HttpApi:
 * this group only describes it, with the call and result messages derived
 * from the CustomersRpc group itself, so a new RPC appears here without an edit.
 */
import { Schema } from "effect"
import {
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  OpenApi
} from "effect/http-api"
import { Rpc } from "effect/rpc"
import { Unauthenticated } from "../domain/Errors.ts"
import { CustomersRpc, maxCallsPerRequest, maxCustomersPerRequest, maxEventsPerRequest } from "./CustomersRpc.ts"
import { credentials } from "./Security.ts"
import { InternalError, PayloadTooLarge } from "./Transport.ts"
import { RequestInvalid } from "./Validation.ts"

export const rpcPath = "/api/v1/rpc"

const CallId = Schema.Union([
  Schema.String.check(Schema.isMinCodePoints(1), Schema.isMaxCodePoints(64)),
  Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
]).annotate({ description: "Chosen by the client, unique within the batch; the result carries it back" })

/** A call's envelope around its tag and payload, as the RPC door decodes it. */
export const rpcCallFields = {
  _tag: Schema.Literal("Request"),
  id: CallId,
  headers: Schema.Array(Schema.Tuple([Schema.String, Schema.String])).check(Schema.isMaxLength(50)).annotate({
    description: "Ignored: credentials and X-Request-Id travel as HTTP headers"
  }),
  traceId: Schema.optionalKey(Schema.String.check(Schema.isMaxCodePoints(64))),
  spanId: Schema.optionalKey(Schema.String.check(Schema.isMaxCodePoints(64))),
  sampled: Schema.optionalKey(Schema.Boolean)
}

const rpcs = [...CustomersRpc.requests.values()]

const RpcCall = Schema.Union(rpcs.map((rpc) =>
  Schema.Struct({ ...rpcCallFields, tag: Schema.Literal(rpc._tag), payload: rpc.payloadSchema }).annotate({
    identifier: `${rpc._tag}Call`
  })
))

const RpcResult = Schema.Union(rpcs.map((rpc) =>
  Schema.Struct({ _tag: Schema.Literal("Exit"), requestId: CallId, exit: Rpc.exitSchema(rpc) }).annotate({
    identifier: `${rpc._tag}Result`
  })
))

/** Without credentials a batch whose calls have ids is answered in RPC form, each call failing with Unauthenticated. */
const UnauthenticatedResults = Schema.Array(
  Schema.Struct({
    _tag: Schema.Literal("Exit"),
    requestId: CallId,
    exit: Schema.Exit(Schema.Void, Unauthenticated, Schema.Defect())
  })
).annotate({ identifier: "RpcUnauthenticated", description: "Each call of the batch, failed with Unauthenticated" })
  .pipe(HttpApiSchema.status(401))

/** The RPC door reads the same credentials as the REST API, from the HTTP headers only. */
class RpcCredentials extends HttpApiMiddleware.Service<RpcCredentials>()("cms/api/RpcCredentials", {
  security: credentials,
  error: Unauthenticated
}) {}

export class RpcApi extends HttpApiGroup.make("rpc", { topLevel: true })
  .add(
    HttpApiEndpoint.post("rpc", rpcPath, {
      payload: Schema.Union([RpcCall, Schema.Array(RpcCall).check(Schema.isBetweenLength(1, maxCallsPerRequest))]),
      success: Schema.Array(RpcResult),
      // The door refuses a malformed or oversized batch whole; the request pipeline an oversized body.
      error: [RequestInvalid, UnauthenticatedResults, PayloadTooLarge, InternalError]
    })
      .middleware(RpcCredentials)
      .annotateMerge(OpenApi.annotations({
        summary: "Call the customer and event operations as Effect RPC",
        description: "The customer operations as typed RPC for other services, in Effect RPC's JSON " +
          "serialisation. The body is one call or a batch of up to " + maxCallsPerRequest + " calls with " +
          "distinct ids, asking for at most " + maxCustomersPerRequest + " customers in all (a list counts its " +
          "`limit`) and at most " + maxEventsPerRequest + " events in all, tracked or read (a timeline counts its " +
          "`limit`); the calls run a few at a time. The answer is one result per call: its `exit` is " +
          "`Success` with the value, or `Failure` with a cause whose `Fail` entries are the same problems the " +
          "REST endpoints answer (`/problems/...`). A batch that is malformed or over a limit is refused whole " +
          "(400) before any call runs. TypeScript services use the typed client instead of writing messages: " +
          "`CustomerRpcClient` in `src/client/index.ts`."
      }))
  )
  .annotateMerge(OpenApi.annotations({
    title: "RPC",
    description: "The customer operations as typed Effect RPC: one endpoint, JSON messages"
  }))
{}
