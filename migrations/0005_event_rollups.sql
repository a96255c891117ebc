-- Rollups of tracked events, kept up to date per committed batch (src/events/RollupFolder.ts) so that analytics,
-- insights, fleet reports, the CLV fit and segment criteria read a few rows per customer, never all their events.
-- Days, hours and months are UTC. Revenue is summed in the reporting currency (REPORTING_CURRENCY; an event
-- without a currency is taken to be in it); other currencies are totalled apart in customer_revenue.
-- Tables whose rows folds update in place leave a fifth of each page free (fillfactor 80), so that an update can
-- stay on its page and skip the indexes it does not change (a HOT update).

-- One row per customer with events: totals since the first event, and the purchase summary the BG/NBD and
-- Gamma-Gamma models read (purchase occasions are calendar days with at least one purchase, as in the literature).
-- The purchase fields are recomputed from customer_daily_activity's `purchase` rows whenever a customer's purchases
-- change, so history backfilled out of order gives the same figures as history tracked in order.
CREATE TABLE customer_activity (
  customer_id           uuid PRIMARY KEY,
  first_seen_at         timestamptz NOT NULL,
  last_seen_at          timestamptz NOT NULL,
  events                bigint NOT NULL,
  revenue               numeric(20, 4) NOT NULL DEFAULT 0,
  purchase_days         int NOT NULL DEFAULT 0,
  first_purchase_on     date,
  last_purchase_on      date,
  -- Revenue of every purchase day but the first: the repeat purchases Gamma-Gamma averages over.
  repeat_revenue        numeric(20, 4) NOT NULL DEFAULT 0,
  -- All-history totals analytics reads without scanning the customer's history, each moved per fold: days with
  -- an event (the fold's first inserts of the customer's 'day' rows in customer_active_periods), and sessions,
  -- their length in seconds and their events (the fold's customer_sessions upserts, diffed against the rows
  -- as they were before it, so a session extended by a later fold adds its growth, not a second session).
  active_days           int NOT NULL DEFAULT 0,
  sessions              bigint NOT NULL DEFAULT 0,
  session_seconds       numeric(20, 6) NOT NULL DEFAULT 0,
  session_events        bigint NOT NULL DEFAULT 0,
  folded_at             timestamptz NOT NULL
) WITH (fillfactor = 80);
-- Set-wise criteria such as "no activity for 90 days" or "P(alive) below 0.3" scan these.
CREATE INDEX customer_activity_last_seen_idx ON customer_activity (last_seen_at);
CREATE INDEX customer_activity_purchases_idx ON customer_activity (last_purchase_on) WHERE purchase_days > 0;

-- Events and revenue per customer, day and type: counts over any window ("purchased at least 3 times in the last
-- 30 days"), per-type totals, purchase occasions.
CREATE TABLE customer_daily_activity (
  customer_id uuid NOT NULL,
  day         date NOT NULL,
  type        text NOT NULL,
  events      int NOT NULL,
  revenue     numeric(20, 4) NOT NULL DEFAULT 0,
  PRIMARY KEY (customer_id, day, type)
) WITH (fillfactor = 80);
CREATE INDEX customer_daily_activity_type_day_idx ON customer_daily_activity (type, day, customer_id);
-- A customer's purchase days (the purchase summary, insights' purchase cadence) without their other days' rows.
CREATE INDEX customer_daily_activity_purchases_idx ON customer_daily_activity (customer_id, day) WHERE type = 'purchase';

-- Events and revenue (reporting currency) per customer and type since the first event, and the last day of each:
-- customer_daily_activity without the day, so all-history totals per type read a row per type.
CREATE TABLE customer_type_activity (
  customer_id uuid NOT NULL,
  type        text NOT NULL,
  events      bigint NOT NULL,
  revenue     numeric(20, 4) NOT NULL DEFAULT 0,
  last_on     date NOT NULL,
  PRIMARY KEY (customer_id, type)
) WITH (fillfactor = 80);

-- Revenue per customer and currency, every currency as sent.
CREATE TABLE customer_revenue (
  customer_id uuid NOT NULL,
  currency    text NOT NULL,
  revenue     numeric(20, 4) NOT NULL,
  events      bigint NOT NULL,
  PRIMARY KEY (customer_id, currency)
) WITH (fillfactor = 80);

-- Sessions per customer (events carrying a session id).
CREATE TABLE customer_sessions (
  customer_id uuid NOT NULL,
  session_id  text NOT NULL,
  started_at  timestamptz NOT NULL,
  ended_at    timestamptz NOT NULL,
  events      int NOT NULL,
  PRIMARY KEY (customer_id, session_id)
) WITH (fillfactor = 80);

-- When in the week a customer is active: hour_of_week = ISO day of week (Monday 0) * 24 + hour, UTC.
CREATE TABLE customer_hourly_activity (
  customer_id  uuid NOT NULL,
  hour_of_week smallint NOT NULL CHECK (hour_of_week BETWEEN 0 AND 167),
  events       int NOT NULL,
  PRIMARY KEY (customer_id, hour_of_week)
) WITH (fillfactor = 80);

-- Events per customer and channel.
CREATE TABLE customer_channel_activity (
  customer_id  uuid NOT NULL,
  channel      text NOT NULL,
  events       int NOT NULL,
  last_seen_at timestamptz NOT NULL,
  PRIMARY KEY (customer_id, channel)
) WITH (fillfactor = 80);

-- Which customers were active in which day, ISO week and month: a row's first insert is what moves the fleet
-- counters below, so distinct active customers per period are counted once without rescanning.
-- A day's row goes in with its week's and month's (the folder tries those only for a new day): delete a
-- customer's rows together, or days alone, never weeks or months alone.
CREATE TABLE customer_active_periods (
  customer_id  uuid NOT NULL,
  period       text NOT NULL CHECK (period IN ('day', 'week', 'month')),
  period_start date NOT NULL,
  PRIMARY KEY (customer_id, period, period_start)
);

-- Fleet totals per period: distinct active customers, events and revenue (reporting currency).
CREATE TABLE fleet_activity (
  period           text NOT NULL CHECK (period IN ('day', 'week', 'month')),
  period_start     date NOT NULL,
  active_customers bigint NOT NULL DEFAULT 0,
  events           bigint NOT NULL DEFAULT 0,
  revenue          numeric(20, 4) NOT NULL DEFAULT 0,
  PRIMARY KEY (period, period_start)
) WITH (fillfactor = 80);

-- Retention by monthly signup cohort (the month customers.created_at falls in): distinct customers of the
-- cohort active in each month.
CREATE TABLE cohort_activity (
  cohort_month     date NOT NULL,
  activity_month   date NOT NULL,
  active_customers bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (cohort_month, activity_month)
) WITH (fillfactor = 80);

-- Batches both folded and published, which the folder prunes. Without a publisher (NATS_URL unset) the folder
-- deletes a batch as it folds it instead: nothing would ever publish it.
CREATE INDEX event_batches_done_idx ON event_batches (id) WHERE folded_at IS NOT NULL AND published_at IS NOT NULL;

-- Customers created per UTC day (erased ones included), for fleet reports' new customers and cohort sizes without
-- counting every customer. Kept by src/events/FleetReports.ts (SignupCountsLive); reports count the last day it
-- recorded, and any later, from customers.created_at.
CREATE TABLE customer_signups (
  day       date PRIMARY KEY,
  customers bigint NOT NULL
);
