//! `/metrics` in Prometheus text: requests by matched route and status, their latency, ledger
//! commands by action and outcome, engine batch sizes, and the database pool.

use std::sync::OnceLock;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

const LATENCY_BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process's one recorder: metrics are global to a process, so every app in it (the tests
/// build many) shares the handle.
pub fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".to_owned()),
                    &LATENCY_BUCKETS,
                )
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full("coffre_engine_batch_size".to_owned()),
                        &BATCH_BUCKETS,
                    )
                });
            match builder.and_then(|builder| builder.install_recorder()) {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::warn!(%error, "metrics are disabled: no recorder could be installed");
                    None
                }
            }
        })
        .clone()
}

/// Counts every request by method, matched route (not the raw path: ids would explode the
/// label space) and status, and times it.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "coffre_http_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!(
        "coffre_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// One ledger command's outcome: `ok`, or the lower-cased error code it was refused with.
pub fn ledger_command(action: &'static str, outcome: &str) {
    metrics::counter!(
        "coffre_ledger_commands_total",
        "action" => action,
        "outcome" => outcome.to_owned()
    )
    .increment(1);
}

pub fn engine_batch(size: usize) {
    let size = u32::try_from(size).unwrap_or(u32::MAX);
    metrics::histogram!("coffre_engine_batch_size").record(f64::from(size));
}

/// `GET /metrics` and nothing else; anything else is a bare 404.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(render))
        .with_state(state)
}

async fn render(State(state): State<AppState>) -> Response {
    let pool = state.store().pool_stats();
    metrics::gauge!("coffre_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("coffre_db_pool_connections", "state" => "in_use")
        .set(f64::from(pool.size.saturating_sub(pool.idle)));
    metrics::gauge!("coffre_db_pool_max_connections").set(f64::from(pool.max));
    let in_flight = u32::try_from(state.admission().in_flight()).unwrap_or(u32::MAX);
    metrics::gauge!("coffre_http_in_flight_requests").set(f64::from(in_flight));
    let body = handle().map(|handle| handle.render()).unwrap_or_default();
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
