-- Segment definitions and membership (issue 15). One organisation per deployment: names are unique in the
-- whole table, regardless of letter case.
CREATE TABLE customer_segments (
  id                 uuid PRIMARY KEY,
  name               text NOT NULL,
  description        text,
  -- dynamic: members are those the criteria select (calculated); manual: members are added and removed by hand.
  type               text NOT NULL CHECK (type IN ('dynamic', 'manual')),
  criteria           jsonb,
  -- Counts the definition's changes (name, description, criteria); the ETag is "v<version>".
  version            integer NOT NULL DEFAULT 1,
  -- Current members, kept with every membership change so that a read never counts millions of rows.
  member_count       integer NOT NULL DEFAULT 0 CHECK (member_count >= 0),
  -- The last completed calculation of a dynamic segment; NULL until there is one.
  last_calculated_at timestamptz,
  -- The actor who created it, as the audit trail names actors ("user:<subject>", "api-key:<id>").
  created_by         text NOT NULL,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  CONSTRAINT customer_segments_criteria_check CHECK ((type = 'dynamic') = (criteria IS NOT NULL))
);

CREATE UNIQUE INDEX customer_segments_name_key ON customer_segments (lower(name));
-- The list's two keyset orders.
CREATE INDEX customer_segments_name_idx ON customer_segments (name, id);
CREATE INDEX customer_segments_created_idx ON customer_segments (created_at, id);

-- Which segments a segment's criteria name (`{"kind": "segment"}` nodes): a referenced segment cannot be deleted,
-- and a new reference is checked for a cycle along these rows.
CREATE TABLE customer_segment_references (
  segment_id            uuid NOT NULL REFERENCES customer_segments (id) ON DELETE CASCADE,
  referenced_segment_id uuid NOT NULL REFERENCES customer_segments (id) ON DELETE RESTRICT,
  PRIMARY KEY (segment_id, referenced_segment_id)
);
CREATE INDEX customer_segment_references_referenced_idx ON customer_segment_references (referenced_segment_id);

-- Membership with its history: a customer may join and leave a segment many times, one row per stay;
-- left_at is NULL while the stay lasts. The spec's is_active is `left_at IS NULL`, so it is not stored twice.
CREATE TABLE customer_segment_memberships (
  id          bigserial PRIMARY KEY,
  segment_id  uuid NOT NULL REFERENCES customer_segments (id) ON DELETE CASCADE,
  customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  joined_at   timestamptz NOT NULL,
  left_at     timestamptz,
  CONSTRAINT customer_segment_memberships_stay_check CHECK (left_at IS NULL OR left_at >= joined_at)
);

-- At most one current stay per customer and segment; also the lookup of a segment's current members.
CREATE UNIQUE INDEX customer_segment_memberships_current_key
  ON customer_segment_memberships (segment_id, customer_id) WHERE left_at IS NULL;
-- A customer's current segments.
CREATE INDEX customer_segment_memberships_customer_idx
  ON customer_segment_memberships (customer_id, segment_id) WHERE left_at IS NULL;

-- Changes of segments are audited with the segment's id (a bulk membership change as one row: who changed
-- which segment's members, never which customers, so that an erased customer's audiences are not kept here).
ALTER TABLE audit_log ADD COLUMN segment_id uuid;
CREATE INDEX audit_log_segment_idx ON audit_log (segment_id, at) WHERE segment_id IS NOT NULL;
