-- Leftovers of destinations and calculations (issue 15).
-- A destination that keeps failing is disabled by the service (src/destinations/DestinationDelivery.ts):
-- failing_since is the first failed attempt since the last success (or re-enable), auto_disabled_at when the
-- service disabled it (NULL when enabled, or disabled by a user).
ALTER TABLE destinations
  ADD COLUMN failing_since timestamptz,
  ADD COLUMN auto_disabled_at timestamptz;

-- A destination's version, as customers and segments have: every change of the definition (name, URL, segment,
-- enabled, secret) adds one, and a change may name the version it is based on (If-Match, 412 when stale).
-- Delivery outcomes do not count (its status), except disabling a failing destination, which changes `enabled`.
ALTER TABLE destinations ADD COLUMN version int NOT NULL DEFAULT 1;

-- A destination's pending and dead deliveries as counters, kept by every statement that moves a delivery between
-- states (fan-out, outcome, replay, erasure), as delivered_count is: a GET no longer counts its rows.
ALTER TABLE destinations
  ADD COLUMN pending_count int NOT NULL DEFAULT 0,
  ADD COLUMN dead_count int NOT NULL DEFAULT 0;
UPDATE destinations d SET
  pending_count = (SELECT count(*) FROM destination_deliveries x WHERE x.destination_id = d.id AND x.status = 'pending'),
  dead_count = (SELECT count(*) FROM destination_deliveries x WHERE x.destination_id = d.id AND x.status = 'dead');

-- A delivery whose every customer was erased before it was delivered is not sent, nor replayable: erasure sets it
-- `erased` (finished), and the destination counts it.
ALTER TABLE destination_deliveries DROP CONSTRAINT destination_deliveries_status_check;
ALTER TABLE destination_deliveries ADD CONSTRAINT destination_deliveries_status_check
  CHECK (status IN ('pending', 'delivered', 'dead', 'erased'));
ALTER TABLE destinations ADD COLUMN erased_count int NOT NULL DEFAULT 0;
-- Dropped rows are pruned with the delivered ones, after DESTINATION_DELIVERY_RETENTION_HOURS.
CREATE INDEX destination_deliveries_erased_idx ON destination_deliveries (finished_at) WHERE status = 'erased';

-- A running calculation's progress (src/segments/SegmentCalculation.ts): its phase (asking the rules engine, or
-- calculating) and the share of the phase done, when the phase can tell (the rules engine's: customers answered
-- for, of the live customers). Written outside the run's transaction, so readers see it while the run goes on.
ALTER TABLE segment_calculations
  ADD COLUMN phase text CHECK (phase IN ('asking-rules-engine', 'calculating')),
  ADD COLUMN progress real CHECK (progress BETWEEN 0 AND 1);
