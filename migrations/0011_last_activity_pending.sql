-- Customers whose last activity a fold found moved (by LAST_ACTIVITY_RESOLUTION or more), waiting for the
-- throttled sync that writes customers.last_activity (src/events/RollupFolder.ts). Rewriting the customers row,
-- a dozen indexes and none of its updates HOT, inside every fold was the fold's dearest statement at a million
-- customers; queued here, it costs the fold one narrow insert, and the sync spreads the rewrites out.
CREATE TABLE customer_last_activity_pending (
  customer_id uuid PRIMARY KEY
);
