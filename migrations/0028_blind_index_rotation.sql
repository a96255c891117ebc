-- Rotating BLIND_INDEX_KEY (src/privacy/BlindIndex.ts, docs/privacy.md): each row's blind index and search tokens
-- name the key version they were made under, so lookups try every configured version during a rotation and the
-- re-index pass (src/customers/KeyUpkeep.ts) finds the rows still under an older one. Rows indexed so far were
-- made under BLIND_INDEX_KEY, which is version v1; rows with nothing indexed (erased, or not yet sealed) have none.
ALTER TABLE customers ADD COLUMN blind_index_version text;
UPDATE customers SET blind_index_version = 'v1' WHERE email_index IS NOT NULL OR name_tokens IS NOT NULL;
-- The pass's lookup; nearly every row shares one value, which deduplication keeps small.
CREATE INDEX customers_blind_index_version_idx ON customers (blind_index_version);

-- Writes that give an address to a live customer (create, email verification) and the erasure that suppresses
-- it are serialised per address by this transaction-scoped advisory lock, keyed by the address's suppression
-- digest (which no rotation changes, so every process agrees on it). The lock's own key is 32 bits of a keyed
-- hash: pg_locks shows nothing testable without the key, and a collision only makes two addresses wait for each other.
CREATE FUNCTION lock_email_identities(digests bytea[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  lock_key integer;
BEGIN
  -- In one order, so two writers locking several addresses cannot deadlock.
  FOR lock_key IN
    SELECT DISTINCT ('x' || encode(substring(digest FROM 1 FOR 4), 'hex'))::bit(32)::integer
    FROM unnest(digests) AS digest ORDER BY 1
  LOOP
    -- The two-key form: apart from the service's other advisory locks (one bigint key each).
    PERFORM pg_advisory_xact_lock(1229210962, lock_key);
  END LOOP;
END
$$;

-- A create's claim on its addresses, called once by its statement before its rows are written: locks them, then
-- (each query here sees what committed before the lock was had: a VOLATILE function takes a fresh snapshot per
-- query) refuses a suppressed address (identity_suppressed) and, during a key rotation, an address a live
-- customer holds under another key version (the unique index sees the current version only). Unique violations,
-- so the grouped-writes fallback (each create alone) isolates the one at fault.
CREATE FUNCTION claim_email_identities(suppression_digests bytea[], other_version_digests bytea[])
RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
  PERFORM lock_email_identities(suppression_digests);
  IF EXISTS (SELECT 1 FROM identity_suppressions WHERE email_digest = ANY(suppression_digests)) THEN
    RAISE EXCEPTION 'identity suppressed' USING ERRCODE = 'unique_violation', CONSTRAINT = 'identity_suppressed';
  END IF;
  IF cardinality(other_version_digests) > 0 AND EXISTS (SELECT 1 FROM customers
    WHERE email_index = ANY(other_version_digests) AND status <> 'DELETED') THEN
    RAISE EXCEPTION 'email taken' USING ERRCODE = 'unique_violation', CONSTRAINT = 'customers_email_index_key';
  END IF;
  RETURN 1;
END
$$;

-- Replaced by claim_email_identities.
DROP FUNCTION refuse_suppressed_identity(bytea);
