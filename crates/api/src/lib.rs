//! Coffre's HTTP API (Axum): routes, extractors, the error envelope and the middleware every
//! request goes through. [`router`] builds the whole application; [`serve`] runs it.

pub mod auth;
mod code;
pub mod delivery;
pub mod dispatcher;
pub mod edge;
mod engine;
mod envelope;
mod error;
mod extract;
pub mod idempotency;
mod middleware;
mod request_id;
mod routes;
mod serve;
mod state;

use axum::Router;

pub use code::ErrorCode;
pub use error::ApiError;
pub use extract::{Json, MAX_MESSAGE_CHARS, Query};
pub use middleware::{
    BODY_READ_TIMEOUT, MAX_BODY_BYTES, MAX_IN_FLIGHT, MAX_IN_FLIGHT_PER_CLIENT, REQUEST_TIMEOUT,
    with_middleware,
};
pub use request_id::{REQUEST_ID_HEADER, RequestId};
pub use routes::{event_renderer, routes};
pub use serve::{
    ConnectionLimits, FRESH_CONNECTION_GRACE, HEADER_READ_TIMEOUT, MAX_CONNECTIONS,
    SHUTDOWN_DRAIN_LIMIT, serve, serve_router,
};
pub use state::{ApiSettings, AppState, JwtSecret, JwtSecretTooShort, RedisUrl, StateError};

/// The application: every route behind every middleware.
pub fn router(state: AppState) -> Router {
    with_middleware(routes(), state)
}

/// The metrics listener's application: `GET /metrics` alone, for operators, apart from the
/// API (its labels name routes, error rates and pool sizes).
pub fn metrics_router(state: AppState) -> Router {
    edge::metrics::router(state)
}
