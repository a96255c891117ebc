-- Tracked events, partitioned by the time they occurred, and the work each committed batch leaves behind.

-- An event's identity is its id together with when it occurred: a unique index on a partitioned table has
-- to contain the partition key, and a retried event carries both (clients resend the same payload).
CREATE TABLE customer_events (
  id          uuid NOT NULL,
  occurred_at timestamptz NOT NULL,
  customer_id uuid NOT NULL,
  type        text NOT NULL,
  received_at timestamptz NOT NULL,
  session_id  text,
  channel     text,
  device      jsonb,
  properties  jsonb NOT NULL DEFAULT '{}',
  revenue     numeric(20, 4),
  currency    text,
  PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

-- A customer's timeline, newest first, keyset-paged on (occurred_at, id).
CREATE INDEX customer_events_timeline_idx ON customer_events (customer_id, occurred_at DESC, id DESC);

-- One row per committed batch: its events still to be folded into the rollups and published to JetStream.
-- The row goes once both are done; a crash between commit and either leaves it here to be picked up again.
CREATE TABLE event_batches (
  id           bigserial PRIMARY KEY,
  committed_at timestamptz NOT NULL,
  event_ids    uuid[] NOT NULL,
  occurred     timestamptz[] NOT NULL,
  folded_at    timestamptz,
  published_at timestamptz
);
CREATE INDEX event_batches_unfolded_idx ON event_batches (id) WHERE folded_at IS NULL;
CREATE INDEX event_batches_unpublished_idx ON event_batches (id) WHERE published_at IS NULL;
