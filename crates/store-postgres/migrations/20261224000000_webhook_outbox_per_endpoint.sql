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

-- No foreign keys: the trigger below writes a row only for an endpoint and an event it has just
-- read, and checking each row again would cost the money path a locking lookup of the
-- endpoint's row and one of the event's for every row, in every batch (most of what the outbox
-- cost it when measured). The deletes a foreign key would cascade are triggers instead. An
-- endpoint deleted while a transaction that read it is writing its rows leaves those rows
-- behind: no claim reads them (claims start from the endpoints), and they go with their events
-- at the retention purge.
CREATE TABLE webhook_outbox (
    endpoint_id uuid NOT NULL,
    event_id    uuid NOT NULL,
    CONSTRAINT webhook_outbox_pkey PRIMARY KEY (endpoint_id, event_id)
);

CREATE FUNCTION webhook_outbox_forget_endpoint() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_outbox WHERE endpoint_id = OLD.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_endpoints_outbox
    AFTER DELETE ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION webhook_outbox_forget_endpoint();

-- The purge deletes events in batches: one join per batch, so the outbox needs no index by
-- event for it.
CREATE FUNCTION webhook_outbox_forget_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_outbox o USING old_events e WHERE o.event_id = e.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_webhook_outbox_forget
    AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_events
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_outbox_forget_events();

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
