//! Connections on a real socket cannot be held open on a client's say-so: idle, slow-header
//! and kept-alive connections are closed, a slow body is answered and cut, and past the
//! connection cap idle connections make room for new clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coffre_api::{ConnectionLimits, router, serve_router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::support::state;

/// How long a test waits for the server to close a connection; far beyond any deadline the
/// tests set, so only a connection that is never closed reaches it.
const PATIENCE: Duration = Duration::from_secs(30);

struct Running {
    address: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start(limits: ConnectionLimits) -> Running {
    let (store, data_dir) = coffre_store_sqlite::testing::fresh_store().await;
    let app = router(state(Arc::new(store)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _data_dir = data_dir;
        serve_router(
            listener,
            app,
            async move {
                let _ = stopped.await;
            },
            limits,
        )
        .await
    });
    Running {
        address,
        _stop: stop,
    }
}

/// Reads until the server closes the connection; what it sent before.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    match tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received)).await {
        Ok(Ok(_)) | Ok(Err(_)) => String::from_utf8_lossy(&received).into_owned(),
        Err(_) => panic!(
            "the server kept the connection open for {PATIENCE:?}: {:?}",
            String::from_utf8_lossy(&received)
        ),
    }
}

fn short_deadlines() -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let server = start(short_deadlines()).await;
    let mut idle = TcpStream::connect(server.address).await.unwrap();
    assert_eq!(until_closed(&mut idle).await, "");
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_closed() {
    let server = start(short_deadlines()).await;
    let mut slow = TcpStream::connect(server.address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: coffre\r\n")
        .await
        .unwrap();
    let received = until_closed(&mut slow).await;
    assert!(!received.contains("200 OK"), "{received}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = start(short_deadlines()).await;
    let mut kept = TcpStream::connect(server.address).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: coffre\r\n\r\n")
        .await
        .unwrap();
    let received = until_closed(&mut kept).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
    assert!(received.ends_with(r#"{"status":"ok"}"#), "{received}");
}

/// Takes the body deadline itself (a few seconds): it is a constant, not a setting.
#[tokio::test]
async fn a_body_that_does_not_arrive_is_answered_and_its_connection_closed() {
    let server = start(ConnectionLimits::default()).await;
    let mut slow = TcpStream::connect(server.address).await.unwrap();
    slow.write_all(
        b"POST /v1/auth/login HTTP/1.1\r\nHost: coffre\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"ema",
    )
    .await
    .unwrap();
    let received = until_closed(&mut slow).await;
    assert!(
        received.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{received}"
    );
    assert!(
        received.contains(r#""code":"MALFORMED_REQUEST""#),
        "{received}"
    );
}

#[tokio::test]
async fn past_the_cap_idle_connections_make_room_for_new_clients() {
    const CAP: usize = 16;
    let server = start(ConnectionLimits {
        // Long enough that only the cap can close anything here.
        header_read_timeout: Duration::from_secs(600),
        ..ConnectionLimits::with_max_connections(CAP)
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..CAP * 3 {
        idle.push(TcpStream::connect(server.address).await.unwrap());
    }
    // Every one of them is closed: beyond the cap at once, the others to make room.
    for stream in &mut idle {
        until_closed(stream).await;
    }
    // And a client that sends its request is served.
    let mut client = TcpStream::connect(server.address).await.unwrap();
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: coffre\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let received = until_closed(&mut client).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
}
