-- Identity (API.md §3, "Auth and users" of §4): users, their sessions, the hashes of every
-- refresh token issued, and the login failure counters.
--
-- Constraint names follow PostgreSQL's defaults, and the SQLite backend uses the same names.

CREATE TABLE users (
    id            UUID        NOT NULL,
    -- Stored trimmed and lower-cased, so the unique constraint is the case-insensitive
    -- EMAIL_TAKEN check.
    email         TEXT        NOT NULL,
    -- A PHC string (argon2id); the password itself is never stored.
    password_hash TEXT        NOT NULL,
    role          TEXT        NOT NULL,
    disabled      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_check CHECK (email <> '' AND email = lower(email)),
    CONSTRAINT users_password_hash_check CHECK (password_hash <> ''),
    CONSTRAINT users_role_check CHECK (role IN ('user', 'manager', 'admin'))
);

-- The last-admin guard counts these on every change that could remove one.
CREATE INDEX users_active_admins_idx ON users (id) WHERE role = 'admin' AND NOT disabled;

CREATE TABLE sessions (
    id             UUID        NOT NULL,
    user_id        UUID        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    -- Fixed at login: rotating the refresh token does not extend it.
    expires_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ,
    revoked_reason TEXT,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT sessions_revoked_reason_check
        CHECK (revoked_reason IN ('logout', 'refresh_token_reused', 'user_disabled', 'password_reset')),
    CONSTRAINT sessions_revoked_check CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);

-- Disabling a user revokes its live sessions.
CREATE INDEX sessions_user_id_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- Every refresh token ever issued, by its SHA-256 only. `used_at` is set by the one claim that
-- rotates it; a used hash presented again is a reuse.
CREATE TABLE refresh_tokens (
    token_hash BYTEA       NOT NULL,
    session_id UUID        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (token_hash),
    CONSTRAINT refresh_tokens_session_id_fkey FOREIGN KEY (session_id) REFERENCES sessions (id),
    CONSTRAINT refresh_tokens_token_hash_check CHECK (octet_length(token_hash) = 32)
);

CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

-- Failed logins per key (coffre_domain::throttle), shared by every instance on the database.
CREATE TABLE login_throttle (
    key             TEXT        NOT NULL,
    failures        INTEGER     NOT NULL,
    last_failure_at TIMESTAMPTZ NOT NULL,
    blocked_until   TIMESTAMPTZ,
    CONSTRAINT login_throttle_pkey PRIMARY KEY (key),
    CONSTRAINT login_throttle_key_check CHECK (key <> ''),
    CONSTRAINT login_throttle_failures_check CHECK (failures >= 0)
);
