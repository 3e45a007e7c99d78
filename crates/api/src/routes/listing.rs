//! What every list shares: `?limit=1..100` (default 20), the `{data, has_more}` answer, and
//! which transfers and payments a caller's list may hold.

use coffre_domain::access;
use coffre_domain::ids::AccountId;
use coffre_store::{PageLimit, PartyFilter};
use serde::Serialize;

use crate::auth::caller::Caller;
use crate::error::ApiError;
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
