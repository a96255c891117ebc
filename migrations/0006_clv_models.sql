-- Fits of the customer-lifetime-value models (BG/NBD and Gamma-Gamma, src/analytics/Clv.ts) over the whole
-- customer base, one row per fit: requested on demand or by the schedule, run by whichever service process
-- holds the fit lock (src/analytics/ClvModels.ts). A row left "running" by a crash is taken up again.
CREATE TABLE clv_models (
  id                 uuid PRIMARY KEY,
  status             text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  trigger            text NOT NULL CHECK (trigger IN ('requested', 'scheduled')),
  -- The calibration period: purchase days on or after period_from's UTC day (every day when NULL) and starting
  -- before period_to; T is measured to the last such day.
  period_from        timestamptz,
  period_to          timestamptz NOT NULL,
  customers          bigint,
  repeat_customers   bigint,
  -- BG/NBD (Fader, Hardie & Lee 2005), time in weeks.
  r                  double precision,
  alpha              double precision,
  a                  double precision,
  b                  double precision,
  bg_nbd_log_likelihood double precision,
  -- Gamma-Gamma over the repeat buyers.
  p                  double precision,
  q                  double precision,
  v                  double precision,
  gamma_gamma_log_likelihood double precision,
  requested_at       timestamptz NOT NULL,
  started_at         timestamptz,
  finished_at        timestamptz,
  duration_ms        double precision,
  -- How many times a process started this fit: a fit that keeps taking its process down is given up.
  attempts           int NOT NULL DEFAULT 0,
  error              text,
  CHECK (period_from IS NULL OR period_from < period_to)
);
-- The work still to do, oldest first.
CREATE INDEX clv_models_pending_idx ON clv_models (requested_at) WHERE status IN ('queued', 'running');
-- The model in force: the latest successful fit.
CREATE INDEX clv_models_latest_idx ON clv_models (finished_at DESC) WHERE status = 'succeeded';
