-- A key's record is now written only with its effect, in the batch's transaction, complete
-- with its response: there are no claims in flight to track. Rows of claims that never
-- completed (their effect never committed) are dropped; a retry runs them afresh.
DELETE FROM idempotency_keys WHERE completed_at IS NULL;

ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_response_check,
    DROP COLUMN claim_id,
    DROP COLUMN claimed_at,
    DROP COLUMN completed_at,
    ALTER COLUMN response_status SET NOT NULL,
    ALTER COLUMN response_body SET NOT NULL;
