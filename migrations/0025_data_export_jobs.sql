-- Asynchronous data exports (src/privacy/DataExportJobs.ts): a durable job per request, claimed by any process's
-- worker (FOR UPDATE SKIP LOCKED), and its document stored in sealed chunks under the customer's data key, so
-- crypto-shredding at erasure makes any copy (backups, replicas) unreadable.
CREATE TABLE data_export_jobs (
  id              uuid PRIMARY KEY,
  customer_id     uuid NOT NULL,
  -- The requester as audited: the worker exports with their role's field-level view.
  actor_subject   text NOT NULL,
  actor_role      text NOT NULL,
  actor_kind      text NOT NULL,
  request_id      text,
  status          text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'expired')),
  requested_at    timestamptz NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  -- When a queued job may run (backoff after a failure), or when a running job's lease ends.
  next_attempt_at timestamptz NOT NULL,
  last_error      text,
  completed_at    timestamptz,
  expires_at      timestamptz,
  size            bigint,
  chunks          integer
);
CREATE INDEX data_export_jobs_customer_idx ON data_export_jobs (customer_id);
CREATE INDEX data_export_jobs_due_idx ON data_export_jobs (next_attempt_at) WHERE status IN ('queued', 'running');
CREATE INDEX data_export_jobs_expiry_idx ON data_export_jobs (expires_at) WHERE status = 'done';

-- The document in order, each chunk (about 1 MiB of JSON) sealed under the customer's data key and bound to its
-- job and position. Removed with the job (erasure) or at expiry.
CREATE TABLE data_export_chunks (
  job_id uuid NOT NULL REFERENCES data_export_jobs (id) ON DELETE CASCADE,
  seq    integer NOT NULL,
  sealed bytea NOT NULL,
  PRIMARY KEY (job_id, seq)
);
