//! `/v1/accounts`: open, list, read, the ledger lines, freeze and unfreeze (changes to an
//! account are in `account_update`).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use coffre_domain::access;
use coffre_domain::audit::ResourceType;
use coffre_domain::ids::{AccountId, EntryId, UserId};
use coffre_domain::ledger::{Account, AccountStatus, Action};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::Currency;
use coffre_domain::text::AccountName;
use http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::bodies::{AccountBody, EntryBody};
use super::command::{Command, KeyOptional, NoBody};
use super::listing::{ListBody, answer_page, page_limit};
use super::reads::{Item, Read, audit_read};
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::extract::{FilteredQuery, Json, Query};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/accounts", post(open).get(list))
        .route(
            "/v1/accounts/{id}",
            get(read).patch(super::account_update::update),
        )
        .route("/v1/accounts/{id}/entries", get(entries))
        .route("/v1/accounts/{id}/freeze", post(freeze))
        .route("/v1/accounts/{id}/unfreeze", post(unfreeze))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateAccountRequest)]
pub(crate) struct OpenBody {
    #[schema(schema_with = super::openapi::currency)]
    currency: String,
    #[schema(schema_with = super::openapi::account_name)]
    name: Option<String>,
    /// Admins only: open the account for this user.
    #[schema(value_type = Option<String>, format = Uuid)]
    owner_id: Option<UserId>,
    #[schema(schema_with = super::openapi::metadata)]
    metadata: Option<Metadata>,
}

#[utoipa::path(
    post,
    path = "/v1/accounts",
    operation_id = "createAccount",
    tag = "accounts",
    summary = "Open an account",
    params(KeyOptional),
    request_body = OpenBody,
    responses(
        (status = 201, description = "The new account", body = AccountBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "USER_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn open(
    State(state): State<AppState>,
    command: Command<OpenBody>,
) -> Result<Response, ApiError> {
    let (ready, (currency, name, owner_id, metadata)) = command
        .prepare(&state, |body, _| {
            let currency = Currency::parse(&body.currency)
                .map_err(|error| ApiError::ValidationFailed(format!("currency: {error}")))?;
            let name = body
                .name
                .map(AccountName::parse)
                .transpose()
                .map_err(|error| ApiError::ValidationFailed(format!("name {error}")))?;
            Ok((
                currency,
                name,
                body.owner_id,
                body.metadata.unwrap_or_default(),
            ))
        })
        .await?;
    // Who may open an account for whom is decided by the role stored now.
    let caller = ready.bearer().authenticate(&state).await?;
    let owner_id = owner_id.unwrap_or(caller.user.id);
    access::create_account(&caller.actor(), owner_id)?;
    if owner_id != caller.user.id && state.store().find_user(owner_id).await?.is_none() {
        return Err(ApiError::UserNotFound);
    }
    let action = Action::OpenAccount {
        id: AccountId::new(),
        owner_id,
        currency,
        name,
        metadata,
    };
    ready.submit(&state, action, StatusCode::CREATED).await
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
    starting_after: Option<AccountId>,
    #[param(value_type = Option<String>, format = Uuid)]
    owner_id: Option<UserId>,
}

#[utoipa::path(
    get,
    path = "/v1/accounts",
    operation_id = "listAccounts",
    tag = "accounts",
    summary = "List accounts",
    params(ListQuery, super::openapi::MetadataFilterParam),
    responses(
        (status = 200, description = "A page of accounts", body = super::openapi::AccountList),
    ),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    FilteredQuery {
        params: query,
        metadata,
    }: FilteredQuery<ListQuery>,
) -> Result<Json<ListBody<AccountBody>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let owner = if access::list_all_accounts(&caller.actor()) {
        query.owner_id
    } else {
        match query.owner_id {
            Some(owner) if owner != caller.user.id => {
                return Ok(Json(ListBody {
                    data: Vec::new(),
                    has_more: false,
                }));
            }
            _ => Some(caller.user.id),
        }
    };
    let page = state
        .store()
        .list_accounts(owner, &metadata, limit, query.starting_after)
        .await?;
    answer_page(
        &state,
        &caller,
        ResourceType::Account,
        page,
        item,
        |account| AccountBody::from(account),
    )
    .await
}

pub(super) fn item(account: &Account) -> Item {
    Item {
        id: account.id.to_string(),
        owners: vec![account.owner_id],
    }
}

/// The account at `id` if the caller may read it: anything else is ACCOUNT_NOT_FOUND.
pub(super) async fn readable(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Account, ApiError> {
    let id: AccountId = id.parse().map_err(|_| ApiError::AccountNotFound)?;
    let account = state
        .store()
        .find_account(id)
        .await?
        .ok_or(ApiError::AccountNotFound)?;
    access::read_account(&caller.actor(), account.owner_id)
        .map_err(|_| ApiError::AccountNotFound)?;
    Ok(account)
}

#[utoipa::path(
    get,
    path = "/v1/accounts/{id}",
    operation_id = "getAccount",
    tag = "accounts",
    summary = "Read an account",
    params(super::openapi::PathId),
    responses(
        (status = 200, description = "The account", body = AccountBody),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AccountBody>, ApiError> {
    let account = readable(&state, &caller, &id).await?;
    audit_read(
        &state,
        &caller,
        ResourceType::Account,
        Read::One(item(&account)),
    )
    .await?;
    Ok(Json(AccountBody::from(&account)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EntriesQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// The id of the last item of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    starting_after: Option<EntryId>,
}

#[utoipa::path(
    get,
    path = "/v1/accounts/{id}/entries",
    operation_id = "listAccountEntries",
    tag = "accounts",
    summary = "An account's ledger lines",
    params(super::openapi::PathId, EntriesQuery),
    responses(
        (status = 200, description = "A page of ledger lines", body = super::openapi::EntryList),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn entries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<EntriesQuery>,
) -> Result<Json<ListBody<EntryBody>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let account = readable(&state, &caller, &id).await?;
    let page = state
        .store()
        .list_entries(account.id, limit, query.starting_after)
        .await?;
    // The lines are read through their account, which names them.
    audit_read(
        &state,
        &caller,
        ResourceType::AccountEntries,
        Read::One(item(&account)),
    )
    .await?;
    Ok(Json(ListBody {
        data: page.data.iter().map(EntryBody::from).collect(),
        has_more: page.has_more,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/accounts/{id}/freeze",
    operation_id = "freezeAccount",
    tag = "accounts",
    summary = "Freeze (manager+)",
    params(super::openapi::PathId, KeyOptional),
    responses(
        (status = 200, description = "The account", body = AccountBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn freeze(
    State(state): State<AppState>,
    command: Command<NoBody>,
) -> Result<Response, ApiError> {
    set_status(&state, command, AccountStatus::Frozen).await
}

#[utoipa::path(
    post,
    path = "/v1/accounts/{id}/unfreeze",
    operation_id = "unfreezeAccount",
    tag = "accounts",
    summary = "Unfreeze (manager+)",
    params(super::openapi::PathId, KeyOptional),
    responses(
        (status = 200, description = "The account", body = AccountBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn unfreeze(
    State(state): State<AppState>,
    command: Command<NoBody>,
) -> Result<Response, ApiError> {
    set_status(&state, command, AccountStatus::Active).await
}

async fn set_status(
    state: &AppState,
    command: Command<NoBody>,
    status: AccountStatus,
) -> Result<Response, ApiError> {
    let (ready, id) = command
        .prepare(state, |NoBody, id| Ok(id.to_owned()))
        .await?;
    let caller = ready.bearer().authenticate(state).await?;
    access::freeze_account(&caller.actor())?;
    let account_id: AccountId = id.parse().map_err(|_| ApiError::AccountNotFound)?;
    let action = Action::SetStatus { account_id, status };
    ready.submit(state, action, StatusCode::OK).await
}
