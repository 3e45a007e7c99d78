//! `PATCH /v1/accounts/{id}`: an admin's change to an account's balance limits, and the
//! owner's or an admin's to its metadata, decided by the ledger under the account's lock like
//! any command.

use axum::extract::State;
use axum::response::Response;
use coffre_domain::ledger::{Action, LimitAmount, LimitsChange};
use coffre_domain::metadata::MetadataPatch;
use coffre_domain::money::{AmountText, Currency};
use http::StatusCode;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::accounts::readable;
use super::bodies::AccountBody;
use super::command::{Command, KeyOptional};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateAccountRequest)]
pub(crate) struct UpdateBody {
    /// Admins only: how far below zero the available balance may go; default `"0"`. Not
    /// nullable: "no overdraft" is `"0"`.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::openapi::limit_amount)]
    overdraft_limit: Option<AmountText>,
    /// Admins only: the highest the balance may reach; `null` removes the ceiling.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::openapi::nullable_limit_amount)]
    max_balance: Option<Option<AmountText>>,
    /// The owner or an admin: keys set to a string take it, keys set to `null` are removed,
    /// others stay.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::openapi::metadata_patch)]
    metadata: Option<MetadataPatch>,
}

/// A field that is present, as `T` reads it: a missing field (`#[serde(default)]`) is `None`,
/// "leave as it is", and with `T = Option<_>` a `null` is `Some(None)`, "set to null".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

fn limit(field: &str, text: &AmountText, currency: Currency) -> Result<LimitAmount, ApiError> {
    LimitAmount::parse(text.as_str(), currency)
        .map_err(|error| ApiError::ValidationFailed(format!("{field}: {error}")))
}

#[utoipa::path(
    patch,
    path = "/v1/accounts/{id}",
    operation_id = "updateAccount",
    tag = "accounts",
    summary = "Change an account's limits (admin) or metadata (owner, admin)",
    params(super::openapi::PathId, KeyOptional),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The account", body = AccountBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn update(
    State(state): State<AppState>,
    command: Command<UpdateBody>,
) -> Result<Response, ApiError> {
    let (ready, (id, body)) = command
        .prepare(&state, |body, id| Ok((id.to_owned(), body)))
        .await?;
    let caller = ready.bearer().authenticate(&state).await?;
    // The limits are amounts of the account's currency, which never changes: reading it before
    // the command's transaction decides nothing the lock should.
    let account = readable(&state, &caller, &id).await?;
    let currency = account.currency;
    let limits = LimitsChange {
        overdraft_limit: body
            .overdraft_limit
            .map(|text| limit("overdraft_limit", &text, currency))
            .transpose()?,
        max_balance: body
            .max_balance
            .map(|max| {
                max.map(|text| limit("max_balance", &text, currency))
                    .transpose()
            })
            .transpose()?,
    };
    let action = Action::UpdateAccount {
        account_id: account.id,
        limits,
        metadata: body.metadata,
    };
    ready.submit(&state, action, StatusCode::OK).await
}
