-- The tracking plan: event types registered with a JSON Schema for their properties, and what to do with an
-- event that does not match it (refuse it, or store it flagged with what was wrong).
CREATE TABLE tracking_plan (
  type              text PRIMARY KEY,
  description       text,
  properties_schema jsonb NOT NULL,
  mode              text NOT NULL CHECK (mode IN ('refuse', 'flag')),
  version           int NOT NULL DEFAULT 1,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL
);

-- How a stored event broke its type's registered schema (mode 'flag'); NULL when it matched or none applied.
ALTER TABLE customer_events ADD COLUMN plan_violations jsonb;
