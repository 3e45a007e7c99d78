-- Metadata on transfers, payments, holds and transactions (API.md "Metadata"), as on accounts:
-- set at creation, merged by PATCH, filtered by containment through a GIN index that holds only
-- the rows with some metadata, so the money path's rows without any cost nothing.

ALTER TABLE transfers
    ADD COLUMN metadata JSONB NOT NULL DEFAULT '{}',
    ADD CONSTRAINT transfers_metadata_check CHECK (jsonb_typeof(metadata) = 'object');
ALTER TABLE payments
    ADD COLUMN metadata JSONB NOT NULL DEFAULT '{}',
    ADD CONSTRAINT payments_metadata_check CHECK (jsonb_typeof(metadata) = 'object');

CREATE INDEX transfers_metadata_idx ON transfers USING GIN (metadata jsonb_path_ops)
    WHERE metadata <> '{}';
CREATE INDEX payments_metadata_idx ON payments USING GIN (metadata jsonb_path_ops)
    WHERE metadata <> '{}';
CREATE INDEX holds_metadata_idx ON holds USING GIN (metadata jsonb_path_ops)
    WHERE metadata <> '{}';
CREATE INDEX transactions_metadata_idx ON transactions USING GIN (metadata jsonb_path_ops)
    WHERE metadata <> '{}';

-- A transfer stays append-only but for its labels: an UPDATE that sets any other column is
-- refused, whatever the value. A column added later must join this list.
DROP TRIGGER transfers_append_only ON transfers;
CREATE TRIGGER transfers_append_only
    BEFORE UPDATE OF id, kind, from_account_id, to_account_id, amount, currency, description,
                     created_at, hold_id, transaction_id, posting_index
        OR DELETE OR TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
ALTER TABLE transfers ENABLE ALWAYS TRIGGER transfers_append_only;
