//! Test support (feature `test-support`): a fresh, migrated PostgreSQL database per test.
//!
//! Databases are created on the server at `TEST_DATABASE_URL` (default
//! [`DEFAULT_TEST_DATABASE_URL`]), whose role must be allowed to create databases. Each is named
//! `coffre_test_<uuid v7>` and left behind after the test, for inspection; the first call in a
//! process drops those more than an hour old.
//!
//! ```text
//! let store = coffre_store_postgres::testing::fresh_store().await;
//! let (store, url) = coffre_store_postgres::testing::fresh_database().await;
//! ```

// Test support: a test cannot proceed without its database, so failing loudly with the reason
// is the most useful thing these helpers can do.
#![allow(clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffre_store::Store;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use uuid::Uuid;

use crate::PgStore;

/// The server tests use when `TEST_DATABASE_URL` is unset.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Every test database's name starts with this.
pub const TEST_DATABASE_PREFIX: &str = "coffre_test_";

/// Enough for the conformance suite's concurrent writers to contend for real.
pub const TEST_POOL_CONNECTIONS: u32 = 8;

/// Test databases older than this are leftovers of earlier runs.
const LEFTOVER_AGE: Duration = Duration::from_secs(60 * 60);

static LEFTOVERS_DROPPED: AtomicBool = AtomicBool::new(false);

/// The URL of the server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// A store on a new, migrated database of its own.
pub async fn fresh_store() -> PgStore {
    fresh_database().await.0
}

/// A store on a new, migrated database of its own, and that database's URL (for raw SQL in a
/// test, or a server process started against it).
pub async fn fresh_database() -> (PgStore, String) {
    let server: PgConnectOptions = server_url()
        .parse()
        .unwrap_or_else(|error| panic!("TEST_DATABASE_URL is not a PostgreSQL URL: {error}"));
    let mut admin = PgConnection::connect_with(&server)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot reach the PostgreSQL server for tests ({error}); start it, or point \
             TEST_DATABASE_URL at one whose role may create databases"
            )
        });
    if !LEFTOVERS_DROPPED.swap(true, Ordering::SeqCst) {
        drop_leftovers(&mut admin).await;
    }

    let name = format!("{TEST_DATABASE_PREFIX}{}", Uuid::now_v7().simple());
    // The name is built from a UUID, never from input, so it is safe to splice.
    sqlx::raw_sql(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|error| panic!("cannot create test database {name}: {error}"));
    admin.close().await.ok();

    let url = server.database(&name).to_url_lossy().to_string();
    let store = PgStore::connect(&url, TEST_POOL_CONNECTIONS)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to test database {name}: {error}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|error| panic!("cannot migrate test database {name}: {error}"));
    (store, url)
}

/// Drops test databases whose name (a UUID v7, so a creation time) says they are over
/// [`LEFTOVER_AGE`] old. Best effort: another process may be dropping the same ones.
async fn drop_leftovers(admin: &mut PgConnection) {
    let names = sqlx::query_scalar!(
        r"SELECT datname AS name FROM pg_database WHERE datname LIKE 'coffre\_test\_%'"
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    for name in names.into_iter().filter(|name| is_leftover(name)) {
        let drop = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
        if let Err(error) = sqlx::raw_sql(AssertSqlSafe(drop))
            .execute(&mut *admin)
            .await
        {
            tracing::warn!(%name, "could not drop a leftover test database: {error}");
        }
    }
}

fn is_leftover(name: &str) -> bool {
    let created = name
        .strip_prefix(TEST_DATABASE_PREFIX)
        .and_then(|suffix| Uuid::try_parse(suffix).ok())
        .and_then(|uuid| uuid.get_timestamp())
        .and_then(|timestamp| {
            let (secs, _) = timestamp.to_unix();
            UNIX_EPOCH.checked_add(Duration::from_secs(secs))
        });
    created.is_some_and(|created| {
        SystemTime::now()
            .duration_since(created)
            .is_ok_and(|age| age > LEFTOVER_AGE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_test_databases_are_leftovers() {
        let fresh = format!("{TEST_DATABASE_PREFIX}{}", Uuid::now_v7().simple());
        assert!(!is_leftover(&fresh));
        let old = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            1_000_000_000,
            0,
        ));
        assert!(is_leftover(&format!(
            "{TEST_DATABASE_PREFIX}{}",
            old.simple()
        )));
        assert!(!is_leftover("coffre_test_not_a_uuid"));
        assert!(!is_leftover("postgres"));
    }
}
