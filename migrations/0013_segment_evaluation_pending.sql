-- Customers whose segment membership must be re-evaluated (issue 15, real-time membership), queued in the
-- transaction that changed them: by a customer's create and update ('profile') and by the rollup fold that
-- changed their event facts ('events'). Append-only: a change always inserts (and never waits for a round that
-- holds an older row of the same customer), and becomes visible to the worker with the facts it changed.
-- Drained by src/segments/RealtimeMembership.ts (FOR UPDATE SKIP LOCKED, so any number of service processes
-- share it), which evaluates a customer once per round however many of their rows it takes.
CREATE TABLE segment_evaluation_pending (
  id          bigserial PRIMARY KEY,
  customer_id uuid NOT NULL,
  source      text NOT NULL CHECK (source IN ('profile', 'events')),
  -- When the evaluation may run: the change's instant, or later for a customer kept back because a segment it
  -- may affect was being calculated.
  due_at      timestamptz NOT NULL
);
-- The oldest due first.
CREATE INDEX segment_evaluation_pending_due_idx ON segment_evaluation_pending (due_at, id);
