//! Money movement: `/v1/transfers`, `/v1/deposits`, `/v1/withdrawals`, and reading transfers.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use coffre_domain::access;
use coffre_domain::audit::ResourceType;
use coffre_domain::ids::{AccountId, TransferId};
use coffre_domain::ledger::Action;
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{AmountText, Currency, Money};
use coffre_domain::relabel::Labelled;
use coffre_domain::text::Description;
use coffre_store::TransferRecord;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::bodies::TransferBody;
use super::command::{Command, KeyRequired};
use super::listing::{ListBody, PartyListQuery, answer_page, page_limit, party_filter};
use super::reads::{Item, Read, audit_read};
use super::relabel::{RelabelBody, relabel};
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::extract::{FilteredQuery, Json};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/transfers", post(transfer).get(list))
        .route("/v1/transfers/{id}", get(read).patch(update))
        .route("/v1/deposits", post(deposit))
        .route("/v1/withdrawals", post(withdraw))
}

/// Currency first: it decides how many decimals the amount may have.
pub(super) fn money(amount: &AmountText, currency: &str) -> Result<Money, ApiError> {
    let currency = Currency::parse(currency)
        .map_err(|error| ApiError::ValidationFailed(format!("currency: {error}")))?;
    let amount = amount
        .parse(currency)
        .map_err(|error| ApiError::ValidationFailed(format!("amount: {error}")))?;
    Ok(Money { amount, currency })
}

pub(super) fn description(text: Option<String>) -> Result<Option<Description>, ApiError> {
    text.map(Description::parse)
        .transpose()
        .map_err(|error| ApiError::ValidationFailed(format!("description {error}")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateTransferRequest)]
pub(crate) struct TransferRequest {
    #[schema(value_type = String, format = Uuid)]
    from_account_id: AccountId,
    #[schema(value_type = String, format = Uuid)]
    to_account_id: AccountId,
    #[schema(schema_with = super::openapi::amount)]
    amount: AmountText,
    #[schema(schema_with = super::openapi::currency)]
    currency: String,
    #[schema(schema_with = super::openapi::description)]
    description: Option<String>,
    #[schema(schema_with = super::openapi::metadata)]
    metadata: Option<Metadata>,
}

#[utoipa::path(
    post,
    path = "/v1/transfers",
    operation_id = "createTransfer",
    tag = "transfers",
    summary = "Move money between accounts",
    params(KeyRequired),
    request_body = TransferRequest,
    responses(
        (status = 201, description = "The transfer", body = TransferBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
        (status = 422, description = "SAME_ACCOUNT, CURRENCY_MISMATCH, ACCOUNT_FROZEN, INSUFFICIENT_FUNDS"),
    ),
    security(("bearer" = [])),
)]
async fn transfer(
    State(state): State<AppState>,
    command: Command<TransferRequest, KeyRequired>,
) -> Result<Response, ApiError> {
    command
        .submit(&state, StatusCode::CREATED, |body, _| {
            Ok(Action::Transfer {
                id: TransferId::new(),
                from: body.from_account_id,
                to: body.to_account_id,
                money: money(&body.amount, &body.currency)?,
                description: description(body.description)?,
                metadata: body.metadata.unwrap_or_default(),
            })
        })
        .await
}

/// A deposit's or a withdrawal's body: one account and the money.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AccountMovementRequest)]
pub(crate) struct AccountMovement {
    #[schema(value_type = String, format = Uuid)]
    account_id: AccountId,
    #[schema(schema_with = super::openapi::amount)]
    amount: AmountText,
    #[schema(schema_with = super::openapi::currency)]
    currency: String,
    #[schema(schema_with = super::openapi::description)]
    description: Option<String>,
    #[schema(schema_with = super::openapi::metadata)]
    metadata: Option<Metadata>,
}

#[utoipa::path(
    post,
    path = "/v1/deposits",
    operation_id = "createDeposit",
    tag = "transfers",
    summary = "Deposit (admin)",
    params(KeyRequired),
    request_body = AccountMovement,
    responses(
        (status = 201, description = "The transfer from the system account", body = TransferBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
        (status = 422, description = "CURRENCY_MISMATCH, ACCOUNT_FROZEN"),
    ),
    security(("bearer" = [])),
)]
async fn deposit(
    State(state): State<AppState>,
    command: Command<AccountMovement, KeyRequired>,
) -> Result<Response, ApiError> {
    command
        .submit(&state, StatusCode::CREATED, |body, _| {
            Ok(Action::Deposit {
                id: TransferId::new(),
                account_id: body.account_id,
                money: money(&body.amount, &body.currency)?,
                description: description(body.description)?,
                metadata: body.metadata.unwrap_or_default(),
            })
        })
        .await
}

#[utoipa::path(
    post,
    path = "/v1/withdrawals",
    operation_id = "createWithdrawal",
    tag = "transfers",
    summary = "Withdraw (owner, admin)",
    params(KeyRequired),
    request_body = AccountMovement,
    responses(
        (status = 201, description = "The transfer to the system account", body = TransferBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
        (status = 422, description = "CURRENCY_MISMATCH, ACCOUNT_FROZEN, INSUFFICIENT_FUNDS"),
    ),
    security(("bearer" = [])),
)]
async fn withdraw(
    State(state): State<AppState>,
    command: Command<AccountMovement, KeyRequired>,
) -> Result<Response, ApiError> {
    command
        .submit(&state, StatusCode::CREATED, |body, _| {
            Ok(Action::Withdrawal {
                id: TransferId::new(),
                account_id: body.account_id,
                money: money(&body.amount, &body.currency)?,
                description: description(body.description)?,
                metadata: body.metadata.unwrap_or_default(),
            })
        })
        .await
}

fn item(record: &TransferRecord) -> Item {
    Item {
        id: record.transfer.id.to_string(),
        owners: vec![record.from_owner, record.to_owner],
    }
}

#[utoipa::path(
    get,
    path = "/v1/transfers/{id}",
    operation_id = "getTransfer",
    tag = "transfers",
    summary = "Read a transfer",
    params(super::openapi::PathId),
    responses(
        (status = 200, description = "The transfer", body = TransferBody),
        (status = 404, description = "TRANSFER_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TransferBody>, ApiError> {
    let id: TransferId = id.parse().map_err(|_| ApiError::TransferNotFound)?;
    let record = state
        .store()
        .find_transfer(id)
        .await?
        .ok_or(ApiError::TransferNotFound)?;
    access::read_transfer(&caller.actor(), record.from_owner, record.to_owner)
        .map_err(|_| ApiError::TransferNotFound)?;
    audit_read(
        &state,
        &caller,
        ResourceType::Transfer,
        Read::One(item(&record)),
    )
    .await?;
    Ok(Json(TransferBody::from(&record.transfer)))
}

#[utoipa::path(
    patch,
    path = "/v1/transfers/{id}",
    operation_id = "updateTransfer",
    tag = "transfers",
    summary = "Change a transfer's metadata (the source's owner, admin)",
    params(super::openapi::PathId),
    request_body = RelabelBody,
    responses(
        (status = 200, description = "The transfer", body = TransferBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "TRANSFER_NOT_FOUND"),
        (status = 422, description = "VALIDATION_FAILED"),
    ),
    security(("bearer" = [])),
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RelabelBody>,
) -> Result<Json<TransferBody>, ApiError> {
    let parsed: TransferId = id.parse().map_err(|_| ApiError::TransferNotFound)?;
    relabel(
        &state,
        &caller,
        Labelled::Transfer(parsed),
        body,
        ApiError::TransferNotFound,
    )
    .await?;
    read(State(state), caller, Path(id)).await
}

#[utoipa::path(
    get,
    path = "/v1/transfers",
    operation_id = "listTransfers",
    tag = "transfers",
    summary = "List transfers",
    params(PartyListQuery<TransferId>, super::openapi::MetadataFilterParam),
    responses(
        (status = 200, description = "A page of transfers", body = super::openapi::TransferList),
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
    }: FilteredQuery<PartyListQuery<TransferId>>,
) -> Result<Json<ListBody<TransferBody>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let filter = party_filter(&state, &caller, query.account_id).await?;
    let page = state
        .store()
        .list_transfers(filter, &metadata, limit, query.starting_after)
        .await?;
    answer_page(
        &state,
        &caller,
        ResourceType::Transfer,
        page,
        item,
        |record| TransferBody::from(&record.transfer),
    )
    .await
}
