-- Same table and constraint names as the PostgreSQL backend; STRICT, UUIDs as 16-byte BLOBs,
-- timestamps as RFC 3339 TEXT.
--
-- The event log (API.md "Events"): one row per change the ledger made, written in the change's
-- own transaction. `object` is the resource's JSON as its GET showed it right after the change,
-- kept byte for byte. Rows are never updated; `serve` deletes those older than the retention.

CREATE TABLE events (
    id         BLOB NOT NULL,
    type       TEXT NOT NULL,
    object     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (id),
    CONSTRAINT events_id_check CHECK (length(id) = 16),
    CONSTRAINT events_type_check
        CHECK (type GLOB '[a-z]*.[a-z]*' AND type NOT GLOB '*[^a-z._]*'),
    CONSTRAINT events_object_check CHECK (json_valid(object) AND json_type(object) = 'object')
) STRICT;

-- `GET /v1/events?type=…`, newest first.
CREATE INDEX events_type_id_idx ON events (type, id);
-- The retention purge, oldest first, and the `created_gte` / `created_lt` filters.
CREATE INDEX events_created_at_idx ON events (created_at);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are never updated');
END;
