-- RFM quintile breakpoints over the customer base (src/analytics/RfmBreakpoints.ts), recomputed by a periodic
-- job so that a customer's RFM scores are read from one small row, never ranked over every customer per request.
-- The base is every customer with at least one purchase day in customer_activity. Each column holds the
-- 20th, 40th, 60th and 80th percentiles (percentile_disc: values that occur) of one measure:
--   recency   the last purchase day (a date rather than "days ago", so the breakpoints keep their meaning
--             between runs as time passes),
--   frequency purchase days (purchase occasions, as the CLV model counts them),
--   monetary  revenue in the reporting currency.
-- One row: the latest run.
CREATE TABLE rfm_breakpoints (
  id          boolean PRIMARY KEY DEFAULT true CHECK (id),
  customers   bigint NOT NULL CHECK (customers > 0),
  recency     date[] NOT NULL CHECK (cardinality(recency) = 4),
  frequency   int[] NOT NULL CHECK (cardinality(frequency) = 4),
  monetary    numeric(20, 4)[] NOT NULL CHECK (cardinality(monetary) = 4),
  computed_at timestamptz NOT NULL
);
