//! What every list shares: `?limit=1..100` (default 20) and the `{data, has_more}` answer.

use coffre_store::PageLimit;
use serde::Serialize;

use crate::error::ApiError;

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
