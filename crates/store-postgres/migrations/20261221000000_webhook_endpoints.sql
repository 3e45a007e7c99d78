-- Webhook endpoints (API.md "Webhook endpoints"): where events go, which types, and the secrets
-- that sign them. A secret is never returned after the answer that made it; the one rotated out
-- keeps signing until `previous_secret_until`.

CREATE TABLE webhook_endpoints (
    id                    uuid        NOT NULL,
    url                   text        NOT NULL,
    event_types           text        NOT NULL,
    description           text,
    enabled               boolean     NOT NULL,
    secret                text        NOT NULL,
    previous_secret       text,
    previous_secret_until timestamptz,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_endpoints_url_check CHECK (url ~ '^https?://.'),
    CONSTRAINT webhook_endpoints_event_types_check
        CHECK (json_typeof(event_types::json) = 'array' AND json_array_length(event_types::json) > 0),
    CONSTRAINT webhook_endpoints_secret_check CHECK (secret LIKE 'whsec\_%'),
    CONSTRAINT webhook_endpoints_previous_check
        CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL))
);
