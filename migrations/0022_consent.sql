-- Consent per purpose (issue 16, docs/privacy.md "Consent"): the append-only history of every consent
-- recorded, and the current state per purpose that enforcement reads (analytics folding, marketing segments,
-- webhook deliveries). customers.consent stays the profile's view of marketing and data-processing.
CREATE TABLE customer_consent_history (
  id             bigserial PRIMARY KEY,
  -- No ON DELETE: the history is the record of a lawful basis and outlives an erasure (the customers row stays,
  -- marked DELETED); a row that could cascade away would not be append-only.
  customer_id    uuid NOT NULL REFERENCES customers (id),
  purpose        text NOT NULL CHECK (purpose ~ '^(marketing|data-processing|analytics|personalisation|third-party-sharing|custom:[a-z0-9][a-z0-9-]{0,62})$'),
  status         text NOT NULL CHECK (status IN ('granted', 'withdrawn')),
  legal_basis    text NOT NULL CHECK (legal_basis IN
    ('consent', 'contract', 'legal-obligation', 'vital-interests', 'public-task', 'legitimate-interests')),
  source         text NOT NULL,
  policy_version text NOT NULL,
  recorded_at    timestamptz NOT NULL,
  -- Who recorded it, as the audit trail names actors (`user:<subject>`, `api-key:<id>`), and the request.
  recorded_by    text NOT NULL,
  request_id     text,
  reason         text
);

-- A customer's history, newest first (the keyset of GET .../consent/history).
CREATE INDEX customer_consent_history_customer_idx ON customer_consent_history (customer_id, id DESC);

-- Append-only, whoever connects: an entry is never changed or removed once written.
CREATE FUNCTION customer_consent_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'customer_consent_history is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER customer_consent_history_no_update BEFORE UPDATE OR DELETE ON customer_consent_history
  FOR EACH ROW EXECUTE FUNCTION customer_consent_history_append_only();
CREATE TRIGGER customer_consent_history_no_truncate BEFORE TRUNCATE ON customer_consent_history
  FOR EACH STATEMENT EXECUTE FUNCTION customer_consent_history_append_only();

-- The latest entry per purpose (a copy of it): what GET .../consent answers and enforcement reads. Written in
-- the same statement or transaction as each history entry.
CREATE TABLE customer_consents (
  customer_id    uuid NOT NULL REFERENCES customers (id),
  purpose        text NOT NULL,
  status         text NOT NULL CHECK (status IN ('granted', 'withdrawn')),
  legal_basis    text NOT NULL,
  source         text NOT NULL,
  policy_version text NOT NULL,
  recorded_at    timestamptz NOT NULL,
  PRIMARY KEY (customer_id, purpose)
);
-- The fold's question: whose events are not to be folded.
CREATE INDEX customer_consents_analytics_withdrawn_idx ON customer_consents (customer_id)
  WHERE purpose = 'analytics' AND status = 'withdrawn';

-- Segments whose members are marketed to: no customer without marketing consent is a member.
ALTER TABLE customer_segments ADD COLUMN marketing boolean NOT NULL DEFAULT false;

-- The customers created before consent had a history: their consent at creation becomes their first entries.
WITH entries AS (
  INSERT INTO customer_consent_history
    (customer_id, purpose, status, legal_basis, source, policy_version, recorded_at, recorded_by)
  SELECT c.id, p.purpose,
    CASE WHEN (c.consent ->> p.field)::boolean THEN 'granted' ELSE 'withdrawn' END,
    'consent', 'profile-creation', 'unstated', c.created_at, 'system:migration'
  FROM customers c
  CROSS JOIN (VALUES ('marketing', 'marketing'), ('data-processing', 'dataProcessing')) AS p (purpose, field)
  ORDER BY c.id, p.purpose
  RETURNING customer_id, purpose, status, legal_basis, source, policy_version, recorded_at
)
INSERT INTO customer_consents (customer_id, purpose, status, legal_basis, source, policy_version, recorded_at)
SELECT customer_id, purpose, status, legal_basis, source, policy_version, recorded_at FROM entries;
