//! `/v1/holds`: reserve money for another account, post it in parts, void the rest, and read.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::TimeDelta;
use coffre_domain::access::{self, HoldParties};
use coffre_domain::audit::ResourceType;
use coffre_domain::hold::HoldState;
use coffre_domain::ids::{AccountId, HoldId, TransferId};
use coffre_domain::ledger::Action;
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Amount, AmountText, Currency, Money};
use coffre_domain::relabel::Labelled;
use coffre_store::{HoldFilter, HoldRecord};
use http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::bodies::{HoldBody, TransferBody};
use super::command::{Command, KeyOptional, KeyRequired, NoBody};
use super::listing::{ListBody, answer_page, page_limit, party_filter};
use super::payments::AmountBody;
use super::reads::{Item, Read, audit_read};
use super::relabel::{RelabelBody, relabel};
use crate::auth::caller::{Bearer, Caller};
use crate::error::ApiError;
use crate::extract::{FilteredQuery, Json};
use crate::state::AppState;

/// A hold's lifetime when the request names none: a week, as a card authorization's.
const HOLD_TTL_DEFAULT_SECS: u64 = 604_800;

/// The longest lifetime a hold may ask for: 30 days. A hold locks its sender's money; one that
/// is forgotten must still give it back.
const HOLD_TTL_MAX_SECS: u64 = 2_592_000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/holds", post(create).get(list))
        .route("/v1/holds/{id}", get(read).patch(update))
        .route("/v1/holds/{id}/post", post(post_hold))
        .route("/v1/holds/{id}/void", post(void))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateHoldRequest)]
pub(crate) struct CreateBody {
    #[schema(value_type = String, format = Uuid)]
    from_account_id: AccountId,
    #[schema(value_type = String, format = Uuid)]
    to_account_id: AccountId,
    #[schema(schema_with = super::openapi::amount)]
    amount: AmountText,
    #[schema(schema_with = super::openapi::currency)]
    currency: String,
    /// 1 to 2592000 (30 days); default 604800 (7 days).
    #[schema(minimum = 1, maximum = 2_592_000)]
    expires_in_secs: Option<u64>,
    /// The client's labels: at most 50 keys of 1 to 40 characters, values of at most 500.
    #[schema(value_type = Option<HashMap<String, String>>)]
    metadata: Option<Metadata>,
}

/// The lifetime asked for, within 1 s and [`HOLD_TTL_MAX_SECS`].
fn ttl(expires_in_secs: Option<u64>) -> Result<TimeDelta, ApiError> {
    let secs = expires_in_secs.unwrap_or(HOLD_TTL_DEFAULT_SECS);
    if !(1..=HOLD_TTL_MAX_SECS).contains(&secs) {
        return Err(ApiError::ValidationFailed(format!(
            "expires_in_secs must be between 1 and {HOLD_TTL_MAX_SECS}"
        )));
    }
    i64::try_from(secs)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .ok_or_else(|| ApiError::ValidationFailed("expires_in_secs is out of range".into()))
}

#[utoipa::path(
    post,
    path = "/v1/holds",
    operation_id = "createHold",
    tag = "holds",
    summary = "Reserve money for another account (the source's owner, admin)",
    params(KeyRequired),
    request_body = CreateBody,
    responses(
        (status = 201, description = "The hold", body = HoldBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
        (status = 422, description = "SAME_ACCOUNT, CURRENCY_MISMATCH, ACCOUNT_FROZEN, INSUFFICIENT_FUNDS"),
    ),
    security(("bearer" = [])),
)]
async fn create(
    State(state): State<AppState>,
    command: Command<CreateBody, KeyRequired>,
) -> Result<Response, ApiError> {
    command
        .submit(&state, StatusCode::CREATED, |body, _| {
            let currency = Currency::parse(&body.currency)
                .map_err(|error| ApiError::ValidationFailed(format!("currency: {error}")))?;
            let amount = body
                .amount
                .parse(currency)
                .map_err(|error| ApiError::ValidationFailed(format!("amount: {error}")))?;
            Ok(Action::CreateHold {
                id: HoldId::new(),
                from: body.from_account_id,
                to: body.to_account_id,
                money: Money { amount, currency },
                ttl: ttl(body.expires_in_secs)?,
                metadata: body.metadata.unwrap_or_default(),
            })
        })
        .await
}

fn hold_id(text: &str) -> Result<HoldId, ApiError> {
    text.parse().map_err(|_| ApiError::HoldNotFound)
}

/// Parses an optional amount at the hold's scale. The currency is read from the hold, which
/// never changes it; a hold the caller may not see answers as the engine would. That check
/// needs the caller's role, so an amount costs a session read before the batch.
async fn amount_of(
    state: &AppState,
    bearer: &Bearer,
    id: HoldId,
    amount: Option<AmountText>,
) -> Result<Option<Amount>, ApiError> {
    let Some(amount) = amount else {
        return Ok(None);
    };
    let caller = bearer.authenticate(state).await?;
    let record = visible(state, &caller, id).await?;
    let currency = record.hold.terms().money.currency;
    amount
        .parse(currency)
        .map(Some)
        .map_err(|error| ApiError::ValidationFailed(format!("amount: {error}")))
}

#[utoipa::path(
    post,
    path = "/v1/holds/{id}/post",
    operation_id = "postHold",
    tag = "holds",
    summary = "Move held money to the destination (either party's owner, admin)",
    params(super::openapi::PathId, KeyRequired),
    request_body(content = Option<AmountBody>, description = "Optional: no body stands for `{}`"),
    responses(
        (status = 201, description = "The transfer the post made", body = TransferBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "HOLD_NOT_FOUND"),
        (status = 409, description = "INVALID_STATE"),
        (status = 422, description = "AMOUNT_EXCEEDS_HELD, ACCOUNT_FROZEN"),
    ),
    security(("bearer" = [])),
)]
async fn post_hold(
    State(state): State<AppState>,
    command: Command<AmountBody, KeyRequired>,
) -> Result<Response, ApiError> {
    let (ready, (hold_id, amount)) = command
        .prepare(&state, |body, id| Ok((hold_id(id)?, body.amount)))
        .await?;
    let amount = amount_of(&state, ready.bearer(), hold_id, amount).await?;
    let action = Action::PostHold {
        hold_id,
        transfer_id: TransferId::new(),
        amount,
    };
    ready.submit(&state, action, StatusCode::CREATED).await
}

#[utoipa::path(
    post,
    path = "/v1/holds/{id}/void",
    operation_id = "voidHold",
    tag = "holds",
    summary = "Release what the hold still holds (either party's owner, manager+)",
    params(super::openapi::PathId, KeyOptional),
    responses(
        (status = 200, description = "The voided hold", body = HoldBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "HOLD_NOT_FOUND"),
        (status = 409, description = "INVALID_STATE"),
    ),
    security(("bearer" = [])),
)]
async fn void(
    State(state): State<AppState>,
    command: Command<NoBody>,
) -> Result<Response, ApiError> {
    command
        .submit(&state, StatusCode::OK, |NoBody, id| {
            Ok(Action::VoidHold {
                hold_id: hold_id(id)?,
            })
        })
        .await
}

fn parties(record: &HoldRecord) -> HoldParties {
    HoldParties {
        from_owner: record.from_owner,
        to_owner: record.to_owner,
    }
}

/// The hold if the caller may see it: anything else is HOLD_NOT_FOUND.
async fn visible(state: &AppState, caller: &Caller, id: HoldId) -> Result<HoldRecord, ApiError> {
    let record = state
        .store()
        .find_hold(id)
        .await?
        .ok_or(ApiError::HoldNotFound)?;
    access::read_hold(&caller.actor(), &parties(&record)).map_err(|_| ApiError::HoldNotFound)?;
    Ok(record)
}

fn item(record: &HoldRecord) -> Item {
    Item {
        id: record.hold.terms().id.to_string(),
        owners: vec![record.from_owner, record.to_owner],
    }
}

#[utoipa::path(
    get,
    path = "/v1/holds/{id}",
    operation_id = "getHold",
    tag = "holds",
    summary = "Read a hold",
    params(super::openapi::PathId),
    responses(
        (status = 200, description = "The hold", body = HoldBody),
        (status = 404, description = "HOLD_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<HoldBody>, ApiError> {
    let record = visible(&state, &caller, hold_id(&id)?).await?;
    audit_read(
        &state,
        &caller,
        ResourceType::Hold,
        Read::One(item(&record)),
    )
    .await?;
    Ok(Json(HoldBody::from(&record.hold.view())))
}

/// The query of `GET /v1/holds`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct HoldListQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// The id of the last item of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    starting_after: Option<HoldId>,
    /// Holds from or to this account.
    #[param(value_type = Option<String>, format = Uuid)]
    account_id: Option<AccountId>,
    #[param(schema_with = super::openapi::hold_state)]
    state: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/v1/holds/{id}",
    operation_id = "updateHold",
    tag = "holds",
    summary = "Change a hold's metadata (the source's owner, admin)",
    params(super::openapi::PathId),
    request_body = RelabelBody,
    responses(
        (status = 200, description = "The hold", body = HoldBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "HOLD_NOT_FOUND"),
        (status = 422, description = "VALIDATION_FAILED"),
    ),
    security(("bearer" = [])),
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RelabelBody>,
) -> Result<Json<HoldBody>, ApiError> {
    let parsed: HoldId = id.parse().map_err(|_| ApiError::HoldNotFound)?;
    relabel(
        &state,
        &caller,
        Labelled::Hold(parsed),
        body,
        ApiError::HoldNotFound,
    )
    .await?;
    read(State(state), caller, Path(id)).await
}

#[utoipa::path(
    get,
    path = "/v1/holds",
    operation_id = "listHolds",
    tag = "holds",
    summary = "List holds",
    params(HoldListQuery, super::openapi::MetadataFilterParam),
    responses(
        (status = 200, description = "A page of holds", body = super::openapi::HoldList),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    FilteredQuery {
        params: query,
        metadata,
    }: FilteredQuery<HoldListQuery>,
) -> Result<Json<ListBody<HoldBody>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let hold_state = query
        .state
        .map(|text| {
            HoldState::parse(&text).ok_or_else(|| {
                ApiError::ValidationFailed(
                    "state must be one of held, posted, voided, expired".into(),
                )
            })
        })
        .transpose()?;
    let filter = HoldFilter {
        parties: party_filter(&state, &caller, query.account_id).await?,
        state: hold_state,
    };
    let page = state
        .store()
        .list_holds(filter, &metadata, limit, query.starting_after)
        .await?;
    answer_page(&state, &caller, ResourceType::Hold, page, item, |record| {
        HoldBody::from(&record.hold.view())
    })
    .await
}
