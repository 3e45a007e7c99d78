-- Metadata on transfers, payments, holds and transactions (API.md "Metadata"), as on accounts:
-- set at creation, merged by PATCH, stored as a JSON object. Lists filter through
-- `metadata_pairs`, one row per (resource, key, value, id), which triggers keep equal to the
-- columns: a filter is one primary-key lookup per pair, never a scan of the resource's table.
--
-- Same constraint names as the PostgreSQL backend.

ALTER TABLE transfers ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'
    CONSTRAINT transfers_metadata_check
        CHECK (json_valid(metadata) AND json_type(metadata) = 'object');
ALTER TABLE payments ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'
    CONSTRAINT payments_metadata_check
        CHECK (json_valid(metadata) AND json_type(metadata) = 'object');

CREATE TABLE metadata_pairs (
    resource TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    id       BLOB NOT NULL,
    PRIMARY KEY (resource, key, value, id),
    CONSTRAINT metadata_pairs_resource_check
        CHECK (resource IN ('transfer', 'payment', 'hold', 'transaction'))
) STRICT, WITHOUT ROWID;

CREATE INDEX metadata_pairs_id_idx ON metadata_pairs (resource, id);

-- A transfer stays append-only but for its labels.
DROP TRIGGER transfers_no_update;
CREATE TRIGGER transfers_no_update
BEFORE UPDATE OF id, kind, from_account_id, to_account_id, amount, currency, description,
                 created_at, hold_id, transaction_id, posting_index ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers refuses UPDATE: the ledger is append-only'); END;

CREATE TRIGGER transfers_metadata_inserted AFTER INSERT ON transfers WHEN NEW.metadata <> '{}'
BEGIN
    INSERT INTO metadata_pairs (resource, key, value, id)
    SELECT 'transfer', key, value, NEW.id FROM json_each(NEW.metadata);
END;
CREATE TRIGGER transfers_metadata_updated AFTER UPDATE OF metadata ON transfers
WHEN NEW.metadata IS NOT OLD.metadata
BEGIN
    DELETE FROM metadata_pairs WHERE resource = 'transfer' AND id = OLD.id;
    INSERT INTO metadata_pairs (resource, key, value, id)
    SELECT 'transfer', key, value, NEW.id FROM json_each(NEW.metadata);
END;

CREATE TRIGGER payments_metadata_inserted AFTER INSERT ON payments WHEN NEW.metadata <> '{}'
BEGIN
    INSERT INTO metadata_pairs (resource, key, value, id)
    SELECT 'payment', key, value, NEW.id FROM json_each(NEW.metadata);
END;
CREATE TRIGGER payments_metadata_updated AFTER UPDATE OF metadata ON payments
WHEN NEW.metadata IS NOT OLD.metadata
BEGIN
    DELETE FROM metadata_pairs WHERE resource = 'payment' AND id = OLD.id;
    INSERT INTO metadata_pairs (resource, key, value, id)
    SELECT 'payment', key, value, NEW.id FROM json_each(NEW.metadata);
END;

CREATE TRIGGER holds_metadata_inserted AFTER INSERT ON holds WHEN NEW.metadata <> '{}'
BEGIN
    INSERT INTO metadata_pairs (resource, key, value, id)
    SELECT 'hold', key, value, NEW.id FROM json_each(NEW.metadata);
END;
CREATE TRIGGER holds_metadata_updated AFTER UPDATE OF metadata ON holds
WHEN NEW.metadata IS NOT OLD.metadata
BEGIN
    DELETE FROM metadata_pairs WHERE resource = 'hold' AND id = OLD.id;
    INSERT INTO metadata_pairs (resource, key, value, id)
    SELECT 'hold', key, value, NEW.id FROM json_each(NEW.metadata);
END;

CREATE TRIGGER transactions_metadata_inserted AFTER INSERT ON transactions
WHEN NEW.metadata <> '{}'
BEGIN
    INSERT INTO metadata_pairs (resource, key, value, id)
    SELECT 'transaction', key, value, NEW.id FROM json_each(NEW.metadata);
END;
CREATE TRIGGER transactions_metadata_updated AFTER UPDATE OF metadata ON transactions
WHEN NEW.metadata IS NOT OLD.metadata
BEGIN
    DELETE FROM metadata_pairs WHERE resource = 'transaction' AND id = OLD.id;
    INSERT INTO metadata_pairs (resource, key, value, id)
    SELECT 'transaction', key, value, NEW.id FROM json_each(NEW.metadata);
END;

-- Pairs of holds and transactions created before this migration.
INSERT INTO metadata_pairs (resource, key, value, id)
SELECT 'hold', pair.key, pair.value, holds.id FROM holds, json_each(holds.metadata) AS pair;
INSERT INTO metadata_pairs (resource, key, value, id)
SELECT 'transaction', pair.key, pair.value, transactions.id
FROM transactions, json_each(transactions.metadata) AS pair;
