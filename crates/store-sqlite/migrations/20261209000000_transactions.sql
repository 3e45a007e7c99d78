-- Transactions (API.md "Transactions"; DESIGN.md §2): postings applied together, all or
-- nothing, in one batch's database transaction. Each posting is a transfer (kind `transfer`)
-- that names its transaction and its place in it, so a transaction reads back in order.
--
-- Same tables and constraint names as the PostgreSQL backend.

CREATE TABLE transactions (
    id          BLOB NOT NULL PRIMARY KEY,
    description TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    CONSTRAINT transactions_id_check CHECK (length(id) = 16),
    CONSTRAINT transactions_description_check
        CHECK (description <> '' AND length(description) <= 500),
    CONSTRAINT transactions_metadata_check
        CHECK (json_valid(metadata) AND json_type(metadata) = 'object')
) STRICT;

-- Its postings reference it: a transaction is never taken away from them.
CREATE TRIGGER transactions_no_delete BEFORE DELETE ON transactions
BEGIN SELECT RAISE(ABORT, 'transactions refuses DELETE: the ledger is append-only'); END;

-- SQLite adds one column per statement; a column's CHECK may still read the other columns.
ALTER TABLE transfers ADD COLUMN transaction_id BLOB
    CONSTRAINT transfers_transaction_id_fkey REFERENCES transactions (id);
-- A posting has both, and is a plain transfer that posts no hold; any other transfer has neither.
ALTER TABLE transfers ADD COLUMN posting_index INTEGER
    CONSTRAINT transfers_posting_check
        CHECK ((transaction_id IS NULL) = (posting_index IS NULL)
               AND posting_index BETWEEN 0 AND 63
               AND (transaction_id IS NULL OR (kind = 'transfer' AND hold_id IS NULL)));

-- Also the index that reads a transaction's postings in order.
CREATE UNIQUE INDEX transfers_transaction_posting_key ON transfers (transaction_id, posting_index);
