//! `serve` on a real socket: it answers with the full stack and stops on its signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coffre_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::support::state;

async fn send_raw(stream: &mut TcpStream, path: &str, connection: &str) {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: coffre\r\nConnection: {connection}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
}

async fn get_raw(address: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    send_raw(&mut stream, path, "close").await;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

async fn serve_answers_then_stops_on_its_signal(store: Arc<dyn Store>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stop_signal) = oneshot::channel::<()>();
    let server = tokio::spawn(coffre_api::serve(listener, state(store), async move {
        let _ = stop_signal.await;
    }));

    let healthz = get_raw(address, "/healthz").await;
    assert!(healthz.starts_with("HTTP/1.1 200 OK\r\n"), "{healthz}");
    assert!(healthz.contains("x-request-id: "), "{healthz}");
    assert!(healthz.ends_with(r#"{"status":"ok"}"#), "{healthz}");

    let missing = get_raw(address, "/missing").await;
    assert!(
        missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{missing}"
    );
    assert!(missing.contains(r#""code":"NOT_FOUND""#), "{missing}");

    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = TcpStream::connect(address).await.unwrap();
    send_raw(&mut idle, "/healthz", "keep-alive").await;
    let mut first_bytes = [0; 12];
    idle.read_exact(&mut first_bytes).await.unwrap();
    assert_eq!(&first_bytes, b"HTTP/1.1 200");

    stop.send(()).unwrap();
    let served = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns promptly once nothing is in flight")
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
    assert!(
        TcpStream::connect(address).await.is_err(),
        "the listener is closed after serve returns"
    );
}

on_both_backends!(serve_answers_then_stops_on_its_signal);
