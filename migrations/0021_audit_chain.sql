-- The audit trail made tamper-evident (docs/audit.md). Each entry is signed when it is written (entry_mac: an
-- HMAC of its content under AUDIT_KEY), and a sealer links committed entries into one chain in the order it
-- seals them (chain_seq, chain_hash = HMAC of the previous hash, the position and the entry). Editing,
-- removing or forging an entry breaks a MAC or a link that only the key can remake. The chain's order is the
-- order of sealing, not of ids: an entry that commits late is simply sealed in a later round.
ALTER TABLE audit_log
  ADD COLUMN reason      text,
  ADD COLUMN entry_mac   bytea,
  ADD COLUMN chain_seq   bigint UNIQUE,
  ADD COLUMN chain_hash  bytea,
  -- Signed wrongly (or not at all, after the chain began): never sealed, reported by verification.
  ADD COLUMN seal_refused boolean NOT NULL DEFAULT false;

CREATE INDEX audit_log_unsealed_idx ON audit_log (id) WHERE chain_seq IS NULL AND NOT seal_refused;

-- The chain's head, and the last entry written before entries were signed: those are signed when first sealed.
CREATE TABLE audit_chain (
  singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  head_seq     bigint NOT NULL DEFAULT 0,
  head_hash    bytea,
  unsigned_through bigint NOT NULL
);
INSERT INTO audit_chain (unsigned_through) SELECT coalesce(max(id), 0) FROM audit_log;

-- The chain's name outside the database: its heads are published to JetStream under audit.anchor.<chain_id>.
ALTER TABLE audit_chain ADD COLUMN chain_id uuid NOT NULL DEFAULT gen_random_uuid();
