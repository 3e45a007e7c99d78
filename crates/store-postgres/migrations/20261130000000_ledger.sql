-- The ledger (API.md "Accounts", "Money movement", "Idempotency"; DESIGN.md §2–3): accounts
-- with their cached balances, transfers, their ledger lines, and idempotency records.
--
-- Amounts are integer minor units. The CHECKs restate what the domain types forbid, so a bug
-- in the code cannot write a state the types could not hold.

CREATE TABLE accounts (
    id         UUID        NOT NULL,
    -- NULL for the one system account of each currency.
    owner_id   UUID,
    currency   TEXT        NOT NULL,
    name       TEXT,
    -- The sum of the account's ledger lines, kept in the same transaction as each line.
    balance    BIGINT      NOT NULL,
    -- The sum of active holds (payments).
    held       BIGINT      NOT NULL,
    status     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT accounts_pkey PRIMARY KEY (id),
    CONSTRAINT accounts_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id),
    CONSTRAINT accounts_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT accounts_name_check CHECK (name <> '' AND char_length(name) <= 100),
    CONSTRAINT accounts_status_check CHECK (status IN ('active', 'frozen')),
    CONSTRAINT accounts_balance_check
        CHECK (balance BETWEEN -1000000000000000000 AND 1000000000000000000),
    CONSTRAINT accounts_held_check CHECK (held >= 0),
    -- No customer account below zero, posted or available.
    CONSTRAINT accounts_customer_balance_check
        CHECK (owner_id IS NULL OR (balance >= 0 AND balance >= held))
);

CREATE UNIQUE INDEX accounts_system_currency_key ON accounts (currency) WHERE owner_id IS NULL;
CREATE INDEX accounts_owner_id_idx ON accounts (owner_id, id);

CREATE TABLE transfers (
    id              UUID        NOT NULL,
    kind            TEXT        NOT NULL,
    from_account_id UUID        NOT NULL,
    to_account_id   UUID        NOT NULL,
    amount          BIGINT      NOT NULL,
    currency        TEXT        NOT NULL,
    description     TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT transfers_pkey PRIMARY KEY (id),
    CONSTRAINT transfers_from_account_id_fkey FOREIGN KEY (from_account_id) REFERENCES accounts (id),
    CONSTRAINT transfers_to_account_id_fkey FOREIGN KEY (to_account_id) REFERENCES accounts (id),
    CONSTRAINT transfers_kind_check
        CHECK (kind IN ('transfer', 'deposit', 'withdrawal', 'capture', 'refund')),
    CONSTRAINT transfers_accounts_check CHECK (from_account_id <> to_account_id),
    CONSTRAINT transfers_amount_check CHECK (amount BETWEEN 1 AND 1000000000000000),
    CONSTRAINT transfers_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT transfers_description_check
        CHECK (description <> '' AND char_length(description) <= 500)
);

CREATE INDEX transfers_from_account_id_idx ON transfers (from_account_id, id);
CREATE INDEX transfers_to_account_id_idx ON transfers (to_account_id, id);

-- Two lines per transfer, summing to zero; `balance_after` is the account's balance right
-- after the line.
CREATE TABLE ledger_lines (
    id            UUID        NOT NULL,
    transfer_id   UUID        NOT NULL,
    account_id    UUID        NOT NULL,
    amount        BIGINT      NOT NULL,
    balance_after BIGINT      NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT ledger_lines_pkey PRIMARY KEY (id),
    CONSTRAINT ledger_lines_transfer_id_fkey FOREIGN KEY (transfer_id) REFERENCES transfers (id),
    CONSTRAINT ledger_lines_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT ledger_lines_transfer_account_key UNIQUE (transfer_id, account_id),
    CONSTRAINT ledger_lines_amount_check CHECK (amount <> 0)
);

CREATE INDEX ledger_lines_account_id_idx ON ledger_lines (account_id, id);

-- Posted money is corrected by a new transfer, never by editing history.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% refuses %: the ledger is append-only', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER transfers_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_lines_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
ALTER TABLE transfers ENABLE ALWAYS TRIGGER transfers_append_only;
ALTER TABLE ledger_lines ENABLE ALWAYS TRIGGER ledger_lines_append_only;

-- One row per (user, Idempotency-Key). A request claims its key in a transaction of its own;
-- the effect's transaction completes the claim with the response, so the response is stored
-- if and only if the effect committed. A claim whose request died is taken over once its
-- lease (claimed_at + a minute) is over.
CREATE TABLE idempotency_keys (
    user_id         UUID        NOT NULL,
    key             TEXT        NOT NULL,
    fingerprint     BYTEA       NOT NULL,
    claim_id        UUID        NOT NULL,
    claimed_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    completed_at    TIMESTAMPTZ,
    response_status INTEGER,
    response_body   BYTEA,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT idempotency_keys_key_check CHECK (key ~ '^[\x21-\x7e]{1,255}$'),
    CONSTRAINT idempotency_keys_fingerprint_check CHECK (octet_length(fingerprint) = 32),
    CONSTRAINT idempotency_keys_response_check
        CHECK ((completed_at IS NULL) = (response_status IS NULL)
               AND (completed_at IS NULL) = (response_body IS NULL)),
    CONSTRAINT idempotency_keys_response_status_check CHECK (response_status BETWEEN 200 AND 499)
);

CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
