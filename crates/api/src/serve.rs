//! Serving the router on a listener until shutdown, then draining.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::router;
use crate::state::AppState;

/// How long in-flight requests may run after shutdown begins. Longer than
/// [`REQUEST_TIMEOUT`](crate::REQUEST_TIMEOUT), so only a client stuck sending or reading
/// can reach it, and such a client must not hold the process up.
pub const SHUTDOWN_DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
/// for at most [`SHUTDOWN_DRAIN_LIMIT`], and returns. Handlers see the peer address through
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let draining = Arc::new(Notify::new());
    let signal = {
        let draining = Arc::clone(&draining);
        async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            draining.notify_one();
        }
    };
    // Without TCP_NODELAY, the second of two small writes on a keep-alive connection waits for
    // the peer's delayed ACK (up to 40 ms on Linux) once the connection has left TCP's quick-ACK
    // start. The benchmark's client hit it on its side (payments at 250/s, 650/s without it);
    // the server's own writes, split whenever a body is not sent with its headers, must not.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY on a connection");
        }
    });
    let server = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal);

    tokio::select! {
        served = server.into_future() => served,
        () = drain_deadline(&draining) => {
            tracing::warn!(
                limit_secs = SHUTDOWN_DRAIN_LIMIT.as_secs(),
                "in-flight requests outlived the shutdown drain; abandoning them"
            );
            Ok(())
        }
    }
}

async fn drain_deadline(draining: &Notify) {
    draining.notified().await;
    tokio::time::sleep(SHUTDOWN_DRAIN_LIMIT).await;
}
