//! Connecting: a database that does not answer is `Unavailable`, quickly.

use std::time::{Duration, Instant};

use coffre_store::{Store, StoreError};
use coffre_store_postgres::{ACQUIRE_TIMEOUT, PgStore};

#[tokio::test]
async fn a_server_that_does_not_answer_is_unavailable() {
    let started = Instant::now();
    // Port 1 on the loopback: nothing listens there, so the connection is refused.
    let error = PgStore::connect("postgres://postgres@127.0.0.1:1/postgres", 2)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(started.elapsed() < ACQUIRE_TIMEOUT + Duration::from_secs(2));
}

#[tokio::test]
async fn a_missing_database_is_unavailable() {
    let server = coffre_store_postgres::testing::server_url();
    let (base, _) = server.rsplit_once('/').unwrap();
    let error = PgStore::connect(&format!("{base}/coffre_no_such_database"), 2)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_pool_of_no_connections_is_refused() {
    let error = PgStore::connect(&coffre_store_postgres::testing::server_url(), 0)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Internal(_)), "{error:?}");
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let store = coffre_store_postgres::testing::fresh_store().await;
    store.ping().await.unwrap();
    store.close().await;
    let error = store.ping().await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}
