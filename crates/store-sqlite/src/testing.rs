//! Test support (feature `test-support`): a fresh, migrated SQLite database file per test, in
//! a temporary directory that is removed when the returned [`TempDir`] drops, so keep it alive
//! as long as the store.
//!
//! ```text
//! let (store, _dir) = coffre_store_sqlite::testing::fresh_store().await;
//! let (store, url, _dir) = coffre_store_sqlite::testing::fresh_database().await;
//! ```

// Test support: a test cannot proceed without its database, so failing loudly with the reason
// is the most useful thing these helpers can do.
#![allow(clippy::expect_used)]

use std::path::Path;

use coffre_store::Store;
pub use tempfile::TempDir;

use crate::SqliteStore;

/// The database file's name inside the temporary directory.
pub const DATABASE_FILE: &str = "coffre.db";

/// The URL of the database file in `dir`.
pub fn database_url_in(dir: &Path) -> String {
    format!("sqlite://{}", dir.join(DATABASE_FILE).display())
}

/// A store on a new, migrated database, and the directory holding its file.
pub async fn fresh_store() -> (SqliteStore, TempDir) {
    let (store, _url, dir) = fresh_database().await;
    (store, dir)
}

/// A store on a new, migrated database, its URL (for raw SQL in a test, or a server process
/// started against it), and the directory holding its file.
pub async fn fresh_database() -> (SqliteStore, String, TempDir) {
    let dir = tempfile::tempdir().expect("create a temporary directory for the test database");
    let url = database_url_in(dir.path());
    let store = SqliteStore::connect(&url)
        .await
        .expect("open the test database");
    store.migrate().await.expect("migrate the test database");
    (store, url, dir)
}

/// A second store on the database at `url` whose connections may grow the file to at most
/// `pages` pages (`PRAGMA max_page_count`): past that every write fails as on a full disk
/// (`SQLITE_FULL`).
pub async fn store_limited_to_pages(url: &str, pages: u64) -> SqliteStore {
    let options = crate::options(url)
        .expect("parse the test database URL")
        .pragma("max_page_count", pages.to_string());
    SqliteStore::connect_with(options)
        .await
        .expect("open the test database")
}
