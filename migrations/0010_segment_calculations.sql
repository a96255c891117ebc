-- Calculations of dynamic segments (issue 15), one row per run, kept as history: queued on request, on creation,
-- on a change of criteria or of a segment the criteria name; run by any service process that claims the row
-- (src/segments/SegmentCalculation.ts, FOR UPDATE SKIP LOCKED).
CREATE TABLE segment_calculations (
  id               uuid PRIMARY KEY,
  -- A deleted segment's membership history goes with it, and so does the history of its calculations.
  segment_id       uuid NOT NULL REFERENCES customer_segments (id) ON DELETE CASCADE,
  status           text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  trigger          text NOT NULL CHECK (trigger IN ('requested', 'created', 'criteria-changed', 'dependency-changed')),
  requested_at     timestamptz NOT NULL,
  -- The latest attempt's start, and the instant its criteria are evaluated at (one value for the whole run).
  started_at       timestamptz,
  finished_at      timestamptz,
  -- A claimed job whose process died before its run took the job's row lock is claimed again once this passes;
  -- while the run's transaction holds that lock, SKIP LOCKED keeps every other process off the row.
  lease_expires_at timestamptz,
  -- How many times a process claimed it: a job that keeps taking its process down is given up.
  attempts         int NOT NULL DEFAULT 0,
  -- Counts of the successful run: members after it, customers who joined, customers who left.
  members          int,
  joined           int,
  departed         int,
  duration_ms      int,
  error            text,
  CHECK ((status IN ('queued', 'running')) = (finished_at IS NULL))
);

-- Two calculations of one segment never wait or run at once: a request finds the pending one instead.
CREATE UNIQUE INDEX segment_calculations_pending_key ON segment_calculations (segment_id)
  WHERE status IN ('queued', 'running');
-- The work to claim, oldest first.
CREATE INDEX segment_calculations_queue_idx ON segment_calculations (requested_at, id)
  WHERE status IN ('queued', 'running');
-- A segment's calculations, newest first.
CREATE INDEX segment_calculations_segment_idx ON segment_calculations (segment_id, requested_at DESC);
