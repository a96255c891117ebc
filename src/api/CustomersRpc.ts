/**
 * The customer operations as typed RPC for other services: the same domain
 * schemas and errors as the REST endpoints.
 *
 * Over HTTP (POST /api/v1/rpc, Effect RPC's JSON serialization) one request
 * may carry a batch of calls: at most `maxCallsPerRequest`, asking for at most
 * `maxCustomersPerRequest` customers in all (a list counts its `limit`, 50 by
 * default), so one answer is never larger than one REST page of 500; and
 * at most `maxEventsPerRequest` events in all, tracked or read (a timeline
 * counts its `limit`), one REST batch's worth; and at most
 * `maxMembershipChangesPerRequest` customer ids added to or removed from
 * segments, one REST bulk call's worth. Calls of
 * a batch run a few at a time. Credentials and X-Request-Id travel as HTTP
 * headers only; a call's own `headers` are ignored.
 */
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"
import { CustomerAnalytics, CustomerInsights } from "../domain/Analytics.ts"
import { CreateCustomer, CustomerId, IdempotencyKey, PatchCustomer, VerificationToken } from "../domain/Customer.ts"
import { CustomerPage, defaultPageSize, ListCustomersQuery, ServedCustomer } from "../domain/CustomerQuery.ts"
import {
  BatchResult,
  defaultTimelinePageSize,
  EventResult,
  maxBatchEvents,
  TimelinePage,
  TimelineQuery,
  TrackBatch,
  TrackEvent as TrackEventPayload
} from "../domain/Event.ts"
import {
  CreateCustomerErrors,
  CustomerAnalyticsErrors,
  GetEventTypeErrors,
  RegisterEventTypeErrors,
  RemoveEventTypeErrors,
  DeleteCustomerErrors,
  GetCustomerErrors,
  ListCustomersErrors,
  TimelineErrors,
  TrackBatchErrors,
  TrackEventErrors,
  UpdateCustomerErrors,
  VerifyEmailErrors
} from "../domain/Errors.ts"
import { EventType } from "../domain/Event.ts"
import {
  AnonymizeCustomerErrors,
  EraseCustomerDataErrors,
  ErasureReason,
  ErasureRequest,
  GetErasureErrors,
  LiftSuppression,
  LiftSuppressionErrors
} from "../domain/Erasure.ts"
import { DataExportJob, DataExportJobId, GetExportErrors, RequestExportErrors } from "../domain/DataExportJob.ts"
import { maxBulkMembershipIds } from "../domain/Segment.ts"
import { RegisteredEventType, RegisterEventType, TrackingPlanTypes } from "../domain/TrackingPlan.ts"
import { ConsentRpc } from "./ConsentRpc.ts"
import { DestinationsRpc } from "./DestinationsRpc.ts"
import { SegmentsRpc } from "./SegmentsRpc.ts"
import { RequiredPermission, RpcAuthentication } from "./Security.ts"
import { ExpectedVersion } from "./Versioning.ts"

export const maxCallsPerRequest = 20
export const maxCustomersPerRequest = 500

/** Calls answering with (or about) one customer. */
const customerCalls: ReadonlySet<string> = new Set([
  "GetCustomer",
  "CreateCustomer",
  "UpdateCustomer",
  "DeleteCustomer",
  "VerifyCustomerEmail",
  "TrackEvent",
  "GetCustomerAnalytics",
  "GetCustomerInsights",
  "GetCustomerConsent",
  "ChangeCustomerConsent",
  "ListCustomerConsentHistory",
  "EraseCustomerData",
  "GetCustomerErasure",
  "AnonymizeCustomer",
  "RequestDataExport"
])

/** How many customers a call can answer with, counted against `maxCustomersPerRequest`. */
export const customersRequested = (tag: string, payload: unknown): number =>
  tag === "ListCustomers"
    ? (payload as ListCustomersQuery).limit ?? defaultPageSize
    : customerCalls.has(tag)
    ? 1
    : 0

export const maxEventsPerRequest = maxBatchEvents

export const maxMembershipChangesPerRequest = maxBulkMembershipIds

/** How many events a call tracks or reads, counted against `maxEventsPerRequest`. */
export const eventsRequested = (tag: string, payload: unknown): number =>
  tag === "TrackEvents"
    ? (payload as TrackBatch).events.length
    : tag === "TrackEvent"
    ? 1
    : tag === "ListCustomerEvents"
    ? (payload as TimelineQuery).limit ?? defaultTimelinePageSize
    : 0

/** The customer operations themselves (handlers: src/rpc/CustomersRpcLive.ts). */
export class CustomerOperationsRpc extends RpcGroup.make(
  Rpc.make("GetCustomer", {
    payload: { id: CustomerId },
    success: ServedCustomer,
    error: Schema.Union(GetCustomerErrors)
  }),
  Rpc.make("ListCustomers", {
    payload: ListCustomersQuery,
    success: CustomerPage,
    error: Schema.Union(ListCustomersErrors)
  }),
  Rpc.make("CreateCustomer", {
    payload: { input: CreateCustomer, idempotencyKey: Schema.optionalKey(IdempotencyKey) },
    success: ServedCustomer,
    error: Schema.Union(CreateCustomerErrors)
  }).annotate(RequiredPermission, "customers:write"),
  Rpc.make("UpdateCustomer", {
    payload: { id: CustomerId, patch: PatchCustomer, expectedVersion: ExpectedVersion },
    success: ServedCustomer,
    error: Schema.Union(UpdateCustomerErrors)
  }).annotate(RequiredPermission, "customers:write"),
  Rpc.make("DeleteCustomer", {
    payload: { id: CustomerId, expectedVersion: ExpectedVersion },
    error: Schema.Union(DeleteCustomerErrors)
  }).annotate(RequiredPermission, "customers:delete"),
  Rpc.make("VerifyCustomerEmail", {
    payload: { id: CustomerId, token: VerificationToken },
    success: ServedCustomer,
    error: Schema.Union(VerifyEmailErrors)
  }).annotate(RequiredPermission, "customers:write"),
  Rpc.make("TrackEvent", {
    payload: { id: CustomerId, event: TrackEventPayload },
    success: EventResult,
    error: Schema.Union(TrackEventErrors)
  }).annotate(RequiredPermission, "events:write"),
  Rpc.make("TrackEvents", {
    payload: TrackBatch,
    success: BatchResult,
    error: Schema.Union(TrackBatchErrors)
  }).annotate(RequiredPermission, "events:write"),
  Rpc.make("ListCustomerEvents", {
    payload: { id: CustomerId, ...TimelineQuery.fields },
    success: TimelinePage,
    error: Schema.Union(TimelineErrors)
  }),
  Rpc.make("GetCustomerAnalytics", {
    payload: { id: CustomerId },
    success: CustomerAnalytics,
    error: Schema.Union(CustomerAnalyticsErrors)
  }).annotate(RequiredPermission, "analytics:read"),
  Rpc.make("GetCustomerInsights", {
    payload: { id: CustomerId },
    success: CustomerInsights,
    error: Schema.Union(CustomerAnalyticsErrors)
  }).annotate(RequiredPermission, "analytics:read"),
  Rpc.make("EraseCustomerData", {
    payload: { id: CustomerId },
    success: ErasureRequest,
    error: Schema.Union(EraseCustomerDataErrors)
  }).annotate(RequiredPermission, "customers:delete"),
  Rpc.make("GetCustomerErasure", {
    payload: { id: CustomerId },
    success: ErasureRequest,
    error: Schema.Union(GetErasureErrors)
  }).annotate(RequiredPermission, "privacy:export"),
  // The download is a link (REST): its document is streamed, not one RPC answer.
  Rpc.make("RequestDataExport", {
    payload: { id: CustomerId },
    success: DataExportJob,
    error: Schema.Union(RequestExportErrors)
  }).annotate(RequiredPermission, "privacy:export"),
  Rpc.make("GetDataExport", {
    payload: { exportId: DataExportJobId },
    success: DataExportJob,
    error: Schema.Union(GetExportErrors)
  }).annotate(RequiredPermission, "privacy:export"),
  Rpc.make("AnonymizeCustomer", {
    payload: { id: CustomerId, reason: Schema.optionalKey(ErasureReason) },
    success: ServedCustomer,
    error: Schema.Union(AnonymizeCustomerErrors)
  }).annotate(RequiredPermission, "privacy:anonymize"),
  Rpc.make("LiftSuppression", {
    payload: LiftSuppression,
    error: Schema.Union(LiftSuppressionErrors)
  }).annotate(RequiredPermission, "privacy:lift-suppression"),
  Rpc.make("ListEventTypes", { success: TrackingPlanTypes }),
  Rpc.make("GetEventType", {
    payload: { type: EventType },
    success: RegisteredEventType,
    error: Schema.Union(GetEventTypeErrors)
  }),
  Rpc.make("RegisterEventType", {
    payload: { type: EventType, registration: RegisterEventType },
    success: RegisteredEventType,
    error: Schema.Union(RegisterEventTypeErrors)
  }).annotate(RequiredPermission, "tracking-plan:manage"),
  Rpc.make("RemoveEventType", {
    payload: { type: EventType },
    error: Schema.Union(RemoveEventTypeErrors)
  }).annotate(RequiredPermission, "tracking-plan:manage")
).middleware(RpcAuthentication) {}

/**
 * Every RPC the door serves: the customer operations, the segment operations (src/api/SegmentsRpc.ts), consent
 * (src/api/ConsentRpc.ts) and the
 * destination operations (src/api/DestinationsRpc.ts).
 */
export class CustomersRpc extends CustomerOperationsRpc.merge(SegmentsRpc, DestinationsRpc, ConsentRpc) {}
