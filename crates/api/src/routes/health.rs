//! Probes for orchestrators: `/healthz` (the process runs) and `/readyz` (it can serve).
//! `/metrics` has a listener of its own ([`crate::metrics_router`]).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use coffre_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

/// A database that takes longer than this to answer a ping is as good as down to a probe, and a
/// probe must answer before its own timeout (often 1–5 s) to mean anything.
pub const READINESS_PING_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HealthStatus)]
pub(crate) struct Status {
    status: &'static str,
}

const OK: Status = Status { status: "ok" };

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "getHealth",
    tag = "operations",
    summary = "The process runs",
    responses(
        (status = 200, description = "The process runs", body = Status),
    ),
)]
async fn healthz() -> Json<Status> {
    Json(OK)
}

#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "getReadiness",
    tag = "operations",
    summary = "The database answers",
    responses(
        (status = 200, description = "The database answers", body = Status),
    ),
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    match tokio::time::timeout(READINESS_PING_TIMEOUT, state.store().ping()).await {
        Ok(Ok(())) => Ok(Json(OK)),
        Ok(Err(error)) => Err(ApiError::NotReady(error)),
        Err(_elapsed) => Err(ApiError::NotReady(StoreError::Unavailable(Box::new(
            PingTimedOut,
        )))),
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "the database did not answer a ping within {:?}",
    READINESS_PING_TIMEOUT
)]
struct PingTimedOut;
