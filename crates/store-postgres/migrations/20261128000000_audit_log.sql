-- The audit log (DESIGN.md §4): an append-only, hash-chained list of events.
--
-- Constraint names follow PostgreSQL's defaults (`<table>_<column>_check`, `<table>_<column>_key`)
-- and the SQLite backend uses the same names, so both report a refused write alike.

CREATE TABLE audit_events (
    seq           BIGINT      NOT NULL,
    id            UUID        NOT NULL,
    occurred_at   TIMESTAMPTZ NOT NULL,
    actor_id      UUID,
    action        TEXT        NOT NULL,
    resource_type TEXT        NOT NULL,
    resource_id   TEXT,
    -- `json`, not `jsonb`: jsonb rewrites numbers (1e17 comes back as 100000000000000000,
    -- -0.0 as 0.0) and refuses \u0000, either of which would change the bytes the hash covers.
    old_value     JSON,
    new_value     JSON,
    ip_address    TEXT,
    user_agent    TEXT,
    request_id    TEXT,
    prev_hash     BYTEA       NOT NULL,
    hash          BYTEA       NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (seq),
    CONSTRAINT audit_events_id_key UNIQUE (id),
    CONSTRAINT audit_events_seq_check CHECK (seq >= 1),
    CONSTRAINT audit_events_action_check
        CHECK (action ~ '^[A-Z][A-Z0-9_]*$' AND length(action) <= 64),
    CONSTRAINT audit_events_resource_type_check CHECK (resource_type <> ''),
    CONSTRAINT audit_events_prev_hash_check CHECK (octet_length(prev_hash) = 32),
    CONSTRAINT audit_events_hash_check CHECK (octet_length(hash) = 32)
);

-- The list filters; each ends in seq so a filtered page reads newest first from the index.
CREATE INDEX audit_events_actor_id_seq_idx ON audit_events (actor_id, seq);
CREATE INDEX audit_events_resource_seq_idx ON audit_events (resource_type, resource_id, seq);
CREATE INDEX audit_events_action_seq_idx ON audit_events (action, seq);

-- The last link of the chain, in a table of exactly one row. Appending locks this row
-- (SELECT ... FOR UPDATE) for the rest of its transaction, which makes `seq` gap-free and
-- every `prev_hash` the hash of the event committed just before.
CREATE TABLE audit_chain_head (
    singleton BOOLEAN NOT NULL DEFAULT TRUE,
    seq       BIGINT  NOT NULL,
    hash      BYTEA   NOT NULL,
    CONSTRAINT audit_chain_head_pkey PRIMARY KEY (singleton),
    CONSTRAINT audit_chain_head_singleton_check CHECK (singleton),
    CONSTRAINT audit_chain_head_seq_check CHECK (seq >= 0),
    CONSTRAINT audit_chain_head_hash_check CHECK (octet_length(hash) = 32)
);

INSERT INTO audit_chain_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

-- Refuses the statement outright. Triggers fire for the table's owner and for superusers
-- alike, which a REVOKE would not cover.
CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% refuses %: the audit log is append-only', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

-- Statement-level, so an UPDATE or DELETE matching no row is refused too, and TRUNCATE
-- (which fires no row trigger) is covered.
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- The head moves forward on every append, but its one row must never go away.
CREATE TRIGGER audit_chain_head_keep_row
    BEFORE DELETE OR TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- ENABLE ALWAYS: the triggers fire even with session_replication_role = replica, which
-- otherwise silences ordinary triggers.
ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_append_only;
ALTER TABLE audit_chain_head ENABLE ALWAYS TRIGGER audit_chain_head_keep_row;
