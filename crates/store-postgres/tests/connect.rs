//! Connecting: a database that does not answer is `Unavailable`, quickly; of several hosts,
//! the first writable one is used.

// The URL helper below is test code outside a #[test] function.
#![allow(clippy::unwrap_used)]

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

/// The shared server's URL with `hosts` in place of its host and `query` after it.
fn with_hosts(hosts: &str, query: &str) -> String {
    let server = coffre_store_postgres::testing::server_url();
    let (scheme, rest) = server.split_once("://").unwrap();
    let (user, rest) = rest.rsplit_once('@').unwrap();
    let (_, database) = rest.split_once('/').unwrap();
    format!("{scheme}://{user}@{hosts}/{database}?{query}")
}

#[tokio::test]
async fn of_several_hosts_the_first_writable_one_is_used() {
    let server: sqlx::postgres::PgConnectOptions = coffre_store_postgres::testing::server_url()
        .parse()
        .unwrap();
    let live = format!("{}:{}", server.get_host(), server.get_port());
    // Nothing listens on port 1: that host is skipped for the live one after it.
    let url = with_hosts(
        &format!("127.0.0.1:1,{live}"),
        "target_session_attrs=read-write",
    );
    let store = PgStore::connect(&url, 2).await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn a_read_only_server_is_refused_when_read_write_is_asked() {
    let server: sqlx::postgres::PgConnectOptions = coffre_store_postgres::testing::server_url()
        .parse()
        .unwrap();
    let live = format!("{}:{}", server.get_host(), server.get_port());
    // Sessions that start read-only, as on a standby.
    let read_only = "options=-c%20default_transaction_read_only%3Don";
    let error = PgStore::connect(
        &with_hosts(
            &live,
            &format!("{read_only}&target_session_attrs=read-write"),
        ),
        2,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    let error = PgStore::connect(
        &with_hosts(
            &format!("{live},{live}"),
            &format!("{read_only}&target_session_attrs=read-write"),
        ),
        2,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    // Without read-write asked, the same server is taken as it is.
    let store = PgStore::connect(&with_hosts(&live, read_only), 2)
        .await
        .unwrap();
    store.ping().await.unwrap();
    store.close().await;
}
