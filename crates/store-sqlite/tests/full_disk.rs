//! A full database (SQLite's `max_page_count`, which fails writes with `SQLITE_FULL` as a full
//! disk does) answers `Unavailable` (503) on every write, the first and every later one: a
//! connection whose transaction failed is never handed out again (it would refuse every later
//! BEGIN, a 500 forever). Reads keep working.

// Helpers shared by the test below fail the test the same way the test does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use coffre_domain::audit::AuditContext;
use coffre_domain::user::{Email, Role};
use coffre_store::{NewUser, PasswordHash, Store, StoreError};
use coffre_store_sqlite::testing::{fresh_database, store_limited_to_pages};
use sqlx::Connection as _;

/// More writes than the room left can take.
const WRITES: usize = 400;

fn new_user(n: usize) -> NewUser {
    NewUser {
        email: Email::parse(&format!("user-{n}@full.test")).unwrap(),
        // Long, so that the file fills in a few hundred users.
        password_hash: PasswordHash::new(format!("$argon2id$v=19${}", "x".repeat(2_000))),
        role: Role::User,
    }
}

#[tokio::test]
async fn a_full_database_answers_unavailable_on_every_write_and_reads_still_work() {
    let (store, url, _dir) = fresh_database().await;
    let pages: u64 = sqlx::query_scalar::<_, i64>("PRAGMA page_count")
        .fetch_one(&mut sqlx::SqliteConnection::connect(&url).await.unwrap())
        .await
        .unwrap()
        .try_into()
        .unwrap();
    store.close().await;
    let store = store_limited_to_pages(&url, pages + 20).await;

    let mut full_at = None;
    for n in 0..WRITES {
        match store
            .create_user(new_user(n), &AuditContext::default())
            .await
        {
            Ok(_) if full_at.is_none() => {}
            Ok(created) => panic!("write {n} succeeded after the database was full: {created:?}"),
            Err(StoreError::Unavailable(_)) => {
                full_at.get_or_insert(n);
            }
            Err(other) => panic!("write {n} failed with {other:?}, not Unavailable"),
        }
    }
    let full_at = full_at.expect("the database filled up");
    assert!(
        full_at > 0,
        "the first write already found the database full"
    );
    store.ping().await.unwrap();
    let login = store
        .find_login(&Email::parse("user-0@full.test").unwrap())
        .await
        .unwrap();
    assert!(login.is_some());
}
