-- Transactions (API.md "Transactions"; DESIGN.md §2): postings applied together, all or
-- nothing, in one batch's database transaction. Each posting is a transfer (kind `transfer`)
-- that names its transaction and its place in it, so a transaction reads back in order.

CREATE TABLE transactions (
    id          UUID        NOT NULL,
    description TEXT,
    metadata    JSONB       NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT transactions_pkey PRIMARY KEY (id),
    CONSTRAINT transactions_description_check
        CHECK (description <> '' AND char_length(description) <= 500),
    CONSTRAINT transactions_metadata_check CHECK (jsonb_typeof(metadata) = 'object')
);

-- Its postings reference it: a transaction is never taken away from them.
CREATE TRIGGER transactions_append_only
    BEFORE DELETE OR TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
ALTER TABLE transactions ENABLE ALWAYS TRIGGER transactions_append_only;

ALTER TABLE transfers
    ADD COLUMN transaction_id UUID,
    ADD COLUMN posting_index  SMALLINT,
    ADD CONSTRAINT transfers_transaction_id_fkey
        FOREIGN KEY (transaction_id) REFERENCES transactions (id),
    -- A posting has both, and is a plain transfer that posts no hold; any other transfer has neither.
    ADD CONSTRAINT transfers_posting_check
        CHECK ((transaction_id IS NULL) = (posting_index IS NULL)
               AND posting_index BETWEEN 0 AND 63
               AND (transaction_id IS NULL OR (kind = 'transfer' AND hold_id IS NULL))),
    -- Also the index that reads a transaction's postings in order.
    ADD CONSTRAINT transfers_transaction_posting_key UNIQUE (transaction_id, posting_index);
