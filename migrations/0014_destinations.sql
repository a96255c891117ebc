-- Segment destinations (issue 15): webhook subscriptions that receive the joins and leaves of one segment or of
-- every segment, signed per Standard Webhooks, with their deliveries (src/destinations/). A delivery row is made
-- per destination and event by the JetStream consumer and sent by any service process that claims it
-- (FOR UPDATE SKIP LOCKED); after its last attempt it is dead (a dead letter) until replayed.
CREATE TABLE destinations (
  id                          uuid PRIMARY KEY,
  name                        text NOT NULL,
  url                         text NOT NULL,
  -- NULL: every segment. A segment's destinations go with it.
  segment_id                  uuid REFERENCES customer_segments (id) ON DELETE CASCADE,
  enabled                     boolean NOT NULL,
  -- The signing secret (`whsec_<base64>`) is needed in clear to sign; the one before a rotation signs too,
  -- beside the new one, until previous_secret_expires_at, so receivers can switch without losing a message.
  secret                      text NOT NULL,
  previous_secret             text,
  previous_secret_expires_at  timestamptz,
  created_at                  timestamptz NOT NULL,
  updated_at                  timestamptz NOT NULL,
  -- Delivery status, set by every attempt's outcome.
  last_success_at             timestamptz,
  last_failure_at             timestamptz,
  last_http_status            int,
  last_error                  text,
  consecutive_failures        int NOT NULL DEFAULT 0,
  -- Delivered rows are pruned after DESTINATION_DELIVERY_RETENTION_HOURS: the count lives here.
  delivered_count             bigint NOT NULL DEFAULT 0,
  CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);

CREATE INDEX destinations_segment_idx ON destinations (segment_id);

CREATE TABLE destination_deliveries (
  -- Also the webhook-id header: the same on every attempt and replay, so receivers can deduplicate.
  id               uuid PRIMARY KEY,
  destination_id   uuid NOT NULL REFERENCES destinations (id) ON DELETE CASCADE,
  event_id         uuid NOT NULL,
  event_type       text NOT NULL,
  -- The body as sent (the event's JSON as published), kept as text so every attempt signs the same bytes.
  payload          text NOT NULL,
  status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts         int NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL,
  -- Set by a claim: while it lies ahead the delivery is in flight and no other process takes it.
  leased_until     timestamptz,
  created_at       timestamptz NOT NULL,
  finished_at      timestamptz,
  last_http_status int,
  last_error       text,
  -- A message JetStream delivers again adds nothing.
  UNIQUE (destination_id, event_id),
  CHECK ((status = 'pending') = (finished_at IS NULL))
);

-- The work to claim, soonest first.
CREATE INDEX destination_deliveries_due_idx ON destination_deliveries (next_attempt_at, id) WHERE status = 'pending';
-- A destination's in-flight deliveries (its concurrency bound), and its counts.
CREATE INDEX destination_deliveries_destination_idx ON destination_deliveries (destination_id, status);
-- A destination's dead letters, paged by id.
CREATE INDEX destination_deliveries_dead_idx ON destination_deliveries (destination_id, id) WHERE status = 'dead';
-- Delivered rows to prune.
CREATE INDEX destination_deliveries_finished_idx ON destination_deliveries (finished_at) WHERE status = 'delivered';

-- Changes of destinations (creation, URL, secret rotation, replays) are audited like those of segments.
ALTER TABLE audit_log ADD COLUMN destination_id uuid;
