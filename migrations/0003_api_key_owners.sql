-- API keys gain who issued them, an expiry and their last use; audit rows can be about a key.
ALTER TABLE api_keys
  ADD COLUMN issuer_kind    text,
  ADD COLUMN issuer_subject text,
  ADD COLUMN issuer_role    text,
  ADD COLUMN expires_at     timestamptz,
  ADD COLUMN last_used_at   timestamptz;

-- Keys issued before this migration have no recorded issuer (NULL); rather than live forever, or die on
-- deployment, they get the default lifetime (90 days) from now.
UPDATE api_keys SET expires_at = now() + interval '90 days';

ALTER TABLE api_keys
  ALTER COLUMN expires_at SET NOT NULL,
  ADD CONSTRAINT api_keys_lifetime_check CHECK (expires_at > created_at),
  ADD CONSTRAINT api_keys_issuer_check CHECK (
    (issuer_kind IS NULL) = (issuer_subject IS NULL) AND (issuer_kind IS NULL) = (issuer_role IS NULL)
  );

-- Issuing and revoking a key is audited with the key's id; such rows have no customer.
ALTER TABLE audit_log ADD COLUMN api_key_id uuid;
CREATE INDEX audit_log_api_key_idx ON audit_log (api_key_id, at) WHERE api_key_id IS NOT NULL;
