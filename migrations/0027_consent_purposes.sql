-- Every consent purpose enforced (issue 16, docs/privacy.md "Enforcement").

-- A segment requires consent purposes: no customer who has not granted each of them is a member
-- (effectiveCriteria in src/domain/Segment.ts). `marketing` was the first such purpose; it becomes the view of
-- whether marketing is required, kept as a column so the statements reading it (webhook joins withheld on a
-- withdrawal) read one truth.
ALTER TABLE customer_segments ADD COLUMN required_purposes text[] NOT NULL DEFAULT '{}';
UPDATE customer_segments SET required_purposes = ARRAY['marketing'] WHERE marketing;
ALTER TABLE customer_segments DROP COLUMN marketing;
ALTER TABLE customer_segments ADD COLUMN marketing boolean
  GENERATED ALWAYS AS ('marketing' = ANY (required_purposes)) STORED;

-- A destination outside the controller (another controller: a partner, an ad network) receives only customers
-- who granted third-party-sharing. Existing destinations were created as the service's own systems or its
-- processors' (art. 28), which is what false means; marking one is a deliberate act of its owner.
ALTER TABLE destinations ADD COLUMN third_party boolean NOT NULL DEFAULT false;

