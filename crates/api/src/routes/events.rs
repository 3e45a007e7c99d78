//! `/v1/events`: the event log, for admins (API.md "Events"), and the rendering of each event's
//! resource, which the store asks for inside the change's transaction.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use coffre_domain::access;
use coffre_domain::event::{EventId, EventObject};
use coffre_domain::time::Timestamp;
use coffre_store::{EventFilter, EventRecord, EventRenderer, Renderer, TypeFilter};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::bodies::{AccountBody, HoldBody, PaymentBody, TransactionBody, TransferBody};
use super::listing::{ListBody, page_limit};
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(list))
        .route("/v1/events/{id}", get(read))
}

/// Renders each event's resource with the very body its GET answers, so the two cannot drift.
struct Bodies;

impl EventRenderer for Bodies {
    fn render(&self, object: &EventObject) -> Result<String, serde_json::Error> {
        match object {
            EventObject::Account(account) => serde_json::to_string(&AccountBody::from(account)),
            EventObject::Transfer(transfer) => serde_json::to_string(&TransferBody::from(transfer)),
            EventObject::Transaction(transaction) => {
                serde_json::to_string(&TransactionBody::from(transaction))
            }
            EventObject::Payment(payment) => serde_json::to_string(&PaymentBody::from(payment)),
            EventObject::Hold(hold) => serde_json::to_string(&HoldBody::from(hold)),
        }
    }
}

/// The renderer every batch's events go through: the engine's and the expiry sweep's.
pub fn event_renderer() -> Renderer {
    Arc::new(Bodies)
}

/// `{id, type, created_at, data: {object}}`, the object as it was stored.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub(crate) struct EventBody {
    #[schema(value_type = String, example = "evt_0193a5b0c1d27e3f8a9b0c1d2e3f4a5b")]
    id: EventId,
    #[serde(rename = "type")]
    #[schema(schema_with = super::openapi::event_type)]
    event_type: &'static str,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    data: EventData,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventData {
    /// The resource (account, transfer, transaction, payment or hold) as its GET showed it right
    /// after the change.
    #[schema(value_type = Object)]
    object: Box<RawValue>,
}

impl EventBody {
    fn of(record: EventRecord) -> Result<Self, ApiError> {
        let object = RawValue::from_string(record.object)
            .map_err(|error| ApiError::Store(coffre_store::StoreError::Internal(error.into())))?;
        Ok(Self {
            id: record.id,
            event_type: record.event_type.as_str(),
            created_at: record.created_at,
            data: EventData { object },
        })
    }
}

/// An event as `GET /v1/events/{id}` answers it: the body of its webhook deliveries.
pub fn event_json(record: EventRecord) -> Result<String, ApiError> {
    serde_json::to_string(&EventBody::of(record)?)
        .map_err(|error| ApiError::Store(coffre_store::StoreError::Internal(error.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// The id of the last item of the previous page.
    #[param(value_type = Option<String>)]
    starting_after: Option<EventId>,
    /// One type (`payment.captured`), or a prefix ending in `*` (`payment.*`).
    #[serde(rename = "type")]
    #[param(value_type = Option<String>, max_length = 64)]
    event_type: Option<String>,
    /// RFC 3339: created at or after.
    #[param(value_type = Option<String>, format = DateTime)]
    created_gte: Option<Timestamp>,
    /// RFC 3339: created before.
    #[param(value_type = Option<String>, format = DateTime)]
    created_lt: Option<Timestamp>,
}

#[utoipa::path(
    get,
    path = "/v1/events",
    operation_id = "listEvents",
    tag = "events",
    summary = "The event log, newest first (admin)",
    params(EventQuery),
    responses(
        (status = 200, description = "A page of events", body = super::openapi::EventList),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 422, description = "VALIDATION_FAILED"),
    ),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<EventQuery>,
) -> Result<Json<ListBody<EventBody>>, ApiError> {
    access::read_events(&caller.actor())?;
    let limit = page_limit(query.limit)?;
    let event_type = query
        .event_type
        .as_deref()
        .map(|text| {
            TypeFilter::parse(text).ok_or_else(|| {
                ApiError::ValidationFailed(
                    "type must be an event type, or a prefix of one ending in *".into(),
                )
            })
        })
        .transpose()?;
    let filter = EventFilter {
        event_type,
        created_gte: query.created_gte,
        created_lt: query.created_lt,
    };
    let page = state
        .store()
        .list_events(&filter, limit, query.starting_after)
        .await?;
    Ok(Json(ListBody {
        data: page
            .data
            .into_iter()
            .map(EventBody::of)
            .collect::<Result<_, _>>()?,
        has_more: page.has_more,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    operation_id = "getEvent",
    tag = "events",
    summary = "One event (admin)",
    params(("id" = String, Path, description = "The event's id, evt_…")),
    responses(
        (status = 200, description = "The event", body = EventBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "EVENT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EventBody>, ApiError> {
    access::read_events(&caller.actor())?;
    let id: EventId = id.parse().map_err(|_| ApiError::EventNotFound)?;
    let record = state
        .store()
        .find_event(id)
        .await?
        .ok_or(ApiError::EventNotFound)?;
    Ok(Json(EventBody::of(record)?))
}
