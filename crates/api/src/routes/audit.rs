//! `/v1/audit-events`: the audit log and its chain check, for admins.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use coffre_domain::access;
use coffre_domain::audit::{AuditAction, AuditEvent, ChainReport};
use coffre_domain::ids::{AuditEventId, UserId};
use coffre_store::AuditFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::listing::{ListBody, page_limit};
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Query, bounded};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/audit-events", get(list))
        .route("/v1/audit-events/verify", get(verify))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// The id of the last item of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    starting_after: Option<AuditEventId>,
    #[param(value_type = Option<String>, format = Uuid)]
    actor_id: Option<UserId>,
    #[param(schema_with = super::openapi::filter_text)]
    resource_type: Option<String>,
    #[param(schema_with = super::openapi::filter_text)]
    resource_id: Option<String>,
    #[param(schema_with = super::openapi::audit_action)]
    action: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/audit-events",
    operation_id = "listAuditEvents",
    tag = "audit",
    summary = "The audit log (admin)",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit events", body = super::openapi::AuditEventList),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
    ),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Json<ListBody<AuditEvent>>, ApiError> {
    access::read_audit_log(&caller.actor())?;
    let limit = page_limit(query.limit)?;
    let action = query
        .action
        .as_deref()
        .map(|text| {
            AuditAction::parse(text).ok_or_else(|| {
                ApiError::ValidationFailed(bounded(format!("unknown action {text:?}")))
            })
        })
        .transpose()?;
    let filter = AuditFilter {
        actor_id: query.actor_id,
        resource_type: query.resource_type,
        resource_id: query.resource_id,
        action,
    };
    let page = state
        .store()
        .list_audit_events(&filter, limit, query.starting_after)
        .await?;
    Ok(Json(ListBody {
        data: page.data,
        has_more: page.has_more,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/audit-events/verify",
    operation_id = "verifyAuditChain",
    tag = "audit",
    summary = "Check the hash chain (admin)",
    responses(
        (status = 200, description = "The chain check", body = super::openapi::ChainReport),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
    ),
    security(("bearer" = [])),
)]
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ChainReport>, ApiError> {
    access::read_audit_log(&caller.actor())?;
    Ok(Json(state.store().verify_audit_chain().await?))
}
