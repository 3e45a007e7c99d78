//! The identity tables refuse, by constraint, what the store's types cannot express.

// Helpers shared by the test below fail the test the same way the test does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffre_domain::audit::AuditContext;
use coffre_domain::user::{Email, Role};
use coffre_store::{CreateUser, NewUser, PasswordHash, Store};
use coffre_store_sqlite::testing::fresh_database;
use sqlx::{Connection, SqliteConnection};

/// SQLite's message for a refused statement, which names the constraint.
async fn refused(connection: &mut SqliteConnection, sql: &'static str) -> String {
    let error = sqlx::raw_sql(sql)
        .execute(&mut *connection)
        .await
        .expect_err(sql);
    error
        .as_database_error()
        .map(|error| error.message().to_owned())
        .unwrap_or_else(|| panic!("{sql}: {error}"))
}

#[tokio::test]
async fn identity_rows_hold_only_what_the_types_allow() {
    let (store, url, _dir) = fresh_database().await;
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
    let mut connection = SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("PRAGMA foreign_keys = ON")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::raw_sql(
        "INSERT INTO sessions (id, user_id, created_at, expires_at) \
         SELECT randomblob(16), id, 'now', 'later' FROM users",
    )
    .execute(&mut connection)
    .await
    .unwrap();

    let cases = [
        (
            "INSERT INTO users VALUES (randomblob(16), 'root@example.com', 'h', 'root', 0, \
             'now', 'now')",
            "CHECK constraint failed: users_role_check",
        ),
        (
            "INSERT INTO users VALUES (randomblob(16), 'Bob@example.com', 'h', 'user', 0, \
             'now', 'now')",
            "CHECK constraint failed: users_email_check",
        ),
        (
            "INSERT INTO users VALUES (randomblob(16), '', 'h', 'user', 0, 'now', 'now')",
            "CHECK constraint failed: users_email_check",
        ),
        (
            "INSERT INTO users VALUES (randomblob(16), 'alice@example.com', 'h', 'user', 0, \
             'now', 'now')",
            "UNIQUE constraint failed: users.email",
        ),
        (
            "INSERT INTO users VALUES (randomblob(16), 'bob@example.com', '', 'user', 0, \
             'now', 'now')",
            "CHECK constraint failed: users_password_hash_check",
        ),
        (
            "INSERT INTO users VALUES (randomblob(16), 'bob@example.com', 'h', 'user', 2, \
             'now', 'now')",
            "CHECK constraint failed: users_disabled_check",
        ),
        (
            "INSERT INTO users VALUES (randomblob(15), 'bob@example.com', 'h', 'user', 0, \
             'now', 'now')",
            "CHECK constraint failed: users_id_check",
        ),
        (
            "UPDATE sessions SET revoked_at = 'now', revoked_reason = 'bored'",
            "CHECK constraint failed: sessions_revoked_reason_check",
        ),
        (
            "UPDATE sessions SET revoked_at = 'now'",
            "CHECK constraint failed: sessions_revoked_check",
        ),
        (
            "UPDATE sessions SET revoked_reason = 'logout'",
            "CHECK constraint failed: sessions_revoked_check",
        ),
        (
            "INSERT INTO sessions (id, user_id, created_at, expires_at) \
             VALUES (randomblob(16), randomblob(16), 'now', 'later')",
            "FOREIGN KEY constraint failed",
        ),
        (
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
             SELECT zeroblob(31), id, 'now' FROM sessions",
            "CHECK constraint failed: refresh_tokens_token_hash_check",
        ),
        (
            "INSERT INTO login_throttle (key, failures, last_failure_at) VALUES ('ip:1', -1, 'now')",
            "CHECK constraint failed: login_throttle_failures_check",
        ),
        (
            "INSERT INTO login_throttle (key, failures, last_failure_at) VALUES ('', 1, 'now')",
            "CHECK constraint failed: login_throttle_key_check",
        ),
    ];
    for (sql, message) in cases {
        assert_eq!(refused(&mut connection, sql).await, message, "{sql}");
    }
    store.close().await;
}
