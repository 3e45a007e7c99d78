//! The stack every route and fallback runs behind, outermost first:
//!
//! 1. request context: picks the request id, and on the way out gives every error its envelope
//!    and every response its `X-Request-Id`;
//! 2. tracing: one span per request carrying the request id, method and matched route, so every
//!    log line below it names the request; status and latency logged on response;
//! 3. metrics: every request counted by route and status, and timed;
//! 4. client IP (trusted proxies);
//! 5. admission: past [`MAX_IN_FLIGHT`] requests at once in the process, or
//!    [`MAX_IN_FLIGHT_PER_CLIENT`] from one client IP, 503 at once instead of a queue — before
//!    the rate limiter and any token check, so a shed request costs nothing;
//! 6. rate limits (429 with `Retry-After`);
//! 7. timeout: a request still running after [`REQUEST_TIMEOUT`] answers 503;
//! 8. panic catcher: a panicking handler answers a plain 500 (the panic text is only logged);
//! 9. body limits: [`MAX_BODY_BYTES`], refused up front from `Content-Length` and counted while
//!    reading a body that did not announce its length; and the body's deadline,
//!    [`BODY_READ_TIMEOUT`].

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::{Level, Span};

use crate::edge::admission::admit;
pub use crate::edge::admission::{MAX_IN_FLIGHT, MAX_IN_FLIGHT_PER_CLIENT};
use crate::edge::client_ip::client_ip;
pub use crate::edge::deadlines::BODY_READ_TIMEOUT;
use crate::edge::deadlines::body_deadline;
use crate::edge::metrics;
use crate::edge::rate_limit::rate_limit;
use crate::envelope;
use crate::error::ApiError;
use crate::request_id::{REQUEST_ID_HEADER, RequestId};
use crate::routes::{method_not_allowed, not_found};
use crate::state::AppState;

/// The largest request body accepted (API.md §2).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shorter than the shutdown drain, so a request cut off at shutdown has already answered.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Puts `routes` behind the whole middleware stack, with the fallbacks that turn unknown paths
/// and methods into enveloped 404 and 405. Tests merge their own routes into
/// [`routes()`](crate::routes) and call this, so they run behind the same stack as production.
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    // The recorder must be in place before the first request records anything.
    let _ = metrics::handle();
    let stack = ServiceBuilder::new()
        .layer(middleware::from_fn(request_context))
        .layer(middleware::from_fn(metrics::track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(LatencyUnit::Millis),
                )
                // Every 5xx is already logged with its cause, by ApiError or by the envelope.
                .on_failure(()),
        )
        .layer(middleware::from_fn_with_state(state.clone(), client_ip))
        .layer(middleware::from_fn_with_state(state.clone(), admit))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        // Outside the size limits, so that their refusals stay what the body reader sees.
        .layer(middleware::from_fn(body_deadline))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));

    routes
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(stack)
        .with_state(state)
}

async fn request_context(mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(request_id.clone());

    let mut response = envelope::finish(next.run(request).await, &request_id);
    // Always succeeds: a request id's characters are a subset of a header value's.
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

fn request_span(request: &Request<Body>) -> Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map_or("", RequestId::as_str);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        route,
        path = request.uri().path(),
    )
}

/// Runs inside the request span, so the logged panic names the request.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let text = if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-string payload".to_owned()
    };
    ApiError::Panicked(text).into_response()
}
