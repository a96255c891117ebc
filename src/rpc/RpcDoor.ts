/**
 * The RPC door (POST /api/v1/rpc), held to the same rules as REST and in the
 * same order: credentials from the HTTP request only, then the batch's shape
 * and limits, then each call's payload, decoded with the REST validation
 * answers; and failures that are ours leave as an opaque internal error with
 * the request id, never a driver's message.
 */
import { Cause, Context, Effect, ErrorReporter, Exit, Layer, Option, Schema, type Scope, Semaphore } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerRespondable, HttpServerResponse } from "effect/http"
import { RpcSerialization, RpcServer } from "effect/rpc"
import {
  customersRequested,
  CustomersRpc,
  eventsRequested,
  maxCallsPerRequest,
  maxCustomersPerRequest,
  maxEventsPerRequest,
  maxMembershipChangesPerRequest
} from "../api/CustomersRpc.ts"
import { membershipChangesRequested } from "../api/SegmentsRpc.ts"
import { CurrentActor, RequiredPermission, RpcAuthentication } from "../api/Security.ts"
import { rpcCallFields, rpcPath } from "../api/RpcApi.ts"
import { RequestInvalid } from "../api/Validation.ts"
import { type Actor, holds, type Permission } from "../domain/Access.ts"
import { Forbidden, Unauthenticated } from "../domain/Errors.ts"
import { actorFromHeaders } from "../http/Authentication.ts"
import { requestInvalid } from "../http/Validation.ts"
import { Authenticator } from "../platform/Authenticator.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { CustomersRpcLive } from "./CustomersRpcLive.ts"
import { ConsentRpcLive } from "./ConsentRpcLive.ts"
import { DestinationsRpcLive } from "./DestinationsRpcLive.ts"
import { SegmentsRpcLive } from "./SegmentsRpcLive.ts"

/** Calls of one batch running at once: enough to overlap round trips, too few to flood the pool. */
const callsAtOnce = 4

/**
 * What the door established for one HTTP request. RPC handlers run in fibers
 * of their own whose context includes the HTTP request's, so each call of the
 * batch reads its caller from here.
 */
class RpcBatch extends Context.Service<RpcBatch, {
  readonly actor: Actor
  readonly permits: Semaphore.Semaphore
}>()("cms/rpc/RpcBatch") {}

/** The defect a caller sees in place of ours: it names the request id and nothing else. */
class OpaqueInternalError extends Error {
  // Already reported with its real cause; this stand-in is not worth a second log line.
  override readonly [ErrorReporter.ignore] = true
  constructor(requestId: string | null) {
    super(`Internal error: quote request id ${requestId ?? "(none)"} to support`)
    this.name = "InternalError"
  }
}

/** Each call: the batch's caller, a permit of the batch, and our defects reported here and hidden from the caller. */
const RpcAuthenticationLive = Layer.succeed(
  RpcAuthentication,
  RpcAuthentication.of((call) =>
    Effect.flatMap(Effect.serviceOption(RpcBatch), (batch) =>
      Option.match(batch, {
        onNone: () => Effect.fail(new Unauthenticated({})),
        onSome: ({ actor, permits }) =>
          call.pipe(
            Effect.provideService(CurrentActor, actor),
            permits.withPermits(1),
            Effect.catchDefect((defect) =>
              Effect.gen(function*() {
                yield* ErrorReporter.report(Cause.die(defect))
                return yield* Effect.die(new OpaqueInternalError(yield* CurrentRequestId))
              })
            )
          )
      }))
  )
)

const tags = [...CustomersRpc.requests.keys()]

const Call = Schema.Struct({ ...rpcCallFields, tag: Schema.Literals(tags), payload: Schema.Unknown })
const Batch = Schema.Union([Call, Schema.Array(Call).check(Schema.isMinLength(1))])
const parseOptions = { errors: "all", onExcessProperty: "error" } as const
const decodeBatch = Schema.decodeUnknownExit(Schema.fromJsonString(Batch), parseOptions)

type RpcHttpEffect = Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  Scope.Scope | HttpServerRequest.HttpServerRequest
>

const requiredPermissions = new Map(
  [...CustomersRpc.requests].map(([tag, rpc]) => [tag, Context.getOption(rpc.annotations, RequiredPermission)])
)

const payloadDecoders = new Map(
  [...CustomersRpc.requests].map(([tag, rpc]) => [tag, Schema.decodeUnknownExit(rpc.payloadSchema, parseOptions)])
)

const malformed = (detail: string, path: ReadonlyArray<string | number>, message: string) =>
  new RequestInvalid({ detail, errors: [{ path, message }] })

/**
 * What a valid batch asks: the calls to run, and those the caller may not make
 * (answered Forbidden without their payload being read).
 */
interface BatchPlan {
  readonly run: ReadonlyArray<typeof Call.Type>
  readonly forbidden: ReadonlyArray<{ readonly id: string | number; readonly permission: Permission }>
}

/** The plan when the batch's shape, limits and the payloads of the calls it may make are valid; the first reason why not otherwise. */
const planBatch = (text: string, actor: Actor): Exit.Exit<BatchPlan, RequestInvalid> => {
  const decoded = decodeBatch(text)
  if (Exit.isFailure(decoded)) {
    const error = Cause.findErrorOption(decoded.cause)
    return Exit.fail(
      Option.isSome(error)
        ? requestInvalid(error.value.issue, ["body"])
        : malformed("The body is not an RPC request", ["body"], "Expected RPC JSON")
    )
  }
  const calls = Array.isArray(decoded.value) ? decoded.value : [decoded.value]
  if (calls.length > maxCallsPerRequest) {
    return Exit.fail(malformed(
      `A request carries at most ${maxCallsPerRequest} calls`,
      ["body"],
      `Expected at most ${maxCallsPerRequest} calls, got ${calls.length}`
    ))
  }
  const ids = new Set<string>()
  const run: Array<typeof Call.Type> = []
  const forbidden: Array<BatchPlan["forbidden"][number]> = []
  let customers = 0
  let events = 0
  let membershipChanges = 0
  for (const [index, call] of calls.entries()) {
    const id = String(call.id)
    if (ids.has(id)) return Exit.fail(malformed("Two calls share an id", ["body", index, "id"], "Expected an id no other call uses"))
    ids.add(id)
    const permission = Option.getOrUndefined(requiredPermissions.get(call.tag)!)
    if (permission !== undefined && !holds(actor, permission)) {
      forbidden.push({ id: call.id, permission })
      continue
    }
    const payload = payloadDecoders.get(call.tag)!(call.payload)
    if (Exit.isFailure(payload)) {
      const error = Cause.findErrorOption(payload.cause)
      return Exit.fail(
        Option.isSome(error)
          ? requestInvalid(error.value.issue, ["body", index, "payload"])
          : malformed("Invalid payload", ["body", index, "payload"], "Expected a valid payload")
      )
    }
    customers += customersRequested(call.tag, payload.value)
    events += eventsRequested(call.tag, payload.value)
    membershipChanges += membershipChangesRequested(call.tag, payload.value)
    run.push(call)
  }
  if (customers > maxCustomersPerRequest) {
    return Exit.fail(malformed(
      `A request asks for at most ${maxCustomersPerRequest} customers in all`,
      ["body"],
      `Expected lists whose limits add up to at most ${maxCustomersPerRequest}, got ${customers}`
    ))
  }
  if (events > maxEventsPerRequest) {
    return Exit.fail(malformed(
      `A request tracks or reads at most ${maxEventsPerRequest} events in all`,
      ["body"],
      `Expected event batches and timeline limits adding up to at most ${maxEventsPerRequest}, got ${events}`
    ))
  }
  if (membershipChanges > maxMembershipChangesPerRequest) {
    return Exit.fail(malformed(
      `A request adds or removes at most ${maxMembershipChangesPerRequest} segment members in all`,
      ["body"],
      `Expected membership changes of at most ${maxMembershipChangesPerRequest} customer ids in all, got ${membershipChanges}`
    ))
  }
  return Exit.succeed({ run, forbidden })
}

const encodeForbidden = Schema.encodeSync(
  RpcSerialization.json.codecFor(Schema.Exit(Schema.Void, Forbidden, Schema.Defect()))
)

const forbiddenResults = (forbidden: BatchPlan["forbidden"]) =>
  forbidden.map(({ id, permission }) => ({
    _tag: "Exit",
    requestId: id,
    exit: encodeForbidden(Exit.fail(new Forbidden({ permission })))
  }))

/**
 * Runs the calls the caller may make and answers the others Forbidden, in one
 * RPC answer. When some calls are forbidden the server sees a request carrying
 * only the rest (rare: typed clients send one call per request).
 */
const runPlan = (
  rpcServer: RpcHttpEffect,
  request: HttpServerRequest.HttpServerRequest,
  { run, forbidden }: BatchPlan
) =>
  Effect.gen(function*() {
    if (forbidden.length === 0) return yield* rpcServer
    if (run.length === 0) return HttpServerResponse.jsonUnsafe(forbiddenResults(forbidden))
    const rest = HttpServerRequest.fromWeb(
      new Request(new URL(rpcPath, "http://localhost"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(run)
      })
    )
    const response = yield* rpcServer.pipe(Effect.provideService(HttpServerRequest.HttpServerRequest, rest))
    // The JSON serialisation answers with one text body holding every call's result.
    if (response.body._tag !== "Uint8Array") {
      return yield* Effect.die(new Error(`The RPC server answered with a ${response.body._tag} body`))
    }
    const answered = response.body.text ?? new TextDecoder().decode(response.body.body)
    return HttpServerResponse.jsonUnsafe([...JSON.parse(answered) as ReadonlyArray<unknown>, ...forbiddenResults(forbidden)])
  }).pipe(Effect.provideService(HttpServerRequest.HttpServerRequest, request))

const encodeUnauthenticated = Schema.encodeSync(
  RpcSerialization.json.codecFor(Schema.Exit(Schema.Void, Unauthenticated, Schema.Defect()))
)

const CallIds = Schema.Union([
  Schema.Struct({ id: Call.fields.id }),
  Schema.Array(Schema.Struct({ id: Call.fields.id })).check(Schema.isMinLength(1), Schema.isMaxLength(maxCallsPerRequest))
])
const decodeCallIds = Schema.decodeUnknownOption(Schema.fromJsonString(CallIds))

/**
 * Without valid credentials nothing is decoded. A typed client still learns
 * why: a body that names its calls is answered in RPC form, each call failing
 * with Unauthenticated (status 401 all the same); anything else gets the problem.
 */
const refuseUnauthenticated = (text: string) =>
  Option.match(decodeCallIds(text), {
    onNone: () => HttpServerRespondable.toResponse(new Unauthenticated({})),
    onSome: (calls) => {
      const exit = encodeUnauthenticated(Exit.fail(new Unauthenticated({})))
      return Effect.succeed(HttpServerResponse.jsonUnsafe(
        (Array.isArray(calls) ? calls : [calls]).map(({ id }) => ({ _tag: "Exit", requestId: id, exit })),
        { status: 401 }
      ))
    }
  })

const door = (rpcServer: RpcHttpEffect) =>
  Effect.gen(function*() {
    const authenticator = yield* Authenticator
    return Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const actor = yield* Effect.option(actorFromHeaders(authenticator, request.headers))
      const text = yield* request.text
      if (Option.isNone(actor)) return yield* refuseUnauthenticated(text)
      const plan = planBatch(text, actor.value)
      if (Exit.isFailure(plan)) return yield* HttpServerRespondable.toResponse(Cause.squash(plan.cause) as RequestInvalid)
      const permits = yield* Semaphore.make(callsAtOnce)
      return yield* runPlan(rpcServer, request, plan.value).pipe(
        Effect.provideService(RpcBatch, { actor: actor.value, permits })
      )
    })
  })

/** The RPC server behind the door, on the HTTP router. */
export const RpcRoutesLive = HttpRouter.use((router) =>
  Effect.gen(function*() {
    // Each call fails on its own: a defect answers that call, not the whole batch.
    const rpcServer = yield* RpcServer.toHttpEffect(CustomersRpc, { disableFatalDefects: true })
    yield* router.add("POST", rpcPath, yield* door(rpcServer))
  })
).pipe(
  Layer.provide([
    CustomersRpcLive,
    SegmentsRpcLive,
    DestinationsRpcLive,
    ConsentRpcLive,
    RpcAuthenticationLive,
    RpcSerialization.layerJson
  ])
)
