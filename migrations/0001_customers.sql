-- Customers, the customer outbox and the audit trail.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE customers (
  id             uuid PRIMARY KEY,
  email          text NOT NULL,
  email_verified boolean NOT NULL DEFAULT false,
  pending_email  text,
  name           text NOT NULL,
  age            integer CHECK (age BETWEEN 0 AND 150),
  gender         text CHECK (gender IN ('MALE', 'FEMALE', 'OTHER', 'UNKNOWN')),
  location       jsonb,
  preferences    jsonb NOT NULL DEFAULT '{}',
  segments       jsonb NOT NULL DEFAULT '[]',
  tags           text[] NOT NULL DEFAULT '{}',
  metadata       jsonb NOT NULL DEFAULT '{}',
  consent        jsonb NOT NULL,
  status         text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'INACTIVE', 'SUSPENDED', 'DELETED')),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  last_activity  timestamptz NOT NULL DEFAULT now(),
  deleted_at     timestamptz,
  version        integer NOT NULL DEFAULT 1,
  -- The country filter as a plain column: an index on the expression can never serve an index-only scan.
  country        text GENERATED ALWAYS AS (location ->> 'country') STORED
);

-- Case-insensitive uniqueness; a deleted (erased) profile frees its address.
CREATE UNIQUE INDEX customers_email_key ON customers (lower(email)) WHERE status <> 'DELETED';

-- One index per sort the list endpoint offers, each ending in id for a stable keyset order.
CREATE INDEX customers_created_idx ON customers (created_at, id);
CREATE INDEX customers_updated_idx ON customers (updated_at, id);
CREATE INDEX customers_last_activity_idx ON customers (last_activity, id);
CREATE INDEX customers_name_idx ON customers (name, id);
CREATE INDEX customers_email_sort_idx ON customers (email, id);

-- Filters.
CREATE INDEX customers_status_created_idx ON customers (status, created_at, id);
-- Covers status too, so the list's capped count (up to 10,001 rows, run with every page) is an index-only scan.
CREATE INDEX customers_country_idx ON customers (country, created_at, id) INCLUDE (status);
CREATE INDEX customers_age_idx ON customers (age) WHERE age IS NOT NULL;
CREATE INDEX customers_tags_idx ON customers USING gin (tags);
CREATE INDEX customers_name_trgm_idx ON customers USING gin (name gin_trgm_ops);
CREATE INDEX customers_email_trgm_idx ON customers USING gin (email gin_trgm_ops);

-- Pending email changes; only a hash of the token is kept.
CREATE TABLE email_verifications (
  customer_id uuid PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
  email       text NOT NULL,
  token_hash  text NOT NULL,
  expires_at  timestamptz NOT NULL
);

-- The first response to a create, replayed for a retry with the same key.
CREATE TABLE idempotency_keys (
  principal    text NOT NULL,
  key          text NOT NULL,
  request_hash text NOT NULL,
  response     jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Transactional outbox: written with the change, published to JetStream by the relay.
-- id orders publication; event_id is the event's identity (Nats-Msg-Id), unique across databases.
CREATE TABLE outbox (
  id           bigserial PRIMARY KEY,
  event_id     uuid NOT NULL UNIQUE,
  subject      text NOT NULL,
  payload      jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;

-- Who did what to whom. Field names only: values (PII) never land here.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  actor_role  text NOT NULL,
  action      text NOT NULL,
  customer_id uuid,
  request_id  text,
  fields      text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_customer_idx ON audit_log (customer_id, at);

CREATE TABLE api_keys (
  id           uuid PRIMARY KEY,
  name         text NOT NULL,
  prefix       text NOT NULL UNIQUE,
  key_hash     text NOT NULL,
  role         text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz
);
