//! `/v1/webhook-endpoints`: where events are to be delivered, for admins (API.md "Webhook
//! endpoints"). A secret is answered once, by the request that made it.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffre_domain::access;
use coffre_domain::ids::WebhookEndpointId;
use coffre_domain::text::Description;
use coffre_domain::time::Timestamp;
use coffre_domain::webhook::{
    EndpointChange, EndpointUrl, EventTypes, WebhookEndpoint, WebhookSecret,
};
use coffre_store::EndpointAfter;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::listing::{ListBody, page_limit};
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::state::AppState;

/// Random bytes in a signing secret (Standard Webhooks: 24 to 64).
const SECRET_BYTES: usize = 32;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/webhook-endpoints", post(create).get(list))
        .route(
            "/v1/webhook-endpoints/{id}",
            get(read).patch(update).delete(delete),
        )
        .route("/v1/webhook-endpoints/{id}/rotate-secret", post(rotate))
}

/// `whsec_` and the base64 of fresh random bytes.
fn new_secret() -> WebhookSecret {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    WebhookSecret::new(format!("whsec_{}", STANDARD.encode(bytes)))
}

/// An endpoint as answered: never its secrets.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpoint)]
pub(crate) struct EndpointBody {
    #[schema(value_type = String, format = Uuid)]
    id: WebhookEndpointId,
    url: String,
    event_types: Vec<String>,
    #[schema(required = true)]
    description: Option<String>,
    enabled: bool,
    /// Until when the secret rotated out still signs beside the new one; else null.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    previous_secret_expires_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl From<&WebhookEndpoint> for EndpointBody {
    fn from(endpoint: &WebhookEndpoint) -> Self {
        Self {
            id: endpoint.id,
            url: endpoint.url.as_str().to_owned(),
            event_types: endpoint.event_types.names(),
            description: endpoint
                .description
                .as_ref()
                .map(|text| text.as_str().to_owned()),
            enabled: endpoint.enabled,
            previous_secret_expires_at: endpoint
                .previous_secret
                .as_ref()
                .map(|previous| previous.until),
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
        }
    }
}

/// The answer that makes a secret: the endpoint and, this once, the secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpointWithSecret)]
pub(crate) struct WithSecretBody {
    #[serde(flatten)]
    endpoint: EndpointBody,
    /// `whsec_` and the base64 of 32 random bytes; never shown again.
    secret: String,
}

impl From<&WebhookEndpoint> for WithSecretBody {
    fn from(endpoint: &WebhookEndpoint) -> Self {
        Self {
            endpoint: endpoint.into(),
            secret: endpoint.secret.expose().to_owned(),
        }
    }
}

fn url(state: &AppState, text: &str) -> Result<EndpointUrl, ApiError> {
    EndpointUrl::parse(text, state.settings().webhook_allow_insecure)
        .map_err(|refused| ApiError::ValidationFailed(refused.to_string()))
}

fn event_types(texts: &[String]) -> Result<EventTypes, ApiError> {
    EventTypes::parse(texts.iter().map(String::as_str))
        .map_err(|refused| ApiError::ValidationFailed(refused.to_string()))
}

pub(super) fn endpoint_id(text: &str) -> Result<WebhookEndpointId, ApiError> {
    text.parse().map_err(|_| ApiError::WebhookEndpointNotFound)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateWebhookEndpointRequest)]
pub(crate) struct CreateBody {
    /// `https://…` (`http://` only with `COFFRE_WEBHOOK_ALLOW_INSECURE=true`), at most 2048
    /// characters.
    url: String,
    /// Event types (`payment.captured`), nouns (`payment.*`) or `*`; at least one.
    event_types: Vec<String>,
    /// At most 500 characters.
    description: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints",
    operation_id = "createWebhookEndpoint",
    tag = "webhooks",
    summary = "Subscribe an endpoint to events (admin)",
    request_body = CreateBody,
    responses(
        (status = 201, description = "The endpoint, with its secret (shown only here)", body = WithSecretBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 422, description = "VALIDATION_FAILED"),
    ),
    security(("bearer" = [])),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateBody>,
) -> Result<Response, ApiError> {
    access::manage_webhooks(&caller.actor())?;
    let now = Timestamp::now();
    let endpoint = WebhookEndpoint {
        id: WebhookEndpointId::new(),
        url: url(&state, &body.url)?,
        event_types: event_types(&body.event_types)?,
        description: body
            .description
            .map(Description::parse)
            .transpose()
            .map_err(|error| ApiError::ValidationFailed(format!("description: {error}")))?,
        enabled: true,
        secret: new_secret(),
        previous_secret: None,
        created_at: now,
        updated_at: now,
    };
    let answer = WithSecretBody::from(&endpoint);
    state
        .store()
        .create_webhook_endpoint(endpoint, &caller.audit())
        .await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// The id of the last item of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    starting_after: Option<WebhookEndpointId>,
}

#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints",
    operation_id = "listWebhookEndpoints",
    tag = "webhooks",
    summary = "The endpoints, newest first (admin)",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of endpoints", body = super::openapi::WebhookEndpointList),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
    ),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<ListBody<EndpointBody>>, ApiError> {
    access::manage_webhooks(&caller.actor())?;
    let limit = page_limit(query.limit)?;
    let page = state
        .store()
        .list_webhook_endpoints(limit, query.starting_after)
        .await?;
    Ok(Json(ListBody {
        data: page.data.iter().map(EndpointBody::from).collect(),
        has_more: page.has_more,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{id}",
    operation_id = "getWebhookEndpoint",
    tag = "webhooks",
    summary = "One endpoint (admin)",
    params(super::openapi::PathId),
    responses(
        (status = 200, description = "The endpoint", body = EndpointBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "WEBHOOK_ENDPOINT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EndpointBody>, ApiError> {
    access::manage_webhooks(&caller.actor())?;
    let endpoint = state
        .store()
        .find_webhook_endpoint(endpoint_id(&id)?)
        .await?
        .ok_or(ApiError::WebhookEndpointNotFound)?;
    Ok(Json(EndpointBody::from(&endpoint)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateWebhookEndpointRequest)]
pub(crate) struct UpdateBody {
    url: Option<String>,
    event_types: Option<Vec<String>>,
    enabled: Option<bool>,
}

/// Runs `change` on the endpoint in the store's transaction.
async fn change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: EndpointChange,
) -> Result<EndpointAfter, ApiError> {
    state
        .store()
        .change_webhook_endpoint(endpoint_id(id)?, change, &caller.audit())
        .await?
        .ok_or(ApiError::WebhookEndpointNotFound)
}

#[utoipa::path(
    patch,
    path = "/v1/webhook-endpoints/{id}",
    operation_id = "updateWebhookEndpoint",
    tag = "webhooks",
    summary = "Change an endpoint's URL, types or whether it is enabled (admin)",
    params(super::openapi::PathId),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The endpoint", body = EndpointBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "WEBHOOK_ENDPOINT_NOT_FOUND"),
        (status = 422, description = "VALIDATION_FAILED"),
    ),
    security(("bearer" = [])),
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateBody>,
) -> Result<Json<EndpointBody>, ApiError> {
    access::manage_webhooks(&caller.actor())?;
    let asked = EndpointChange::Update {
        url: body
            .url
            .as_deref()
            .map(|text| url(&state, text))
            .transpose()?,
        event_types: body.event_types.as_deref().map(event_types).transpose()?,
        enabled: body.enabled,
    };
    match change(&state, &caller, &id, asked).await? {
        EndpointAfter::Kept(endpoint) => Ok(Json(EndpointBody::from(&endpoint))),
        EndpointAfter::Deleted => Err(ApiError::WebhookEndpointNotFound),
    }
}

#[utoipa::path(
    delete,
    path = "/v1/webhook-endpoints/{id}",
    operation_id = "deleteWebhookEndpoint",
    tag = "webhooks",
    summary = "Remove an endpoint (admin)",
    params(super::openapi::PathId),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "WEBHOOK_ENDPOINT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    access::manage_webhooks(&caller.actor())?;
    change(&state, &caller, &id, EndpointChange::Delete).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{id}/rotate-secret",
    operation_id = "rotateWebhookSecret",
    tag = "webhooks",
    summary = "A new secret; the old one signs beside it for 24 h (admin)",
    params(super::openapi::PathId),
    responses(
        (status = 200, description = "The endpoint, with its new secret (shown only here)", body = WithSecretBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "WEBHOOK_ENDPOINT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WithSecretBody>, ApiError> {
    access::manage_webhooks(&caller.actor())?;
    match change(
        &state,
        &caller,
        &id,
        EndpointChange::RotateSecret(new_secret()),
    )
    .await?
    {
        EndpointAfter::Kept(endpoint) => Ok(Json(WithSecretBody::from(&endpoint))),
        EndpointAfter::Deleted => Err(ApiError::WebhookEndpointNotFound),
    }
}
