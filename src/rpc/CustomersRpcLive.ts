/** RPC handlers: the same calls as REST (customers, events, analytics, tracking plan), the caller from RpcAuthentication. */
import { Effect } from "effect"
import { CustomerAnalytics } from "../analytics/CustomerAnalytics.ts"
import { CustomerOperationsRpc } from "../api/CustomersRpc.ts"
import { CurrentActor } from "../api/Security.ts"
import { Customers } from "../customers/Customers.ts"
import { EventIngest } from "../events/EventIngest.ts"
import { EventTimeline } from "../events/EventTimeline.ts"
import { TrackingPlan } from "../events/TrackingPlan.ts"
import { CurrentRequestId } from "../platform/RequestContext.ts"
import { DataExportJobs } from "../privacy/DataExportJobs.ts"
import { ErasureRequests } from "../privacy/ErasureRequests.ts"

export const CustomersRpcLive = CustomerOperationsRpc.toLayer(Effect.gen(function*() {
  const customers = yield* Customers
  const ingest = yield* EventIngest
  const timeline = yield* EventTimeline
  const analytics = yield* CustomerAnalytics
  const plan = yield* TrackingPlan
  const erasures = yield* ErasureRequests
  const exportJobs = yield* DataExportJobs
  const context = Effect.all({ actor: CurrentActor, requestId: CurrentRequestId })
  return CustomerOperationsRpc.of({
    GetCustomer: ({ id }) => Effect.flatMap(CurrentActor, (actor) => customers.get(actor, id)),
    ListCustomers: (query) => Effect.flatMap(CurrentActor, (actor) => customers.list(actor, query)),
    CreateCustomer: ({ input, idempotencyKey }) =>
      Effect.flatMap(context, (context) => customers.create({ ...context, input, idempotencyKey })).pipe(
        Effect.map(({ customer }) => customer)
      ),
    UpdateCustomer: ({ id, patch, expectedVersion }) =>
      Effect.flatMap(context, (context) =>
        customers.update({ ...context, id, patch, expectedVersion: expectedVersion ?? null })),
    DeleteCustomer: ({ id, expectedVersion }) =>
      Effect.flatMap(context, (context) => customers.delete({ ...context, id, expectedVersion: expectedVersion ?? null })),
    VerifyCustomerEmail: ({ id, token }) =>
      Effect.flatMap(context, (context) => customers.verifyEmail({ ...context, id, token })),
    TrackEvent: ({ id, event }) => ingest.trackOne(id, event),
    TrackEvents: ({ events }) => ingest.trackBatch(events),
    ListCustomerEvents: ({ id, ...query }) => Effect.flatMap(CurrentActor, (actor) => timeline.read(actor, id, query)),
    GetCustomerAnalytics: ({ id }) => analytics.analytics(id),
    GetCustomerInsights: ({ id }) => analytics.insights(id),
    EraseCustomerData: ({ id }) => Effect.flatMap(context, (context) => erasures.erase({ ...context, id })),
    GetCustomerErasure: ({ id }) => Effect.flatMap(context, (context) => erasures.status({ ...context, id })),
    RequestDataExport: ({ id }) => Effect.flatMap(context, (context) => exportJobs.request({ ...context, id })),
    GetDataExport: ({ exportId }) => Effect.flatMap(context, (context) => exportJobs.status({ ...context, exportId })),
    AnonymizeCustomer: ({ id, reason }) =>
      Effect.flatMap(context, (context) => customers.anonymize({ ...context, id, reason: reason ?? null })),
    LiftSuppression: (payload) => Effect.flatMap(context, (context) => erasures.liftSuppression({ ...context, ...payload })),
    ListEventTypes: () => plan.list,
    GetEventType: ({ type }) => plan.get(type),
    RegisterEventType: ({ registration, type }) => plan.register(type, registration),
    RemoveEventType: ({ type }) => plan.remove(type)
  })
}))
