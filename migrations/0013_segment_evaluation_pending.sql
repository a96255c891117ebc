-- Customers whose segment membership must be re-evaluated (issue 15, real-time membership), queued in the
-- transaction that changed them: by a customer's create and update ('profile') and by the rollup fold that
-- changed their event facts ('events'). One row per customer and source, however many changes: a busy customer
-- costs one evaluation per round. Drained by src/segments/RealtimeMembership.ts (FOR UPDATE SKIP LOCKED, so any
-- number of service processes share it); no foreign key, so that queueing costs one narrow insert.
CREATE TABLE segment_evaluation_pending (
  customer_id uuid NOT NULL,
  source      text NOT NULL CHECK (source IN ('profile', 'events')),
  -- When the evaluation may run: the change's instant, or later for a customer kept back because a segment it
  -- may affect was being calculated.
  due_at      timestamptz NOT NULL,
  PRIMARY KEY (customer_id, source)
);
-- The oldest due first.
CREATE INDEX segment_evaluation_pending_due_idx ON segment_evaluation_pending (due_at);
