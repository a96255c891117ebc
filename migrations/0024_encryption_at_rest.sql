-- Encryption at rest (src/privacy/Keyring.ts, src/customers/CustomerRow.ts).
-- Each customer's data key (DEK), wrapped under a master key from configuration, in a schema of its own: it can be
-- backed up, retained and granted apart from the data, and erasure deletes a customer's row here (crypto-shredding).
-- No foreign key to customers: the key must be destroyable while the (erased) customer row stays.
CREATE SCHEMA IF NOT EXISTS customer_keys;

CREATE TABLE customer_keys.data_keys (
  customer_id        uuid PRIMARY KEY,
  -- Which master key wraps it (also inside `wrapped`): what a rotation pass looks for.
  master_key_version text NOT NULL,
  wrapped            bytea NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_keys_master_key_version_idx ON customer_keys.data_keys (master_key_version, customer_id);

-- The personal fields (email, pending email, name, location) sealed together (AES-256-GCM under the customer's DEK:
-- one authenticated decryption per row read). The clear columns email, name and pending_email stay only for rows
-- written before this migration (read as they are until the key pass seals them) and are NULL for every row written
-- since. location keeps in the clear the coarse part segments and the country filter read (country, region, city).
ALTER TABLE customers
  ALTER COLUMN email DROP NOT NULL,
  ALTER COLUMN name DROP NOT NULL,
  ADD COLUMN personal_sealed bytea,
  -- HMAC-SHA256 of the normalised email under BLIND_INDEX_KEY: exact lookup and case-insensitive uniqueness.
  ADD COLUMN email_index bytea,
  -- Keyed hashes of the lower-cased 2- and 3-character substrings of name and email: the list's `q` search.
  ADD COLUMN name_tokens text[],
  ADD COLUMN email_tokens text[];

CREATE UNIQUE INDEX customers_email_index_key ON customers (email_index) WHERE status <> 'DELETED';
-- A small pending list: every search scans the whole list of not yet merged entries (with the default 4 MB, some
-- 6,000 fresh customers cost each search ~50 ms here); creates still batch their entries.
CREATE INDEX customers_name_tokens_idx ON customers USING gin (name_tokens) WITH (gin_pending_list_limit = 256);
CREATE INDEX customers_email_tokens_idx ON customers USING gin (email_tokens) WITH (gin_pending_list_limit = 256);

-- A keyed create's first answer keeps its personal fields sealed under the customer's data key, like the row.
ALTER TABLE idempotency_keys ADD COLUMN response_sealed bytea;

-- A pending change's new address is sealed with the customer (pendingEmail); the verification keeps its token hash.
ALTER TABLE email_verifications ALTER COLUMN email DROP NOT NULL;
UPDATE email_verifications SET email = NULL;

-- Sorting and trigram search on clear name and email are gone with the clear values.
DROP INDEX customers_name_idx;
DROP INDEX customers_email_sort_idx;
DROP INDEX customers_name_trgm_idx;
DROP INDEX customers_email_trgm_idx;
