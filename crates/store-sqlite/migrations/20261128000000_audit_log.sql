-- The audit log (DESIGN.md §4): an append-only, hash-chained list of events.
--
-- STRICT tables, so a column holds only its declared type. Constraint names are PostgreSQL's
-- defaults, as in the PostgreSQL backend, so both report a refused write alike. UUIDs are
-- 16-byte BLOBs and timestamps RFC 3339 TEXT, as SQLx encodes them.

CREATE TABLE audit_events (
    -- INTEGER PRIMARY KEY makes seq the rowid: the table is stored in seq order.
    seq           INTEGER NOT NULL PRIMARY KEY,
    id            BLOB    NOT NULL,
    occurred_at   TEXT    NOT NULL,
    actor_id      BLOB,
    action        TEXT    NOT NULL,
    resource_type TEXT    NOT NULL,
    resource_id   TEXT,
    -- JSON as text; the hash covers its canonical form, so key order here does not matter.
    old_value     TEXT,
    new_value     TEXT,
    ip_address    TEXT,
    user_agent    TEXT,
    request_id    TEXT,
    prev_hash     BLOB    NOT NULL,
    hash          BLOB    NOT NULL,
    CONSTRAINT audit_events_id_key UNIQUE (id),
    CONSTRAINT audit_events_seq_check CHECK (seq >= 1),
    CONSTRAINT audit_events_id_check CHECK (length(id) = 16),
    CONSTRAINT audit_events_actor_id_check CHECK (actor_id IS NULL OR length(actor_id) = 16),
    CONSTRAINT audit_events_action_check CHECK (
        action GLOB '[A-Z]*' AND action NOT GLOB '*[^A-Z0-9_]*' AND length(action) <= 64
    ),
    CONSTRAINT audit_events_resource_type_check CHECK (resource_type <> ''),
    CONSTRAINT audit_events_old_value_check CHECK (old_value IS NULL OR json_valid(old_value)),
    CONSTRAINT audit_events_new_value_check CHECK (new_value IS NULL OR json_valid(new_value)),
    CONSTRAINT audit_events_prev_hash_check CHECK (length(prev_hash) = 32),
    CONSTRAINT audit_events_hash_check CHECK (length(hash) = 32)
) STRICT;

-- The list filters; each ends in seq so a filtered page reads newest first from the index.
CREATE INDEX audit_events_actor_id_seq_idx ON audit_events (actor_id, seq);
CREATE INDEX audit_events_resource_seq_idx ON audit_events (resource_type, resource_id, seq);
CREATE INDEX audit_events_action_seq_idx ON audit_events (action, seq);

-- The last link of the chain, in a table of exactly one row. Appends run in BEGIN IMMEDIATE
-- transactions, which take the database's write lock up front: one append at a time reads
-- and moves the head, so `seq` is gap-free and every `prev_hash` is the previous event's hash.
CREATE TABLE audit_chain_head (
    singleton INTEGER NOT NULL PRIMARY KEY DEFAULT 1,
    seq       INTEGER NOT NULL,
    hash      BLOB    NOT NULL,
    CONSTRAINT audit_chain_head_singleton_check CHECK (singleton = 1),
    CONSTRAINT audit_chain_head_seq_check CHECK (seq >= 0),
    CONSTRAINT audit_chain_head_hash_check CHECK (length(hash) = 32)
) STRICT;

INSERT INTO audit_chain_head (seq, hash) VALUES (0, zeroblob(32));

-- Triggers bind every connection, whoever owns the file. SQLite has no TRUNCATE: a DELETE
-- without WHERE runs row by row once a DELETE trigger exists, so the trigger covers it.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events refuses UPDATE: the audit log is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events refuses DELETE: the audit log is append-only');
END;

-- INSERT OR REPLACE deletes the row it collides with without firing DELETE triggers (unless
-- recursive_triggers is on), so an insert may never land on an existing seq or id.
CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events
WHEN EXISTS (SELECT 1 FROM audit_events WHERE seq = NEW.seq OR id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit_events refuses to overwrite an event: the audit log is append-only');
END;

-- The head moves forward on every append, but its one row must never go away.
CREATE TRIGGER audit_chain_head_keep_row BEFORE DELETE ON audit_chain_head
BEGIN
    SELECT RAISE(ABORT, 'audit_chain_head refuses DELETE: the audit log is append-only');
END;
