-- Webhook deliveries (API.md "Webhook deliveries"). An event written while any endpoint is
-- enabled lands in the outbox by a trigger, in the event's own transaction: no event is missed
-- and none invented. The worker turns outbox rows into one delivery per endpoint that wants the
-- event, claims an endpoint under a lease (one instance sends an endpoint's deliveries, in
-- order), and records every attempt.

ALTER TABLE webhook_endpoints
    ADD COLUMN lease_id    uuid,
    ADD COLUMN lease_until timestamptz,
    ADD CONSTRAINT webhook_endpoints_lease_check CHECK (lease_id IS NULL OR lease_until IS NOT NULL);

CREATE TABLE webhook_outbox (
    event_id uuid NOT NULL,
    CONSTRAINT webhook_outbox_pkey PRIMARY KEY (event_id),
    CONSTRAINT webhook_outbox_event_fkey
        FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE
);

-- One statement per batch of events, as the events themselves: the money path pays one
-- INSERT more per batch while an endpoint is enabled, and nothing while none is.
CREATE FUNCTION events_to_webhook_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled) THEN
        INSERT INTO webhook_outbox (event_id) SELECT id FROM new_events;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_webhook_outbox
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_to_webhook_outbox();

CREATE TABLE webhook_deliveries (
    id              uuid        NOT NULL,
    endpoint_id     uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    status          text        NOT NULL,
    attempts        integer     NOT NULL,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
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
);

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
    delivery_id   uuid        NOT NULL,
    number        integer     NOT NULL,
    attempted_at  timestamptz NOT NULL,
    response_code integer,
    error         text,
    duration_ms   integer     NOT NULL,
    response_body text,
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
        CHECK (response_body IS NULL OR (response_code IS NOT NULL AND octet_length(response_body) <= 4096))
);
