-- Same table and constraint names as the PostgreSQL backend; STRICT, UUIDs as 16-byte BLOBs,
-- timestamps as RFC 3339 TEXT.
--
-- Webhook deliveries (API.md "Webhook deliveries"). An event written while any endpoint is
-- enabled lands in the outbox by a trigger, in the event's own transaction: no event is missed
-- and none invented. The worker turns outbox rows into one delivery per endpoint that wants the
-- event, claims an endpoint under a lease, and records every attempt.

ALTER TABLE webhook_endpoints ADD COLUMN lease_id BLOB
    CONSTRAINT webhook_endpoints_lease_id_check CHECK (lease_id IS NULL OR length(lease_id) = 16);
ALTER TABLE webhook_endpoints ADD COLUMN lease_until TEXT
    CONSTRAINT webhook_endpoints_lease_check CHECK (lease_id IS NULL OR lease_until IS NOT NULL);

CREATE TABLE webhook_outbox (
    event_id BLOB NOT NULL,
    CONSTRAINT webhook_outbox_pkey PRIMARY KEY (event_id),
    CONSTRAINT webhook_outbox_event_fkey
        FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE
) STRICT;

CREATE TRIGGER events_webhook_outbox AFTER INSERT ON events
WHEN EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled = 1)
BEGIN
    INSERT INTO webhook_outbox (event_id) VALUES (NEW.id);
END;

CREATE TABLE webhook_deliveries (
    id              BLOB    NOT NULL,
    endpoint_id     BLOB    NOT NULL,
    event_id        BLOB    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_deliveries_id_check CHECK (length(id) = 16),
    CONSTRAINT webhook_deliveries_endpoint_fkey
        FOREIGN KEY (endpoint_id) REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_event_fkey
        FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_status_check
        CHECK (status IN ('pending', 'succeeded', 'failed')),
    CONSTRAINT webhook_deliveries_next_check
        CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
    CONSTRAINT webhook_deliveries_attempts_check
        CHECK (attempts >= 0 AND (status <> 'succeeded' OR attempts > 0))
) STRICT;

-- An endpoint's due deliveries in creation order.
CREATE INDEX webhook_deliveries_due_idx
    ON webhook_deliveries (endpoint_id, event_id) WHERE status = 'pending';
-- GET /v1/webhook-endpoints/{id}/deliveries, newest first.
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
-- The queue's age, and an event's deletion by the retention purge.
CREATE INDEX webhook_deliveries_next_idx
    ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    delivery_id   BLOB    NOT NULL,
    number        INTEGER NOT NULL,
    attempted_at  TEXT    NOT NULL,
    response_code INTEGER,
    error         TEXT,
    duration_ms   INTEGER NOT NULL,
    response_body TEXT,
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (delivery_id, number),
    CONSTRAINT webhook_attempts_delivery_fkey
        FOREIGN KEY (delivery_id) REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    CONSTRAINT webhook_attempts_number_check CHECK (number >= 1),
    CONSTRAINT webhook_attempts_duration_check CHECK (duration_ms >= 0),
    CONSTRAINT webhook_attempts_answer_check CHECK ((response_code IS NULL) <> (error IS NULL)),
    CONSTRAINT webhook_attempts_code_check CHECK (response_code BETWEEN 100 AND 999),
    CONSTRAINT webhook_attempts_error_check
        CHECK (error IN ('timed_out', 'unreachable', 'address_refused')),
    CONSTRAINT webhook_attempts_body_check
        CHECK (response_body IS NULL
               OR (response_code IS NOT NULL AND length(CAST(response_body AS BLOB)) <= 4096))
) STRICT;
