//! What every list shares: `?limit=1..100` (default 20), the `{data, has_more}` answer, and
//! which transfers and payments a caller's list may hold.

use coffre_domain::access;
use coffre_domain::audit::ResourceType;
use coffre_domain::ids::AccountId;
use coffre_store::{Page, PageLimit, PartyFilter};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::reads::{Item, Read, audit_read};
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

pub(super) fn page_limit(limit: Option<u64>) -> Result<PageLimit, ApiError> {
    match limit {
        None => Ok(PageLimit::DEFAULT),
        Some(limit) => PageLimit::new(limit)
            .ok_or_else(|| ApiError::ValidationFailed("limit must be between 1 and 100".into())),
    }
}

#[derive(Debug, Serialize)]
pub(super) struct ListBody<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

/// A page as answered: what it shows of others is audited as read first (see `audit_read`),
/// then each row is rendered.
pub(super) async fn answer_page<R, B>(
    state: &AppState,
    caller: &Caller,
    resource_type: ResourceType,
    page: Page<R>,
    item: impl Fn(&R) -> Item,
    body: impl Fn(&R) -> B,
) -> Result<Json<ListBody<B>>, ApiError> {
    let items = page.data.iter().map(item).collect();
    audit_read(state, caller, resource_type, Read::Page(items)).await?;
    Ok(Json(ListBody {
        data: page.data.iter().map(body).collect(),
        has_more: page.has_more,
    }))
}

/// The query of `GET /v1/transfers` and `GET /v1/payments`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct PartyListQuery<Id> {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// The id of the last item of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    pub starting_after: Option<Id>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub account_id: Option<AccountId>,
}

/// What a list of transfers or payments may show the caller: every one touching an account it
/// may read (`?account_id=`, else 404 `ACCOUNT_NOT_FOUND`), or without a filter everything for
/// managers and admins and its own for a user.
pub(super) async fn party_filter(
    state: &AppState,
    caller: &Caller,
    account_id: Option<AccountId>,
) -> Result<PartyFilter, ApiError> {
    let actor = caller.actor();
    Ok(match account_id {
        Some(account_id) => {
            let account = state
                .store()
                .find_account(account_id)
                .await?
                .ok_or(ApiError::AccountNotFound)?;
            access::read_account(&actor, account.owner_id)
                .map_err(|_| ApiError::AccountNotFound)?;
            PartyFilter {
                account_id: Some(account_id),
                party: None,
            }
        }
        None if access::list_all_accounts(&actor) => PartyFilter::default(),
        None => PartyFilter {
            account_id: None,
            party: Some(caller.user.id),
        },
    })
}
