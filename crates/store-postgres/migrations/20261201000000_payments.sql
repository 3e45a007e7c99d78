-- Payments (API.md "Payments"): one row per payment, its state mirrored by CHECKs so that
-- only the states `coffre_domain::payment` can represent can be stored. Holds live on the
-- payer's account (`accounts.held`); captures and refunds are transfers.

CREATE TABLE payments (
    id                 UUID        NOT NULL,
    payer_account_id   UUID        NOT NULL,
    payee_account_id   UUID        NOT NULL,
    amount             BIGINT      NOT NULL,
    currency           TEXT        NOT NULL,
    state              TEXT        NOT NULL,
    authorized_amount  BIGINT      NOT NULL,
    captured_amount    BIGINT      NOT NULL,
    refunded_amount    BIGINT      NOT NULL,
    authorization_code TEXT,
    failure_reason     TEXT,
    expires_at         TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT payments_pkey PRIMARY KEY (id),
    CONSTRAINT payments_payer_account_id_fkey
        FOREIGN KEY (payer_account_id) REFERENCES accounts (id),
    CONSTRAINT payments_payee_account_id_fkey
        FOREIGN KEY (payee_account_id) REFERENCES accounts (id),
    CONSTRAINT payments_accounts_check CHECK (payer_account_id <> payee_account_id),
    CONSTRAINT payments_amount_check CHECK (amount BETWEEN 1 AND 1000000000000000),
    CONSTRAINT payments_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT payments_state_check
        CHECK (state IN ('pending', 'authorized', 'captured', 'refunded', 'failed', 'canceled')),
    CONSTRAINT payments_amounts_check
        CHECK (authorized_amount IN (0, amount)
               AND captured_amount BETWEEN 0 AND authorized_amount
               AND refunded_amount BETWEEN 0 AND captured_amount),
    -- What each state implies, as the typestate has it.
    CONSTRAINT payments_pending_check CHECK (state <> 'pending' OR (
        authorized_amount = 0 AND authorization_code IS NULL AND failure_reason IS NULL
        AND expires_at IS NULL)),
    CONSTRAINT payments_authorized_check CHECK (state <> 'authorized' OR (
        authorized_amount = amount AND captured_amount = 0 AND authorization_code IS NOT NULL
        AND expires_at IS NOT NULL AND failure_reason IS NULL)),
    CONSTRAINT payments_captured_check CHECK (state <> 'captured' OR (
        captured_amount > 0 AND refunded_amount < captured_amount
        AND authorization_code IS NOT NULL AND expires_at IS NULL AND failure_reason IS NULL)),
    CONSTRAINT payments_refunded_check CHECK (state <> 'refunded' OR (
        captured_amount > 0 AND refunded_amount = captured_amount
        AND authorization_code IS NOT NULL AND expires_at IS NULL AND failure_reason IS NULL)),
    CONSTRAINT payments_failed_check CHECK (state <> 'failed' OR (
        authorized_amount = 0 AND failure_reason IS NOT NULL AND authorization_code IS NULL
        AND expires_at IS NULL)),
    CONSTRAINT payments_canceled_check CHECK (state <> 'canceled' OR (
        authorized_amount = 0 AND expires_at IS NULL))
);

CREATE INDEX payments_payer_account_id_idx ON payments (payer_account_id, id);
CREATE INDEX payments_payee_account_id_idx ON payments (payee_account_id, id);
-- The expiry sweep reads the authorizations that are due.
CREATE INDEX payments_expires_at_idx ON payments (expires_at) WHERE state = 'authorized';
