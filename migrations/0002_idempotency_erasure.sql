-- A stored create response holds the person's data, so erasure must reach it:
-- each key names the customer it created, and an erased customer's keys keep
-- only the fact that they were used (a replay is refused, never answered).
ALTER TABLE idempotency_keys ADD COLUMN customer_id uuid;
UPDATE idempotency_keys SET customer_id = (response ->> 'id')::uuid;
ALTER TABLE idempotency_keys
  ALTER COLUMN customer_id SET NOT NULL,
  ALTER COLUMN response DROP NOT NULL,
  ALTER COLUMN request_hash DROP NOT NULL;
UPDATE idempotency_keys AS k SET response = NULL, request_hash = NULL
  FROM customers AS c WHERE c.id = k.customer_id AND c.status = 'DELETED';
CREATE INDEX idempotency_keys_customer_idx ON idempotency_keys (customer_id);
