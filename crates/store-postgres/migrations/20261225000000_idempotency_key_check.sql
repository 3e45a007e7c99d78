-- The key's rule, unchanged (1 to 255 printable ASCII characters, no space), written so that
-- PostgreSQL checks it in well under a microsecond. The bounded repetition `{1,255}` made its
-- regular-expression engine build and run an automaton of 255 states for every row: about
-- 33 µs per key record where it was measured, the most expensive column check on the money
-- path by far (BENCHMARKS.md, "A key record's check", session 11).
ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_key_check,
    ADD CONSTRAINT idempotency_keys_key_check
        CHECK (octet_length(key) BETWEEN 1 AND 255 AND key !~ '[^\x21-\x7e]');
