-- Same table and constraint names as the PostgreSQL backend; STRICT, UUIDs as 16-byte BLOBs,
-- timestamps as RFC 3339 TEXT.
--
-- Webhook endpoints (API.md "Webhook endpoints"): where events go, which types, and the secrets
-- that sign them. A secret is never returned after the answer that made it; the one rotated out
-- keeps signing until `previous_secret_until`.

CREATE TABLE webhook_endpoints (
    id                    BLOB    NOT NULL,
    url                   TEXT    NOT NULL,
    event_types           TEXT    NOT NULL,
    description           TEXT,
    enabled               INTEGER NOT NULL,
    secret                TEXT    NOT NULL,
    previous_secret       TEXT,
    previous_secret_until TEXT,
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL,
    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_endpoints_id_check CHECK (length(id) = 16),
    CONSTRAINT webhook_endpoints_url_check
        CHECK (url GLOB 'http://?*' OR url GLOB 'https://?*'),
    CONSTRAINT webhook_endpoints_event_types_check
        CHECK (json_valid(event_types) AND json_type(event_types) = 'array'
               AND json_array_length(event_types) > 0),
    CONSTRAINT webhook_endpoints_enabled_check CHECK (enabled IN (0, 1)),
    CONSTRAINT webhook_endpoints_secret_check CHECK (secret GLOB 'whsec_?*'),
    CONSTRAINT webhook_endpoints_previous_check
        CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL))
) STRICT;
