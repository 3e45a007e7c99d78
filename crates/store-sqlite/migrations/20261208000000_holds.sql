-- Same table and constraint names as the PostgreSQL backend; STRICT, UUIDs as 16-byte BLOBs,
-- timestamps as RFC 3339 TEXT.
--
-- Holds (API.md "Holds"): money reserved on one account for another, posted in parts or
-- released. A payment's authorization is a hold too (`payment_id`): there is one way to hold
-- money, and `accounts.held` is the sum of what the account's `held` holds still hold.
--
-- The CHECKs restate what `coffre_domain::hold::Hold` allows: `amount = held + posted +
-- released`, with `held` (not stored) positive exactly while the state is `held`.

CREATE TABLE holds (
    id              BLOB    NOT NULL,
    from_account_id BLOB    NOT NULL,
    to_account_id   BLOB    NOT NULL,
    amount          INTEGER NOT NULL,
    currency        TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    posted_amount   INTEGER NOT NULL,
    released_amount INTEGER NOT NULL,
    payment_id      BLOB,
    metadata        TEXT    NOT NULL DEFAULT '{}',
    expires_at      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    CONSTRAINT holds_pkey PRIMARY KEY (id),
    CONSTRAINT holds_id_check CHECK (length(id) = 16),
    CONSTRAINT holds_from_account_id_fkey FOREIGN KEY (from_account_id) REFERENCES accounts (id),
    CONSTRAINT holds_to_account_id_fkey FOREIGN KEY (to_account_id) REFERENCES accounts (id),
    CONSTRAINT holds_payment_id_fkey FOREIGN KEY (payment_id) REFERENCES payments (id),
    CONSTRAINT holds_payment_id_key UNIQUE (payment_id),
    CONSTRAINT holds_accounts_check CHECK (from_account_id <> to_account_id),
    CONSTRAINT holds_amount_check CHECK (amount BETWEEN 1 AND 1000000000000000),
    CONSTRAINT holds_currency_check CHECK (length(currency) = 3 AND currency NOT GLOB '*[^A-Z]*'),
    CONSTRAINT holds_state_check CHECK (state IN ('held', 'posted', 'voided', 'expired')),
    CONSTRAINT holds_amounts_check
        CHECK (posted_amount BETWEEN 0 AND amount
               AND released_amount BETWEEN 0 AND amount - posted_amount),
    CONSTRAINT holds_held_check CHECK (state <> 'held' OR (
        released_amount = 0 AND posted_amount < amount)),
    CONSTRAINT holds_posted_check CHECK (state <> 'posted' OR (
        posted_amount > 0 AND posted_amount + released_amount = amount)),
    CONSTRAINT holds_released_check CHECK (state NOT IN ('voided', 'expired') OR (
        released_amount > 0 AND posted_amount + released_amount = amount)),
    CONSTRAINT holds_metadata_check CHECK (json_valid(metadata) AND json_type(metadata) = 'object')
) STRICT;

-- Listing by account (either side), newest first.
CREATE INDEX holds_from_account_id_idx ON holds (from_account_id, id);
CREATE INDEX holds_to_account_id_idx ON holds (to_account_id, id);
-- The expiry sweep reads the holds that are due.
CREATE INDEX holds_state_expires_at_idx ON holds (state, expires_at);

-- Each post is a transfer that names its hold (a payment's capture names the payment's).
ALTER TABLE transfers ADD COLUMN hold_id BLOB
    CONSTRAINT transfers_hold_id_fkey REFERENCES holds (id);
CREATE INDEX transfers_hold_id_idx ON transfers (hold_id, id) WHERE hold_id IS NOT NULL;

-- Payments authorized before holds existed get theirs, under the payment's id, so that
-- `accounts.held` stays the sum of the held holds.
INSERT INTO holds (id, from_account_id, to_account_id, amount, currency, state, posted_amount,
                   released_amount, payment_id, expires_at, created_at, updated_at)
SELECT id, payer_account_id, payee_account_id, amount, currency, 'held', 0, 0, id, expires_at,
       updated_at, updated_at
FROM payments WHERE state = 'authorized';
