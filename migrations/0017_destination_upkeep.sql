-- Leftovers of destinations (issue 15).
-- A destination that keeps failing is disabled by the service (src/destinations/DestinationDelivery.ts):
-- failing_since is the first failed attempt since the last success (or re-enable), auto_disabled_at when the
-- service disabled it (NULL when enabled, or disabled by a user).
ALTER TABLE destinations
  ADD COLUMN failing_since timestamptz,
  ADD COLUMN auto_disabled_at timestamptz;
