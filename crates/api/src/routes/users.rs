//! `/v1/users`: the user list for managers and admins, role and disabled changes for admins.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, patch};
use coffre_domain::access;
use coffre_domain::ids::UserId;
use coffre_domain::user::Role;
use coffre_store::{UpdateUser, UserChanges};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::UserBody;
use super::listing::{ListBody, page_limit};
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", get(list))
        .route("/v1/users/{id}", patch(update))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u64>,
    starting_after: Option<UserId>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<ListBody<UserBody>>, ApiError> {
    access::list_users(&caller.actor())?;
    let page = state
        .store()
        .list_users(
            page_limit(query.limit)?,
            query.starting_after,
            &caller.audit(),
        )
        .await?;
    Ok(Json(ListBody {
        data: page.data.into_iter().map(UserBody::from).collect(),
        has_more: page.has_more,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateBody {
    #[schema(value_type = Option<String>, example = "manager")]
    role: Option<Role>,
    disabled: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateBody>,
) -> Result<Json<UserBody>, ApiError> {
    access::update_user(&caller.actor())?;
    let id: UserId = id.parse().map_err(|_| ApiError::UserNotFound)?;
    let changes = UserChanges {
        role: body.role,
        disabled: body.disabled,
    };
    match state
        .store()
        .update_user(id, changes, &caller.audit())
        .await?
    {
        UpdateUser::Updated(user) => Ok(Json(user.into())),
        UpdateUser::NotFound => Err(ApiError::UserNotFound),
        UpdateUser::LastAdmin => Err(ApiError::LastAdmin),
    }
}
