-- Metadata on accounts (API.md "Metadata"): a client's string labels, at most 50 keys, set at
-- opening and by PATCH. Lists filter by containment (`metadata @> $1`), served by a GIN index
-- that holds only the accounts that have some metadata, so accounts without any cost nothing.

ALTER TABLE accounts
    ADD COLUMN metadata JSONB NOT NULL DEFAULT '{}',
    ADD CONSTRAINT accounts_metadata_check CHECK (jsonb_typeof(metadata) = 'object');

CREATE INDEX accounts_metadata_idx ON accounts USING GIN (metadata jsonb_path_ops)
    WHERE metadata <> '{}';
