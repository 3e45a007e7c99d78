//! Serving a router on a listener until shutdown, then draining; and the limits every
//! connection lives under.
//!
//! A connection costs a file descriptor whether or not it sends anything, so none may stay
//! open on a client's say-so alone:
//! - the request head must arrive within [`HEADER_READ_TIMEOUT`] of the moment the server
//!   starts waiting for it, which is also how long an idle keep-alive connection is kept (the
//!   wait for the next request is a wait for its head); a connection that never sends a byte
//!   is closed after it too; the body has its own deadline
//!   ([`BODY_READ_TIMEOUT`](crate::BODY_READ_TIMEOUT));
//! - at most [`ConnectionLimits::max_connections`] are open at once; once fewer than
//!   [`ConnectionLimits::headroom`] are left, every connection that is idle (and has been open
//!   at least [`FRESH_CONNECTION_GRACE`]) is closed, busy ones after their response, so that
//!   new clients always find room; a connection beyond the cap is closed at once.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::router;
use crate::state::AppState;

/// How long in-flight requests may run after shutdown begins. Longer than
/// [`REQUEST_TIMEOUT`](crate::REQUEST_TIMEOUT), so only a client stuck sending or reading
/// can reach it, and such a client must not hold the process up.
pub const SHUTDOWN_DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// How long a request's head (request line and headers) may take to arrive, and so how long
/// an idle connection, fresh or kept alive, stays open.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections open at once, when the descriptor limit allows as many.
pub const MAX_CONNECTIONS: usize = 8_192;

/// A connection younger than this is not closed to make room: a client that has just
/// connected has had no time to send its request yet.
pub const FRESH_CONNECTION_GRACE: Duration = Duration::from_secs(1);

/// After a failed `accept` (out of descriptors, say), the pause before the next: without it
/// the loop would spin on the same error.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The limits of [`serve_router`]'s connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// When fewer than this many connections are left, idle ones are closed.
    pub headroom: usize,
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self::with_max_connections(MAX_CONNECTIONS)
    }
}

impl ConnectionLimits {
    /// `max_connections` (at least one), with a tenth of them kept as headroom.
    pub fn with_max_connections(max_connections: usize) -> Self {
        let max_connections = max_connections.max(1);
        Self {
            max_connections,
            headroom: (max_connections / 10).max(1),
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

/// Serves the application with the default [`ConnectionLimits`]; see [`serve_router`].
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(
        listener,
        router(state),
        shutdown,
        ConnectionLimits::default(),
    )
    .await
}

/// Serves `app` until `shutdown` completes, then stops accepting, lets in-flight requests
/// finish for at most [`SHUTDOWN_DRAIN_LIMIT`], and returns. Handlers see the peer address
/// through `ConnectInfo<SocketAddr>`.
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    // Connections wind down (close when idle) when `pressure` or `stop` changes.
    let (pressure, _) = watch::channel(());
    let (stop, _) = watch::channel(());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&open).try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: every connection slot is taken");
            pressure.send_replace(());
            continue;
        };
        // Subscribed first, so the connection that reaches the headroom is wound down too.
        let mut pressure_changes = pressure.subscribe();
        let mut stop_changes = stop.subscribe();
        if open.available_permits() < limits.headroom {
            pressure.send_replace(());
        }
        let connection = builder.serve_connection(TokioIo::new(configured(stream)), {
            let app = app
                .clone()
                .map_request(move |mut request: http::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
            TowerToHyperService::new(app)
        });
        tokio::spawn(async move {
            let _slot = slot;
            let opened = Instant::now();
            let grace_over = opened.checked_add(FRESH_CONNECTION_GRACE).unwrap_or(opened);
            let mut connection = pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stop_changes.changed() => {}
                _ = pressure_changes.changed() => {
                    tokio::select! {
                        _ = connection.as_mut() => return,
                        () = tokio::time::sleep_until(grace_over) => {}
                        _ = stop_changes.changed() => {}
                    }
                }
            }
            // Closes the connection at once if it is idle, else after its response.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    stop.send_replace(());
    let every_slot = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_DRAIN_LIMIT, open.acquire_many(every_slot))
        .await
        .is_err()
    {
        tracing::warn!(
            limit_secs = SHUTDOWN_DRAIN_LIMIT.as_secs(),
            "in-flight requests outlived the shutdown drain; abandoning them"
        );
    }
    Ok(())
}

/// Without TCP_NODELAY, the second of two small writes on a keep-alive connection waits for
/// the peer's delayed ACK (up to 40 ms on Linux) once the connection has left TCP's quick-ACK
/// start. The benchmark's client hit it on its side (payments at 250/s, 650/s without it);
/// the server's own writes, split whenever a body is not sent with its headers, must not.
fn configured(stream: TcpStream) -> TcpStream {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::warn!(%error, "could not set TCP_NODELAY on a connection");
    }
    stream
}
