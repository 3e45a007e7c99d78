//! The identity tables refuse, by constraint, what the store's types cannot express.

// Helpers shared by the test below fail the test the same way the test does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffre_domain::audit::AuditContext;
use coffre_domain::user::{Email, Role};
use coffre_store::{CreateUser, NewUser, PasswordHash, Store};
use coffre_store_postgres::testing::fresh_database;
use sqlx::{Connection, PgConnection};

/// The constraint a statement violates, by name.
async fn violated(connection: &mut PgConnection, sql: &'static str) -> String {
    let error = sqlx::raw_sql(sql)
        .execute(&mut *connection)
        .await
        .expect_err(sql);
    error
        .as_database_error()
        .and_then(|error| error.constraint())
        .unwrap_or_else(|| panic!("{sql}: {error}"))
        .to_owned()
}

#[tokio::test]
async fn identity_rows_hold_only_what_the_types_allow() {
    let (store, url) = fresh_database().await;
    let new = NewUser {
        email: Email::parse("alice@example.com").unwrap(),
        password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        role: Role::User,
    };
    let created = store
        .create_user(new, &AuditContext::default())
        .await
        .unwrap();
    assert!(matches!(created, CreateUser::Created(_)));
    let mut connection = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO sessions (id, user_id, created_at, expires_at) \
         SELECT gen_random_uuid(), id, now(), now() + interval '1 day' FROM users",
    )
    .execute(&mut connection)
    .await
    .unwrap();

    let cases = [
        (
            "INSERT INTO users VALUES (gen_random_uuid(), 'root@example.com', 'h', 'root', \
             FALSE, now(), now())",
            "users_role_check",
        ),
        (
            "INSERT INTO users VALUES (gen_random_uuid(), 'Bob@example.com', 'h', 'user', \
             FALSE, now(), now())",
            "users_email_check",
        ),
        (
            "INSERT INTO users VALUES (gen_random_uuid(), '', 'h', 'user', FALSE, now(), now())",
            "users_email_check",
        ),
        (
            "INSERT INTO users VALUES (gen_random_uuid(), 'alice@example.com', 'h', 'user', \
             FALSE, now(), now())",
            "users_email_key",
        ),
        (
            "INSERT INTO users VALUES (gen_random_uuid(), 'bob@example.com', '', 'user', \
             FALSE, now(), now())",
            "users_password_hash_check",
        ),
        (
            "UPDATE sessions SET revoked_at = now(), revoked_reason = 'bored'",
            "sessions_revoked_reason_check",
        ),
        (
            "UPDATE sessions SET revoked_at = now()",
            "sessions_revoked_check",
        ),
        (
            "UPDATE sessions SET revoked_reason = 'logout'",
            "sessions_revoked_check",
        ),
        (
            "INSERT INTO sessions (id, user_id, created_at, expires_at) \
             VALUES (gen_random_uuid(), gen_random_uuid(), now(), now())",
            "sessions_user_id_fkey",
        ),
        (
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
             SELECT '\\x00'::bytea, id, now() FROM sessions",
            "refresh_tokens_token_hash_check",
        ),
        (
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
             VALUES (decode(repeat('00', 32), 'hex'), gen_random_uuid(), now())",
            "refresh_tokens_session_id_fkey",
        ),
        (
            "INSERT INTO login_throttle (key, failures, last_failure_at) VALUES ('ip:1', -1, now())",
            "login_throttle_failures_check",
        ),
        (
            "INSERT INTO login_throttle (key, failures, last_failure_at) VALUES ('', 1, now())",
            "login_throttle_key_check",
        ),
    ];
    for (sql, constraint) in cases {
        assert_eq!(violated(&mut connection, sql).await, constraint, "{sql}");
    }
    store.close().await;
}
