-- Erasure as a durable workflow: the atomic part (profile, events, memberships, outbox, deliveries) commits
-- with the request row; the steps after it (JetStream purge, data key, publication) are resumed from here by
-- the erasure worker after any restart (src/privacy/Erasure.ts).
CREATE TABLE erasure_requests (
  id              uuid PRIMARY KEY,
  customer_id     uuid NOT NULL UNIQUE,
  requested_at    timestamptz NOT NULL,
  -- GDPR art. 12(3): one month; the status says "overdue" past it.
  deadline        timestamptz NOT NULL,
  requested_by    text NOT NULL,
  request_id      text,
  status          text NOT NULL CHECK (status IN ('pending', 'done')),
  -- The steps after the transaction, as { name, status, completedAt, attempts, lastError } in order.
  steps           jsonb NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  last_error      text,
  completed_at    timestamptz
);
CREATE INDEX erasure_requests_pending_idx ON erasure_requests (next_attempt_at) WHERE status = 'pending';

-- Erased identities, as keyed hashes (HMAC-SHA256 under BLIND_INDEX_KEY, src/privacy/BlindIndex.ts): the
-- database never sees the address, and a digest cannot be tested against guesses without the key.
CREATE TABLE identity_suppressions (
  email_digest  bytea PRIMARY KEY,
  suppressed_at timestamptz NOT NULL
);

-- A create whose address is suppressed fails inside its own statement (one index probe, no extra round trip):
-- the statement calls this on each suppressed digest it finds. A unique violation naming the constraint
-- `identity_suppressed`, so the grouped-writes fallback (each create alone) isolates the one at fault. Costly
-- on purpose: a filter evaluates its cheaper conditions (the digest's equality) first, so it is called only
-- on a row that matched, whatever the plan.
CREATE FUNCTION refuse_suppressed_identity(digest bytea) RETURNS boolean LANGUAGE plpgsql COST 10000 AS $$
BEGIN
  RAISE EXCEPTION 'identity suppressed' USING ERRCODE = 'unique_violation', CONSTRAINT = 'identity_suppressed';
END
$$;
