-- A key's record is now written only with its effect, in the batch's transaction, complete
-- with its response: there are no claims in flight to track. Rows of claims that never
-- completed (their effect never committed) are dropped; a retry runs them afresh. SQLite
-- cannot drop columns its CHECKs name, so the table is rebuilt.
CREATE TABLE idempotency_keys_completed (
    user_id         BLOB    NOT NULL,
    key             TEXT    NOT NULL,
    fingerprint     BLOB    NOT NULL,
    created_at      TEXT    NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   BLOB    NOT NULL,
    PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT idempotency_keys_key_check
        CHECK (length(key) BETWEEN 1 AND 255 AND key NOT GLOB '*[^!-~]*'),
    CONSTRAINT idempotency_keys_fingerprint_check CHECK (length(fingerprint) = 32),
    CONSTRAINT idempotency_keys_response_status_check CHECK (response_status BETWEEN 200 AND 499)
) STRICT;

INSERT INTO idempotency_keys_completed
    (user_id, key, fingerprint, created_at, response_status, response_body)
SELECT user_id, key, fingerprint, created_at, response_status, response_body
FROM idempotency_keys WHERE completed_at IS NOT NULL;

DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_completed RENAME TO idempotency_keys;

-- The purge deletes by creation time (see the ledger migration on comparing RFC 3339 text).
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
