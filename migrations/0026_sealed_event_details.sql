-- Personal data inside tracked events (src/events/EventPersonalData.ts): an event's device details (all but the
-- coarse `device.type`) and the properties its type marks personal in the tracking plan are sealed together under
-- the customer's data key (AES-256-GCM, src/privacy/Keyring.ts), bound to the customer and the event's id. The
-- `device` and `properties` columns keep only the clear part. NULL when the event has nothing personal.
-- Events stored before this migration keep their clear columns as they are.
ALTER TABLE customer_events ADD COLUMN personal_sealed bytea;

-- The top-level property names of an event type whose values are personal data (sealed at rest, withheld from
-- analysts, stripped from the EVENTS stream).
ALTER TABLE tracking_plan ADD COLUMN personal_properties text[] NOT NULL DEFAULT '{}';
