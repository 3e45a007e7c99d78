//! `/v1/transactions`: several postings applied together, all or nothing, and reading them.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use coffre_domain::access;
use coffre_domain::audit::ResourceType;
use coffre_domain::ids::{AccountId, TransactionId, TransferId};
use coffre_domain::ledger::{Action, MAX_POSTINGS, NewPosting, Postings};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::AmountText;
use coffre_domain::relabel::Labelled;
use coffre_store::TransactionRecord;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::bodies::TransactionBody;
use super::command::{Command, KeyRequired};
use super::listing::{ListBody, PartyListQuery, answer_page, page_limit, party_filter};
use super::reads::{Item, Read, audit_read};
use super::relabel::{RelabelBody, relabel};
use super::transfers::{description, money};
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::extract::{FilteredQuery, Json};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/transactions", post(create).get(list))
        .route("/v1/transactions/{id}", get(read).patch(update))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateTransactionRequest)]
pub(crate) struct TransactionRequest {
    /// Applied in order: a later posting may spend what an earlier one brought.
    #[schema(min_items = 1, max_items = 64)]
    postings: Vec<PostingRequest>,
    #[schema(schema_with = super::openapi::description)]
    description: Option<String>,
    /// The client's own labels (API.md "Metadata"); none if left out.
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TransactionPosting)]
pub(crate) struct PostingRequest {
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
}

impl PostingRequest {
    /// The posting, or the validation failure naming its index.
    fn parse(self, index: u8) -> Result<NewPosting, ApiError> {
        let name_index = |error| match error {
            ApiError::ValidationFailed(message) => ApiError::InvalidPosting { index, message },
            other => other,
        };
        Ok(NewPosting {
            transfer_id: TransferId::new(),
            from: self.from_account_id,
            to: self.to_account_id,
            money: money(&self.amount, &self.currency).map_err(name_index)?,
            description: description(self.description).map_err(name_index)?,
        })
    }
}

fn postings(requests: Vec<PostingRequest>) -> Result<Postings, ApiError> {
    if requests.is_empty() || requests.len() > MAX_POSTINGS {
        return Err(ApiError::ValidationFailed(format!(
            "postings must hold 1 to {MAX_POSTINGS} postings"
        )));
    }
    let postings = (0..=u8::MAX)
        .zip(requests)
        .map(|(index, request)| request.parse(index))
        .collect::<Result<Vec<_>, _>>()?;
    Postings::new(postings).map_err(|error| ApiError::ValidationFailed(format!("postings {error}")))
}

#[utoipa::path(
    post,
    path = "/v1/transactions",
    operation_id = "createTransaction",
    tag = "transfers",
    summary = "Apply several postings, all or nothing",
    params(KeyRequired),
    request_body = TransactionRequest,
    responses(
        (status = 201, description = "The transaction", body = TransactionBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
        (status = 422, description = "SAME_ACCOUNT, CURRENCY_MISMATCH, ACCOUNT_FROZEN, INSUFFICIENT_FUNDS"),
    ),
    security(("bearer" = [])),
)]
async fn create(
    State(state): State<AppState>,
    command: Command<TransactionRequest, KeyRequired>,
) -> Result<Response, ApiError> {
    command
        .submit(&state, StatusCode::CREATED, |body, _| {
            Ok(Action::PostTransaction {
                id: TransactionId::new(),
                postings: postings(body.postings)?,
                description: description(body.description)?,
                metadata: body.metadata.unwrap_or_default(),
            })
        })
        .await
}

fn item(record: &TransactionRecord) -> Item {
    Item {
        id: record.transaction.id.to_string(),
        owners: record.owners.clone(),
    }
}

#[utoipa::path(
    get,
    path = "/v1/transactions/{id}",
    operation_id = "getTransaction",
    tag = "transfers",
    summary = "Read a transaction",
    params(super::openapi::PathId),
    responses(
        (status = 200, description = "The transaction", body = TransactionBody),
        (status = 404, description = "TRANSACTION_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TransactionBody>, ApiError> {
    let id: TransactionId = id.parse().map_err(|_| ApiError::TransactionNotFound)?;
    let record = state
        .store()
        .find_transaction(id)
        .await?
        .ok_or(ApiError::TransactionNotFound)?;
    access::read_transaction(&caller.actor(), &record.owners)
        .map_err(|_| ApiError::TransactionNotFound)?;
    audit_read(
        &state,
        &caller,
        ResourceType::Transaction,
        Read::One(item(&record)),
    )
    .await?;
    Ok(Json(TransactionBody::from(&record.transaction)))
}

#[utoipa::path(
    patch,
    path = "/v1/transactions/{id}",
    operation_id = "updateTransaction",
    tag = "transactions",
    summary = "Change a transaction's metadata (the owner of every source, admin)",
    params(super::openapi::PathId),
    request_body = RelabelBody,
    responses(
        (status = 200, description = "The transaction", body = TransactionBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "TRANSACTION_NOT_FOUND"),
        (status = 422, description = "VALIDATION_FAILED"),
    ),
    security(("bearer" = [])),
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RelabelBody>,
) -> Result<Json<TransactionBody>, ApiError> {
    let parsed: TransactionId = id.parse().map_err(|_| ApiError::TransactionNotFound)?;
    relabel(
        &state,
        &caller,
        Labelled::Transaction(parsed),
        body,
        ApiError::TransactionNotFound,
    )
    .await?;
    read(State(state), caller, Path(id)).await
}

#[utoipa::path(
    get,
    path = "/v1/transactions",
    operation_id = "listTransactions",
    tag = "transfers",
    summary = "List transactions",
    params(PartyListQuery<TransactionId>, super::openapi::MetadataFilterParam),
    responses(
        (status = 200, description = "A page of transactions", body = super::openapi::TransactionList),
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
    }: FilteredQuery<PartyListQuery<TransactionId>>,
) -> Result<Json<ListBody<TransactionBody>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let filter = party_filter(&state, &caller, query.account_id).await?;
    let page = state
        .store()
        .list_transactions(filter, &metadata, limit, query.starting_after)
        .await?;
    answer_page(
        &state,
        &caller,
        ResourceType::Transaction,
        page,
        item,
        |record| TransactionBody::from(&record.transaction),
    )
    .await
}
