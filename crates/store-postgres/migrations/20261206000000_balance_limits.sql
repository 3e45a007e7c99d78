-- Balance limits (API.md "Balance limits"): a customer account's available balance may go down
-- to -overdraft_limit, and its balance up to max_balance when one is set. System accounts have
-- none. The CHECK that kept every customer account at or above zero becomes the limits' rule,
-- so a bug in the code still cannot write an account outside its own limits.

ALTER TABLE accounts
    ADD COLUMN overdraft_limit BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN max_balance BIGINT,
    ADD CONSTRAINT accounts_overdraft_limit_check
        CHECK (overdraft_limit BETWEEN 0 AND 1000000000000000),
    ADD CONSTRAINT accounts_max_balance_check CHECK (max_balance BETWEEN 0 AND 1000000000000000),
    ADD CONSTRAINT accounts_system_limits_check
        CHECK (owner_id IS NOT NULL OR (overdraft_limit = 0 AND max_balance IS NULL));

ALTER TABLE accounts DROP CONSTRAINT accounts_customer_balance_check;

-- No customer account outside its limits, holds counted. `held` is never negative, so the
-- balance itself is at or above -overdraft_limit too.
ALTER TABLE accounts ADD CONSTRAINT accounts_customer_balance_check
    CHECK (owner_id IS NULL
           OR (balance - held >= -overdraft_limit
               AND (max_balance IS NULL OR balance <= max_balance)));
