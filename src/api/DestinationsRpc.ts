/**
 * The destination operations as typed RPC: the same domain schemas and errors
 * as the REST endpoints (DestinationsApi.ts), served by the one RPC door.
 */
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"
import {
  CreatedDestination,
  CreateDestination,
  DeadLetterPage,
  DeadLettersQuery,
  Destination,
  DestinationId,
  DestinationPage,
  ListDestinationsQuery,
  ReplayDeadLetters,
  ReplayResult,
  DestinationChanges,
  RotatedSecret
} from "../domain/Destination.ts"
import {
  CreateDestinationErrors,
  DeadLettersErrors,
  DeleteDestinationErrors,
  GetDestinationErrors,
  ReplayDeadLettersErrors,
  RotateDestinationSecretErrors,
  UpdateDestinationErrors
} from "../domain/Errors.ts"
import { RequiredPermission, RpcAuthentication } from "./Security.ts"
import { ExpectedVersion } from "./Versioning.ts"

export class DestinationsRpc extends RpcGroup.make(
  Rpc.make("ListDestinations", {
    payload: ListDestinationsQuery,
    success: DestinationPage
  }),
  Rpc.make("GetDestination", {
    payload: { id: DestinationId },
    success: Destination,
    error: Schema.Union(GetDestinationErrors)
  }),
  Rpc.make("CreateDestination", {
    payload: { input: CreateDestination },
    success: CreatedDestination,
    error: Schema.Union(CreateDestinationErrors)
  }).annotate(RequiredPermission, "segments:manage"),
  Rpc.make("UpdateDestination", {
    // The version the change is based on is `expectedVersion` here, as for segments; none in the update.
    payload: { id: DestinationId, update: DestinationChanges, expectedVersion: ExpectedVersion },
    success: Destination,
    error: Schema.Union(UpdateDestinationErrors)
  }).annotate(RequiredPermission, "segments:manage"),
  Rpc.make("DeleteDestination", {
    payload: { id: DestinationId, expectedVersion: ExpectedVersion },
    error: Schema.Union(DeleteDestinationErrors)
  }).annotate(RequiredPermission, "segments:manage"),
  Rpc.make("RotateDestinationSecret", {
    payload: { id: DestinationId },
    success: RotatedSecret,
    error: Schema.Union(RotateDestinationSecretErrors)
  }).annotate(RequiredPermission, "segments:manage"),
  Rpc.make("ListDeadLetters", {
    payload: { id: DestinationId, ...DeadLettersQuery.fields },
    success: DeadLetterPage,
    error: Schema.Union(DeadLettersErrors)
  }),
  Rpc.make("ReplayDeadLetters", {
    payload: { id: DestinationId, ...ReplayDeadLetters.fields },
    success: ReplayResult,
    error: Schema.Union(ReplayDeadLettersErrors)
  }).annotate(RequiredPermission, "segments:manage")
).middleware(RpcAuthentication) {}
