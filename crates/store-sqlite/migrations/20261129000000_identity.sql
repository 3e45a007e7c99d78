-- Identity (API.md §3, "Auth and users" of §4): users, their sessions, the hashes of every
-- refresh token issued, and the login failure counters.
--
-- STRICT tables; constraint names as in the PostgreSQL backend. UUIDs are 16-byte BLOBs,
-- timestamps RFC 3339 TEXT (compared in Rust, never in SQL: their fraction has no fixed width),
-- booleans INTEGER 0 or 1.

CREATE TABLE users (
    id            BLOB    NOT NULL PRIMARY KEY,
    -- Stored trimmed and lower-cased, so the unique constraint is the case-insensitive
    -- EMAIL_TAKEN check. SQLite's lower() folds ASCII only: the check is looser than
    -- PostgreSQL's, the store lower-cases every address anyway.
    email         TEXT    NOT NULL,
    -- A PHC string (argon2id); the password itself is never stored.
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_id_check CHECK (length(id) = 16),
    CONSTRAINT users_email_check CHECK (email <> '' AND email = lower(email)),
    CONSTRAINT users_password_hash_check CHECK (password_hash <> ''),
    CONSTRAINT users_role_check CHECK (role IN ('user', 'manager', 'admin')),
    CONSTRAINT users_disabled_check CHECK (disabled IN (0, 1))
) STRICT;

-- The last-admin guard counts these on every change that could remove one.
CREATE INDEX users_active_admins_idx ON users (id) WHERE role = 'admin' AND disabled = 0;

CREATE TABLE sessions (
    id             BLOB NOT NULL PRIMARY KEY,
    user_id        BLOB NOT NULL,
    created_at     TEXT NOT NULL,
    -- Fixed at login: rotating the refresh token does not extend it.
    expires_at     TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT,
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT sessions_id_check CHECK (length(id) = 16),
    CONSTRAINT sessions_revoked_reason_check
        CHECK (revoked_reason IN ('logout', 'refresh_token_reused', 'user_disabled', 'password_reset')),
    CONSTRAINT sessions_revoked_check CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
) STRICT;

-- Disabling a user revokes its live sessions.
CREATE INDEX sessions_user_id_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- Every refresh token ever issued, by its SHA-256 only. `used_at` is set by the one claim that
-- rotates it; a used hash presented again is a reuse.
CREATE TABLE refresh_tokens (
    token_hash BLOB NOT NULL PRIMARY KEY,
    session_id BLOB NOT NULL,
    created_at TEXT NOT NULL,
    used_at    TEXT,
    CONSTRAINT refresh_tokens_session_id_fkey FOREIGN KEY (session_id) REFERENCES sessions (id),
    CONSTRAINT refresh_tokens_token_hash_check CHECK (length(token_hash) = 32)
) STRICT;

CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

-- Failed logins per key (coffre_domain::throttle), shared by every process on the file.
CREATE TABLE login_throttle (
    key             TEXT    NOT NULL PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at TEXT    NOT NULL,
    blocked_until   TEXT,
    CONSTRAINT login_throttle_key_check CHECK (key <> ''),
    CONSTRAINT login_throttle_failures_check CHECK (failures >= 0)
) STRICT;
