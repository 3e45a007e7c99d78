-- Metadata on accounts (API.md "Metadata"): a client's string labels, at most 50 keys, set at
-- opening and by PATCH, stored as a JSON object. Lists filter by (key, value) pairs through
-- `account_metadata`, one row per pair, which triggers keep equal to the column: a filter is
-- one primary-key lookup per pair, never a scan of the accounts.

ALTER TABLE accounts ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'
    CONSTRAINT accounts_metadata_check CHECK (json_valid(metadata) AND json_type(metadata) = 'object');

CREATE TABLE account_metadata (
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    account_id BLOB NOT NULL,
    PRIMARY KEY (key, value, account_id),
    CONSTRAINT account_metadata_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id)
) STRICT, WITHOUT ROWID;

CREATE INDEX account_metadata_account_id_idx ON account_metadata (account_id);

CREATE TRIGGER accounts_metadata_inserted AFTER INSERT ON accounts
WHEN NEW.metadata <> '{}'
BEGIN
    INSERT INTO account_metadata (key, value, account_id)
    SELECT key, value, NEW.id FROM json_each(NEW.metadata);
END;

-- The money path rewrites every changed account's row, metadata included, unchanged: only a
-- real change touches the pairs.
CREATE TRIGGER accounts_metadata_updated AFTER UPDATE OF metadata ON accounts
WHEN NEW.metadata IS NOT OLD.metadata
BEGIN
    DELETE FROM account_metadata WHERE account_id = OLD.id;
    INSERT INTO account_metadata (key, value, account_id)
    SELECT key, value, NEW.id FROM json_each(NEW.metadata);
END;
