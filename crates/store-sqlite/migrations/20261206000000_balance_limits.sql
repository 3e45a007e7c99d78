-- Balance limits (API.md "Balance limits"): a customer account's available balance may go down
-- to -overdraft_limit, and its balance up to max_balance when one is set. System accounts have
-- none. The CHECK that kept every customer account at or above zero becomes the limits' rule.
--
-- SQLite cannot change a table's CHECKs, so the table is rebuilt. Other tables reference its
-- rows: with foreign keys deferred to the commit, dropping the old table counts its orphaned
-- references, and inserting the same rows into the new one counts them back, so the commit
-- finds every reference satisfied (and fails if one is not).
PRAGMA defer_foreign_keys = ON;

CREATE TABLE accounts_copy AS SELECT * FROM accounts;

DROP TABLE accounts;

CREATE TABLE accounts (
    id              BLOB    NOT NULL PRIMARY KEY,
    -- NULL for the one system account of each currency.
    owner_id        BLOB,
    currency        TEXT    NOT NULL,
    name            TEXT,
    -- The sum of the account's ledger lines, kept in the same transaction as each line.
    balance         INTEGER NOT NULL,
    -- The sum of active holds (payments).
    held            INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    overdraft_limit INTEGER NOT NULL DEFAULT 0,
    max_balance     INTEGER,
    CONSTRAINT accounts_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id),
    CONSTRAINT accounts_id_check CHECK (length(id) = 16),
    CONSTRAINT accounts_currency_check
        CHECK (length(currency) = 3 AND currency NOT GLOB '*[^A-Z]*'),
    CONSTRAINT accounts_name_check CHECK (name <> '' AND length(name) <= 100),
    CONSTRAINT accounts_status_check CHECK (status IN ('active', 'frozen')),
    CONSTRAINT accounts_balance_check
        CHECK (balance BETWEEN -1000000000000000000 AND 1000000000000000000),
    CONSTRAINT accounts_held_check CHECK (held >= 0),
    CONSTRAINT accounts_overdraft_limit_check
        CHECK (overdraft_limit BETWEEN 0 AND 1000000000000000),
    CONSTRAINT accounts_max_balance_check CHECK (max_balance BETWEEN 0 AND 1000000000000000),
    CONSTRAINT accounts_system_limits_check
        CHECK (owner_id IS NOT NULL OR (overdraft_limit = 0 AND max_balance IS NULL)),
    -- No customer account outside its limits, holds counted. `held` is never negative, so the
    -- balance itself is at or above -overdraft_limit too.
    CONSTRAINT accounts_customer_balance_check
        CHECK (owner_id IS NULL
               OR (balance - held >= -overdraft_limit
                   AND (max_balance IS NULL OR balance <= max_balance)))
) STRICT;

INSERT INTO accounts
    (id, owner_id, currency, name, balance, held, status, created_at, updated_at)
SELECT id, owner_id, currency, name, balance, held, status, created_at, updated_at
FROM accounts_copy;

DROP TABLE accounts_copy;

CREATE UNIQUE INDEX accounts_system_currency_key ON accounts (currency) WHERE owner_id IS NULL;
CREATE INDEX accounts_owner_id_idx ON accounts (owner_id, id);
