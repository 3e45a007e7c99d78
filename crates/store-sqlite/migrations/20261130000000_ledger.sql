-- The ledger (API.md "Accounts", "Money movement", "Idempotency"; DESIGN.md §2–3): accounts
-- with their cached balances, transfers, their ledger lines, and idempotency records.
--
-- Same tables and constraint names as the PostgreSQL backend; STRICT, UUIDs as 16-byte BLOBs,
-- timestamps as RFC 3339 TEXT. Amounts are integer minor units.

CREATE TABLE accounts (
    id         BLOB    NOT NULL PRIMARY KEY,
    -- NULL for the one system account of each currency.
    owner_id   BLOB,
    currency   TEXT    NOT NULL,
    name       TEXT,
    -- The sum of the account's ledger lines, kept in the same transaction as each line.
    balance    INTEGER NOT NULL,
    -- The sum of active holds (payments).
    held       INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    CONSTRAINT accounts_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id),
    CONSTRAINT accounts_id_check CHECK (length(id) = 16),
    CONSTRAINT accounts_currency_check
        CHECK (length(currency) = 3 AND currency NOT GLOB '*[^A-Z]*'),
    CONSTRAINT accounts_name_check CHECK (name <> '' AND length(name) <= 100),
    CONSTRAINT accounts_status_check CHECK (status IN ('active', 'frozen')),
    CONSTRAINT accounts_balance_check
        CHECK (balance BETWEEN -1000000000000000000 AND 1000000000000000000),
    CONSTRAINT accounts_held_check CHECK (held >= 0),
    -- No customer account below zero, posted or available.
    CONSTRAINT accounts_customer_balance_check
        CHECK (owner_id IS NULL OR (balance >= 0 AND balance >= held))
) STRICT;

CREATE UNIQUE INDEX accounts_system_currency_key ON accounts (currency) WHERE owner_id IS NULL;
CREATE INDEX accounts_owner_id_idx ON accounts (owner_id, id);

CREATE TABLE transfers (
    id              BLOB    NOT NULL PRIMARY KEY,
    kind            TEXT    NOT NULL,
    from_account_id BLOB    NOT NULL,
    to_account_id   BLOB    NOT NULL,
    amount          INTEGER NOT NULL,
    currency        TEXT    NOT NULL,
    description     TEXT,
    created_at      TEXT    NOT NULL,
    CONSTRAINT transfers_from_account_id_fkey FOREIGN KEY (from_account_id) REFERENCES accounts (id),
    CONSTRAINT transfers_to_account_id_fkey FOREIGN KEY (to_account_id) REFERENCES accounts (id),
    CONSTRAINT transfers_id_check CHECK (length(id) = 16),
    CONSTRAINT transfers_kind_check
        CHECK (kind IN ('transfer', 'deposit', 'withdrawal', 'capture', 'refund')),
    CONSTRAINT transfers_accounts_check CHECK (from_account_id <> to_account_id),
    CONSTRAINT transfers_amount_check CHECK (amount BETWEEN 1 AND 1000000000000000),
    CONSTRAINT transfers_currency_check
        CHECK (length(currency) = 3 AND currency NOT GLOB '*[^A-Z]*'),
    CONSTRAINT transfers_description_check CHECK (description <> '' AND length(description) <= 500)
) STRICT;

CREATE INDEX transfers_from_account_id_idx ON transfers (from_account_id, id);
CREATE INDEX transfers_to_account_id_idx ON transfers (to_account_id, id);

-- Two lines per transfer, summing to zero; `balance_after` is the account's balance right
-- after the line.
CREATE TABLE ledger_lines (
    id            BLOB    NOT NULL PRIMARY KEY,
    transfer_id   BLOB    NOT NULL,
    account_id    BLOB    NOT NULL,
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    created_at    TEXT    NOT NULL,
    CONSTRAINT ledger_lines_transfer_id_fkey FOREIGN KEY (transfer_id) REFERENCES transfers (id),
    CONSTRAINT ledger_lines_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT ledger_lines_transfer_account_key UNIQUE (transfer_id, account_id),
    CONSTRAINT ledger_lines_id_check CHECK (length(id) = 16),
    CONSTRAINT ledger_lines_amount_check CHECK (amount <> 0)
) STRICT;

CREATE INDEX ledger_lines_account_id_idx ON ledger_lines (account_id, id);

-- Posted money is corrected by a new transfer, never by editing history.
CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers refuses UPDATE: the ledger is append-only'); END;
CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers refuses DELETE: the ledger is append-only'); END;
CREATE TRIGGER ledger_lines_no_update BEFORE UPDATE ON ledger_lines
BEGIN SELECT RAISE(ABORT, 'ledger_lines refuses UPDATE: the ledger is append-only'); END;
CREATE TRIGGER ledger_lines_no_delete BEFORE DELETE ON ledger_lines
BEGIN SELECT RAISE(ABORT, 'ledger_lines refuses DELETE: the ledger is append-only'); END;

-- One row per (user, Idempotency-Key). A request claims its key in a transaction of its own;
-- the effect's transaction completes the claim with the response, so the response is stored
-- if and only if the effect committed. A claim whose request died is taken over once its
-- lease is over.
CREATE TABLE idempotency_keys (
    user_id         BLOB    NOT NULL,
    key             TEXT    NOT NULL,
    fingerprint     BLOB    NOT NULL,
    claim_id        BLOB    NOT NULL,
    claimed_at      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    completed_at    TEXT,
    response_status INTEGER,
    response_body   BLOB,
    PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT idempotency_keys_key_check
        CHECK (length(key) BETWEEN 1 AND 255 AND key NOT GLOB '*[^!-~]*'),
    CONSTRAINT idempotency_keys_fingerprint_check CHECK (length(fingerprint) = 32),
    CONSTRAINT idempotency_keys_response_check
        CHECK ((completed_at IS NULL) = (response_status IS NULL)
               AND (completed_at IS NULL) = (response_body IS NULL)),
    CONSTRAINT idempotency_keys_response_status_check CHECK (response_status BETWEEN 200 AND 499)
) STRICT;

-- The cleanup deletes by creation time. It compares the RFC 3339 text, which orders like the
-- instants because every stamp has the same '+00:00' offset and '+' sorts below the digits and
-- the '.' of a fraction; a day-long retention does not need more.
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
