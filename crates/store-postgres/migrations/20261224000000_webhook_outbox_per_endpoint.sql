-- Each delivery written once, with its first attempt's outcome (API.md "Webhook deliveries").
-- The outbox now holds a row per enabled endpoint and event, written by the trigger in the
-- event's own transaction; the worker sends an endpoint's outbox rows and, in the transaction
-- that records the attempts, deletes them and inserts their deliveries as the attempts left
-- them. The step that turned outbox rows into pending deliveries, and the update of every
-- delivery from pending to succeeded that followed (never heap-only, `status` being in the
-- partial indexes' predicates), are gone: two rows and most of the index entries each
-- delivery cost. A delivery is pending only when an attempt failed or an event is redelivered.

CREATE TEMPORARY TABLE outbox_before ON COMMIT DROP AS SELECT event_id FROM webhook_outbox;
DROP TABLE webhook_outbox;

CREATE TABLE webhook_outbox (
    endpoint_id uuid NOT NULL,
    event_id    uuid NOT NULL,
    CONSTRAINT webhook_outbox_pkey PRIMARY KEY (endpoint_id, event_id),
    CONSTRAINT webhook_outbox_endpoint_fkey
        FOREIGN KEY (endpoint_id) REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    CONSTRAINT webhook_outbox_event_fkey
        FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE
);
-- The retention purge's cascade from an event.
CREATE INDEX webhook_outbox_event_idx ON webhook_outbox (event_id);

INSERT INTO webhook_outbox (endpoint_id, event_id)
SELECT w.id, o.event_id FROM outbox_before o CROSS JOIN webhook_endpoints w WHERE w.enabled;

-- Every enabled endpoint, whatever it subscribes to: matching an event's type is the domain's
-- rule (`WebhookEndpoint::wants`), applied when the worker reads the rows. Still one statement
-- per batch of events, and no row while no endpoint is enabled.
CREATE OR REPLACE FUNCTION events_to_webhook_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_outbox (endpoint_id, event_id)
    SELECT w.id, e.id FROM webhook_endpoints w CROSS JOIN new_events e WHERE w.enabled;
    RETURN NULL;
END;
$$;

-- The queue's age now reads the pending deliveries through the due index.
DROP INDEX webhook_deliveries_next_idx;
