//! `PATCH /v1/{transfers,transactions,holds,payments}/{id}` with `{metadata}`: the owner of
//! the money's source, or an admin, changes a resource's labels. Each resource's module has
//! the handler; this is what they share.

use coffre_domain::ledger::Refusal;
use coffre_domain::metadata::MetadataPatch;
use coffre_domain::relabel::{Labelled, RelabelRefused};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateMetadataRequest)]
pub(crate) struct RelabelBody {
    /// Keys set to a string take it, keys set to `null` are removed, others stay.
    #[schema(schema_with = super::openapi::metadata_patch)]
    metadata: MetadataPatch,
}

/// Applies the body's patch to `target`; `not_found` is the answer when the caller may not
/// see it (or it does not exist).
pub(super) async fn relabel(
    state: &AppState,
    caller: &Caller,
    target: Labelled,
    body: RelabelBody,
    not_found: ApiError,
) -> Result<(), ApiError> {
    let outcome = state
        .store()
        .relabel(
            super::event_renderer(),
            caller.actor(),
            target,
            body.metadata,
            caller.audit(),
        )
        .await?;
    match outcome {
        Ok(_) => Ok(()),
        Err(RelabelRefused::NotFound) => Err(not_found),
        Err(RelabelRefused::Forbidden) => Err(ApiError::Forbidden),
        Err(RelabelRefused::TooManyKeys) => Err(ApiError::Refused(Refusal::TooManyMetadataKeys)),
    }
}
