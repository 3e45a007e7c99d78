//! `/v1/audit-events`: the audit log and its chain check, for admins.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use coffre_domain::access;
use coffre_domain::audit::{AuditAction, AuditEvent, ChainReport};
use coffre_domain::ids::{AuditEventId, UserId};
use coffre_store::AuditFilter;
use serde::Deserialize;

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<u64>,
    starting_after: Option<AuditEventId>,
    actor_id: Option<UserId>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    action: Option<String>,
}

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

async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ChainReport>, ApiError> {
    access::read_audit_log(&caller.actor())?;
    Ok(Json(state.store().verify_audit_chain().await?))
}
