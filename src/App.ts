/**
 * The service's layers, composed once: the database first (so its mode is the
 * first line logged), then platform adapters, the customer feature, and the
 * routes. main.ts adds a listening server; tests add their own.
 */
import { NodeCrypto, NodeHttpServer, NodeServices } from "@effect/platform-node"
import { Config, Layer, References } from "effect"
import { SingleRunner } from "effect/cluster"
import { createServer } from "node:http"
import { AnalyticsRepo } from "./analytics/AnalyticsRepo.ts"
import { ClvScorer } from "./analytics/ClvScorer.ts"
import { CustomerAnalytics } from "./analytics/CustomerAnalytics.ts"
import { RfmBreakpointsLive } from "./analytics/RfmBreakpoints.ts"
import { ClvFitJobLive, ClvModels } from "./analytics/ClvModels.ts"
import { CustomerCreation, CustomerEntityLayer } from "./customers/CustomerEntity.ts"
import { CustomerRepo } from "./customers/CustomerRepo.ts"
import { EmailVerificationRepo } from "./customers/EmailVerificationRepo.ts"
import { IdempotencyKeyRepo } from "./customers/IdempotencyKeyRepo.ts"
import { Customers } from "./customers/Customers.ts"
import { IdempotencyKeyExpiryLive } from "./customers/IdempotencyKeyExpiry.ts"
import { KeyUpkeepLive } from "./customers/KeyUpkeep.ts"
import { DestinationDeliveryLive } from "./destinations/DestinationDelivery.ts"
import { DestinationRepo } from "./destinations/DestinationRepo.ts"
import { Destinations } from "./destinations/Destinations.ts"
import { EventErasure } from "./events/EventErasure.ts"
import { EventIngest } from "./events/EventIngest.ts"
import { EventPublisherLive } from "./events/EventPublisher.ts"
import { PartitionUpkeepLive } from "./events/EventRetention.ts"
import { EventsNatsDoorLive } from "./events/EventsNatsDoor.ts"
import { EventStore } from "./events/EventStore.ts"
import { FleetReports, SignupCountsLive } from "./events/FleetReports.ts"
import { RollupFolderLive } from "./events/RollupFolder.ts"
import { TrackingPlan } from "./events/TrackingPlan.ts"
import { TrackingPlanRepo } from "./events/TrackingPlanRepo.ts"
import { EventTimeline } from "./events/EventTimeline.ts"
import { RoutesLive, serve } from "./http/Server.ts"
import { Authenticator } from "./platform/Authenticator.ts"
import { DatabaseLive, GroupedWrites } from "./platform/Database.ts"
import { ObservabilityLive } from "./platform/ErrorLogging.ts"
import { Health } from "./platform/Health.ts"
import { Nats } from "./platform/Nats.ts"
import { Outbox } from "./platform/Outbox.ts"
import { OutboxRelayLive } from "./platform/OutboxRelay.ts"
import { RulesEngine } from "./platform/RulesEngine.ts"
import { AuditChain, AuditSealerLive } from "./privacy/AuditChain.ts"
import { AuditLog } from "./privacy/AuditLog.ts"
import { AuditSigning } from "./privacy/AuditSigning.ts"
import { BlindIndex } from "./privacy/BlindIndex.ts"
import { ConsentCommand } from "./privacy/ConsentCommand.ts"
import { ConsentRepo } from "./privacy/ConsentRepo.ts"
import { Consents } from "./privacy/Consents.ts"
import { DataExport } from "./privacy/DataExport.ts"
import { DataExportJobRepo } from "./privacy/DataExportJobRepo.ts"
import { DataExportJobs, DataExportWorkerLive } from "./privacy/DataExportJobs.ts"
import { Keyring } from "./privacy/Keyring.ts"
import { Erasure, ErasureWorkerLive } from "./privacy/Erasure.ts"
import { ErasureRequests } from "./privacy/ErasureRequests.ts"
import { CustomerFactsRepo } from "./segments/CustomerFacts.ts"
import { SegmentEvaluationQueue } from "./segments/EvaluationQueue.ts"
import { RealtimeMembershipLive } from "./segments/RealtimeMembership.ts"
import { SegmentCalculationRunnerLive, SegmentCalculations } from "./segments/SegmentCalculation.ts"
import { SegmentRepo } from "./segments/SegmentRepo.ts"
import { Segments } from "./segments/Segments.ts"

/**
 * One runner, so every entity call is local. Effect simulates the remote hop by default (each payload schema
 * encoded, then decoded again); that cost every update a round of schema work for nothing a single runner
 * needs. A runner added later sends remote calls serialised regardless.
 */
const ClusterLive = SingleRunner.layer({
  runnerStorage: "memory",
  shardingConfig: { simulateRemoteSerialization: false }
}).pipe(
  Layer.provide([NodeServices.layer, NodeCrypto.layer])
)

// Issuing and revoking API keys is audited; entries are signed as written and sealed into a chain whose heads
// are published to JetStream.
const Platform = Layer.mergeAll(Outbox.layer, Authenticator.layer, RulesEngine.layer, AuditChain.layer).pipe(
  Layer.provideMerge(AuditLog.layer),
  // After NATS is up: a refused AUDIT_KEY, BLIND_INDEX_KEY or MASTER_KEYS then fails the start without interrupting a
  // connection half-made.
  Layer.provideMerge(Layer.mergeAll(AuditSigning.layer, BlindIndex.layer, Keyring.layer)),
  Layer.provideMerge(Nats.layer)
)

const CustomersFeature = CustomerEntityLayer.pipe(
  Layer.provideMerge(Layer.merge(Customers.layer, Consents.layer)),
  Layer.provideMerge(CustomerCreation.layer),
  // Consent changes run in the customer's entity; creation writes the first consent entries.
  Layer.provideMerge(ConsentCommand.layer),
  Layer.provideMerge(
    Layer.mergeAll(
      CustomerRepo.layer,
      IdempotencyKeyRepo.layer,
      EmailVerificationRepo.layer,
      EventErasure.layer,
      // Erasure removes the customer's segment memberships too, and their id from deliveries to destinations.
      SegmentRepo.layer,
      DestinationRepo.layer,
      // Creates and updates queue the customer for real-time segment membership (so do folds of their events).
      SegmentEvaluationQueue.layer,
      // Updates of different customers running at the same time commit together.
      GroupedWrites.layer,
      ConsentRepo.layer,
      // Erasure requests and the suppression list: written by Delete, checked by creates.
      Erasure.layer,
      // Delete removes the customer's asynchronous exports and their stored documents.
      DataExportJobRepo.layer
    )
  ),
  Layer.provideMerge(ClusterLive)
)

const EventsFeature = Layer.mergeAll(EventIngest.layer, EventTimeline.layer, FleetReports.layer).pipe(
  Layer.provideMerge(Layer.mergeAll(EventStore.layer, TrackingPlan.layer)),
  Layer.provideMerge(TrackingPlanRepo.layer)
)

// Customers are scored with the latest CLV fit; until there is one, predictions are absent with that reason.
const AnalyticsFeature = CustomerAnalytics.layer.pipe(
  // A customer who withdrew consent to analytics is not profiled.
  Layer.provide(Layer.mergeAll(AnalyticsRepo.layer, ClvScorer.fitted, ConsentRepo.layer)),
  Layer.provideMerge(ClvModels.layer)
)

// Segment definitions, hand-kept membership, calculation and the facts real-time membership evaluates (churn risk
// reads the latest CLV fit); a customer's segments are read for known customers only.
const SegmentsFeature = Segments.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(SegmentRepo.layer, SegmentCalculations.layer, CustomerFactsRepo.layer))
)

// Webhook subscriptions to segment joins and leaves; a destination may name one segment.
const DestinationsFeature = Destinations.layer.pipe(Layer.provideMerge(DestinationRepo.layer))

/** Every service the routes need, the database built first. */
export const ServicesLive = Layer.mergeAll(
  CustomersFeature,
  SegmentsFeature.pipe(Layer.provide([CustomersFeature, AnalyticsFeature])),
  DestinationsFeature.pipe(Layer.provide(CustomersFeature)),
  EventsFeature,
  AnalyticsFeature,
  // A person's export reads every feature's data about them.
  DataExportJobs.layer.pipe(
    Layer.provideMerge(DataExport.layer),
    Layer.provide([CustomersFeature, AnalyticsFeature, EventsFeature, ConsentRepo.layer])
  ),
  ErasureRequests.layer.pipe(Layer.provide(CustomersFeature)),
  Health.layer
).pipe(
  Layer.provideMerge(Platform),
  Layer.provideMerge(DatabaseLive)
)

/** What runs on top of the services: the routes and the background work. */
export const HttpAppLive = Layer.mergeAll(
  RoutesLive,
  OutboxRelayLive,
  IdempotencyKeyExpiryLive,
  KeyUpkeepLive,
  RfmBreakpointsLive,
  ClvFitJobLive,
  SegmentCalculationRunnerLive,
  DestinationDeliveryLive,
  RealtimeMembershipLive,
  PartitionUpkeepLive,
  EventsNatsDoorLive,
  EventPublisherLive,
  RollupFolderLive,
  SignupCountsLive,
  AuditSealerLive,
  ErasureWorkerLive,
  DataExportWorkerLive
)

/**
 * No span exporter is configured, so every span (one per request, Effect.fn call, entity call and SQL
 * statement, each with clock reads) would be built only to be dropped. Registration stays off until one is.
 */
const SpansOff = Layer.succeed(References.TracerEnabled, false)

/** The port opens only once the services are up, so no request waits on a half-built service. */
export const ServerLive = serve(HttpAppLive).pipe(
  Layer.provide(NodeHttpServer.layerConfig(createServer, { port: Config.Int("PORT").pipe(Config.withDefault(8080)) })),
  Layer.provide(ServicesLive),
  Layer.provide(Layer.merge(ObservabilityLive, SpansOff))
)
