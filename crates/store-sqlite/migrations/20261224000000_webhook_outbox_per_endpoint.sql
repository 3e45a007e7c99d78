-- Same table and constraint names as the PostgreSQL backend.
--
-- Each delivery written once, with its first attempt's outcome (API.md "Webhook deliveries").
-- The outbox now holds a row per enabled endpoint and event, written by the trigger in the
-- event's own transaction; the worker sends an endpoint's outbox rows and, in the transaction
-- that records the attempts, deletes them and inserts their deliveries as the attempts left
-- them. A delivery is pending only when an attempt failed or an event is redelivered.

DROP TRIGGER events_webhook_outbox;
CREATE TEMPORARY TABLE outbox_before AS SELECT event_id FROM webhook_outbox;
DROP TABLE webhook_outbox;

-- No foreign keys, as on PostgreSQL (where checking them cost the money path most of what the
-- outbox did): the trigger below writes a row only for an endpoint and an event it has just
-- read, and the deletes a foreign key would cascade are triggers instead.
CREATE TABLE webhook_outbox (
    endpoint_id BLOB NOT NULL,
    event_id    BLOB NOT NULL,
    CONSTRAINT webhook_outbox_pkey PRIMARY KEY (endpoint_id, event_id)
) STRICT;
-- SQLite's triggers run for each row: the purge's deletes find an event's rows by this index.
CREATE INDEX webhook_outbox_event_idx ON webhook_outbox (event_id);

CREATE TRIGGER webhook_endpoints_outbox AFTER DELETE ON webhook_endpoints
BEGIN
    DELETE FROM webhook_outbox WHERE endpoint_id = OLD.id;
END;

CREATE TRIGGER events_webhook_outbox_forget AFTER DELETE ON events
BEGIN
    DELETE FROM webhook_outbox WHERE event_id = OLD.id;
END;

INSERT INTO webhook_outbox (endpoint_id, event_id)
SELECT w.id, o.event_id FROM outbox_before o CROSS JOIN webhook_endpoints w WHERE w.enabled = 1;
DROP TABLE outbox_before;

-- Every enabled endpoint, whatever it subscribes to: matching an event's type is the domain's
-- rule (`WebhookEndpoint::wants`), applied when the worker reads the rows.
CREATE TRIGGER events_webhook_outbox AFTER INSERT ON events
BEGIN
    INSERT INTO webhook_outbox (endpoint_id, event_id)
    SELECT id, NEW.id FROM webhook_endpoints WHERE enabled = 1;
END;

-- The queue's age now reads the pending deliveries through the due index.
DROP INDEX webhook_deliveries_next_idx;
