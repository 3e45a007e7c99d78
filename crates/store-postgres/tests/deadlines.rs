//! The money path's deadlines on PostgreSQL, against a real server: a lock held elsewhere
//! longer than `lock_timeout`, and a connection whose peer goes silent (a proxy that stops
//! forwarding), each fail their batch with 503 (`Unavailable`), and the next batch succeeds.
//!
//! Each waits on the batch under [`HANG_GUARD`], far above every deadline, only so that a
//! regression fails the test instead of hanging it.

// Helpers shared by the tests below fail the test the same way the tests do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use coffre_domain::audit::AuditContext;
use coffre_domain::ids::HoldId;
use coffre_domain::ledger::Action;
use coffre_store::{Executed, LedgerRequest, Origin, Store, StoreError};
use coffre_store_postgres::PgStore;
use coffre_store_postgres::testing::fresh_database;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HANG_GUARD: Duration = Duration::from_secs(120);

/// A batch that reads and locks the `holds` table and decides a refusal: enough to need the
/// database, with no users or accounts to set up.
fn sweep_of_nothing() -> Vec<LedgerRequest> {
    vec![LedgerRequest {
        origin: Origin::System,
        context: AuditContext::default(),
        action: Action::ExpireHold {
            hold_id: HoldId::new(),
            payment_id: None,
        },
    }]
}

async fn execute(store: &PgStore) -> Result<Executed, StoreError> {
    let mut results = tokio::time::timeout(
        HANG_GUARD,
        store.commit_batch(sweep_of_nothing(), coffre_store::conformance::id_renderer()),
    )
    .await
    .expect("the batch ended");
    assert_eq!(results.len(), 1);
    results.remove(0)
}

fn assert_decided(result: Result<Executed, StoreError>) {
    match result {
        Ok(executed) => assert!(executed.result().is_some(), "{executed:?}"),
        Err(error) => panic!("expected a decided batch, got {error:?}"),
    }
}

#[tokio::test]
async fn a_lock_held_elsewhere_fails_the_batch_with_503_and_the_next_one_succeeds() {
    let (store, url) = fresh_database().await;
    let mut holder = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE holds IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();

    let error = execute(&store).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");

    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    assert_decided(execute(&store).await);
}

#[tokio::test]
async fn a_silent_connection_misses_the_deadline_and_is_not_reused() {
    let (_store, url) = fresh_database().await;
    let target: PgConnectOptions = url.parse().unwrap();
    let proxy = Proxy::start(target.get_host(), target.get_port()).await;
    let through_proxy = target
        .host("127.0.0.1")
        .port(proxy.port)
        .to_url_lossy()
        .to_string();
    let store = PgStore::connect(&through_proxy, 1).await.unwrap();
    assert_decided(execute(&store).await);

    // The connections already open go silent: what a dead peer without RST looks like.
    proxy.silence_open_connections();
    let cut = std::time::Instant::now();
    let error = execute(&store).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    let failed_after = cut.elapsed();

    // Only the silenced connection is dead: the next batch runs on a new one, which works.
    assert_decided(execute(&store).await);
    // A figure for the record (`--nocapture`), not a check: how long the money path was out.
    eprintln!(
        "503 after {failed_after:?}; serving again {:?} after the cut",
        cut.elapsed()
    );
}

/// A TCP proxy to the database that can stop forwarding on every connection it has open,
/// without closing them.
struct Proxy {
    port: u16,
    generation: Arc<AtomicU64>,
}

impl Proxy {
    async fn start(host: &str, port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap().port();
        let generation = Arc::new(AtomicU64::new(0));
        let target = format!("{host}:{port}");
        let current = Arc::clone(&generation);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                let born = current.load(Ordering::SeqCst);
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, Arc::clone(&current), born));
                tokio::spawn(pump(server_read, client_write, Arc::clone(&current), born));
            }
        });
        Self {
            port: local,
            generation,
        }
    }

    fn silence_open_connections(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// Copies bytes one way while the proxy's generation is still the connection's; after that
/// it swallows them, keeping both sockets open.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    generation: Arc<AtomicU64>,
    born: u64,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if generation.load(Ordering::SeqCst) != born {
            continue;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
