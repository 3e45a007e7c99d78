-- The event log (API.md "Events"): one row per change the ledger made, written in the change's
-- own transaction (one INSERT over arrays per batch). `object` is the resource's JSON as its GET
-- showed it right after the change; `json` (not `jsonb`) keeps it byte for byte. Rows are never
-- updated; `serve` deletes those older than the retention.

CREATE TABLE events (
    id         uuid        NOT NULL,
    type       text        NOT NULL,
    object     json        NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (id),
    CONSTRAINT events_type_check CHECK (type ~ '^[a-z_]+(\.[a-z_]+)+$'),
    CONSTRAINT events_object_check CHECK (json_typeof(object) = 'object')
);

-- `GET /v1/events?type=…`, newest first.
CREATE INDEX events_type_id_idx ON events (type, id);
-- The retention purge, oldest first, and the `created_gte` / `created_lt` filters.
CREATE INDEX events_created_at_idx ON events (created_at);

CREATE FUNCTION events_refuse_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events refuses UPDATE: an event says what happened'
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_no_update
    BEFORE UPDATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_update();
