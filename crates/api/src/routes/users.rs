//! `/v1/users`: the user list for managers and admins, role and disabled changes for admins.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, patch};
use coffre_domain::access;
use coffre_domain::ids::UserId;
use coffre_domain::user::Role;
use coffre_store::{UpdateUser, UserChanges};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// The id of the last item of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    starting_after: Option<UserId>,
}

#[utoipa::path(
    get,
    path = "/v1/users",
    operation_id = "listUsers",
    tag = "users",
    summary = "List users (manager+)",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of users", body = super::openapi::UserList),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
    ),
    security(("bearer" = [])),
)]
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
#[schema(as = UpdateUserRequest)]
pub(crate) struct UpdateBody {
    #[schema(schema_with = super::openapi::role)]
    role: Option<Role>,
    disabled: Option<bool>,
}

#[utoipa::path(
    patch,
    path = "/v1/users/{id}",
    operation_id = "updateUser",
    tag = "users",
    summary = "Change a role or disable (admin)",
    params(super::openapi::PathId),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The user", body = UserBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "USER_NOT_FOUND"),
        (status = 409, description = "LAST_ADMIN"),
    ),
    security(("bearer" = [])),
)]
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
