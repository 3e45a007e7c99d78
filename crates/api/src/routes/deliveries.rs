//! Webhook deliveries, for admins (API.md "Webhook deliveries"): an endpoint's deliveries with
//! every attempt, and an event queued again.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use coffre_domain::access;
use coffre_domain::event::EventId;
use coffre_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use coffre_domain::time::Timestamp;
use coffre_store::DeliveryFilter;
use coffre_store::deliveries::{Answer, Attempt, Delivery};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::listing::{ListBody, page_limit};
use super::webhooks::endpoint_id;
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/webhook-endpoints/{id}/deliveries", get(list))
        .route("/v1/events/{id}/redeliver", post(redeliver))
}

/// One attempt: an HTTP status, or why there was none.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookAttempt)]
pub(crate) struct AttemptBody {
    /// 1 for the first.
    number: u32,
    #[schema(value_type = String, format = DateTime)]
    attempted_at: Timestamp,
    /// The endpoint's HTTP status; null when it did not answer.
    response_code: Option<u16>,
    /// Why there was no answer (`timed_out`, `unreachable`, `address_refused`); else null.
    error: Option<&'static str>,
    duration_ms: u32,
    /// The start of the answer's body (at most 4 KiB); null when it had none.
    response_body: Option<String>,
}

impl From<&Attempt> for AttemptBody {
    fn from(attempt: &Attempt) -> Self {
        let (response_code, error) = match attempt.answer {
            Answer::Status(code) => (Some(code), None),
            Answer::None(reason) => (None, Some(reason.as_str())),
        };
        Self {
            number: attempt.number,
            attempted_at: attempt.attempted_at,
            response_code,
            error,
            duration_ms: attempt.duration_ms,
            response_body: attempt.response_body.clone(),
        }
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
pub(crate) struct DeliveryBody {
    #[schema(value_type = String, format = Uuid)]
    id: WebhookDeliveryId,
    #[schema(value_type = String, format = Uuid)]
    endpoint_id: WebhookEndpointId,
    #[schema(value_type = String, example = "evt_0193a5b0c1d27e3f8a9b0c1d2e3f4a5b")]
    event_id: EventId,
    #[schema(schema_with = super::openapi::event_type)]
    event_type: &'static str,
    /// `pending`, `succeeded` or `failed`.
    #[schema(example = "pending")]
    status: &'static str,
    /// When a pending delivery is tried next; null once it succeeded or failed.
    #[schema(value_type = Option<String>, format = DateTime)]
    next_attempt_at: Option<Timestamp>,
    /// Every attempt, oldest first.
    attempts: Vec<AttemptBody>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl From<&Delivery> for DeliveryBody {
    fn from(delivery: &Delivery) -> Self {
        Self {
            id: delivery.id,
            endpoint_id: delivery.endpoint_id,
            event_id: delivery.event_id,
            event_type: delivery.event_type.as_str(),
            status: delivery.status.as_str(),
            next_attempt_at: delivery.status.next_attempt_at(),
            attempts: delivery.attempts.iter().map(AttemptBody::from).collect(),
            created_at: delivery.created_at,
            updated_at: delivery.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeliveryQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// The id of the last item of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    starting_after: Option<WebhookDeliveryId>,
    /// Only deliveries in this state: `pending`, `succeeded` or `failed`.
    #[param(value_type = Option<String>, max_length = 16)]
    status: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{id}/deliveries",
    operation_id = "listWebhookDeliveries",
    tag = "webhooks",
    summary = "An endpoint's deliveries, newest first, each with its attempts (admin)",
    params(super::openapi::PathId, DeliveryQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = super::openapi::WebhookDeliveryList),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "WEBHOOK_ENDPOINT_NOT_FOUND"),
        (status = 422, description = "VALIDATION_FAILED"),
    ),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<DeliveryQuery>,
) -> Result<Json<ListBody<DeliveryBody>>, ApiError> {
    access::manage_webhooks(&caller.actor())?;
    let endpoint = endpoint_id(&id)?;
    let limit = page_limit(query.limit)?;
    state
        .store()
        .find_webhook_endpoint(endpoint)
        .await?
        .ok_or(ApiError::WebhookEndpointNotFound)?;
    let filter = match query.status.as_deref() {
        None => DeliveryFilter::All,
        Some(text) => DeliveryFilter::parse(text).ok_or_else(|| {
            ApiError::ValidationFailed("status must be pending, succeeded or failed".into())
        })?,
    };
    let page = state
        .store()
        .list_deliveries(endpoint, filter, limit, query.starting_after)
        .await?;
    Ok(Json(ListBody {
        data: page.data.iter().map(DeliveryBody::from).collect(),
        has_more: page.has_more,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/events/{id}/redeliver",
    operation_id = "redeliverEvent",
    tag = "webhooks",
    summary = "Queue an event again for every endpoint enabled and subscribed to its type (admin)",
    params(("id" = String, Path, description = "The event's id, evt_…")),
    responses(
        (status = 202, description = "The deliveries queued, due now", body = super::openapi::WebhookDeliveryList),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "EVENT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ListBody<DeliveryBody>>), ApiError> {
    access::manage_webhooks(&caller.actor())?;
    let id: EventId = id.parse().map_err(|_| ApiError::EventNotFound)?;
    let queued = state
        .store()
        .redeliver_event(id, Timestamp::now(), &caller.audit())
        .await?
        .ok_or(ApiError::EventNotFound)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ListBody {
            data: queued.iter().map(DeliveryBody::from).collect(),
            has_more: false,
        }),
    ))
}
