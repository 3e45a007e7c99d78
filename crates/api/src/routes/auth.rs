//! `/v1/auth/*` and `/v1/me`: registration, login, refresh-token rotation, logout.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use coffre_domain::ids::{SessionId, UserId};
use coffre_domain::throttle::LoginKeys;
use coffre_domain::time::Timestamp;
use coffre_domain::user::{Email, Password, Role};
use coffre_store::{
    CreateUser, NewSession, NewUser, REFRESH_TOKEN_TTL, RefreshOutcome, StoreError, User,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::caller::{Caller, Client};
use crate::auth::token::{TokenError, new_refresh_token, refresh_token_hash};
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/me", get(me))
}

/// A user as clients see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub(crate) struct UserBody {
    #[schema(value_type = String, format = Uuid)]
    id: UserId,
    #[schema(value_type = String, format = Email)]
    email: Email,
    #[schema(value_type = String, example = "user")]
    role: Role,
    disabled: bool,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            role: user.role,
            disabled: user.disabled,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Credentials {
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(min_length = 12, max_length = 128)]
    password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenPair {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
}

#[utoipa::path(
    post,
    path = "/v1/auth/register",
    operation_id = "register",
    tag = "auth",
    summary = "Register a user",
    request_body = Credentials,
    responses(
        (status = 201, description = "The new user", body = UserBody),
        (status = 409, description = "EMAIL_TAKEN"),
    ),
)]
async fn register(
    State(state): State<AppState>,
    client: Client,
    Json(body): Json<Credentials>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    let email = Email::parse(&body.email).map_err(|e| ApiError::ValidationFailed(e.to_string()))?;
    let password =
        Password::parse(body.password).map_err(|e| ApiError::ValidationFailed(e.to_string()))?;
    let password_hash = state.passwords().hash(&password).await?;
    let new = NewUser {
        email,
        password_hash,
        role: Role::User,
    };
    match state.store().create_user(new, &client.audit(None)).await? {
        CreateUser::Created(user) => Ok((StatusCode::CREATED, Json(user.into()))),
        CreateUser::EmailTaken => Err(ApiError::EmailTaken),
    }
}

/// Every wrong pair answers the same, after the same work: an unknown email is checked against
/// a dummy hash, a disabled user's password is checked like anyone's.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    operation_id = "login",
    tag = "auth",
    summary = "Log in",
    request_body = Credentials,
    responses(
        (status = 200, description = "A token pair", body = TokenPair),
        (status = 401, description = "INVALID_CREDENTIALS"),
    ),
)]
async fn login(
    State(state): State<AppState>,
    client: Client,
    Json(body): Json<Credentials>,
) -> Result<Json<TokenPair>, ApiError> {
    // Malformed input cannot name an account, so refusing it early reveals nothing.
    let email = Email::parse(&body.email).map_err(|_| ApiError::InvalidCredentials)?;
    let password = Password::parse(body.password).map_err(|_| ApiError::InvalidCredentials)?;
    let keys = LoginKeys::new(email.as_str(), client.ip_key());
    let now = Timestamp::now();
    // Decided and charged before the password check, in one transaction: parallel guesses
    // queue on the throttle rows, and no more reach the check than the policy allows.
    if let Some(wait) = state.store().claim_login_attempt(&keys, now).await? {
        return Err(ApiError::RateLimited {
            retry_after_secs: u64::try_from(wait).unwrap_or(1).max(1),
        });
    }

    let (user, hash) = state
        .store()
        .find_login(&email)
        .await?
        .map(|record| (record.user, record.password_hash))
        .unzip();
    let matches = state.passwords().verify(&password, hash).await?;
    let user = match user {
        Some(user) if matches && !user.disabled => user,
        other => {
            let user_id = other.map(|user| user.id);
            state
                .store()
                .record_login_failure(&body.email, user_id, &client.audit(None))
                .await?;
            return Err(ApiError::InvalidCredentials);
        }
    };

    let (refresh_token, refresh_token_hash) = new_refresh_token();
    let expires_at = now
        .as_datetime()
        .checked_add_signed(REFRESH_TOKEN_TTL)
        .ok_or_else(|| StoreError::Internal("session expiry out of range".into()))?;
    let session = NewSession {
        id: SessionId::new(),
        user_id: user.id,
        refresh_token_hash,
        expires_at: Timestamp::from(expires_at),
    };
    let session_id = session.id;
    state
        .store()
        .create_session(session, &keys, &client.audit(Some(&user)))
        .await?;
    Ok(Json(token_pair(&state, &user, session_id, refresh_token)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RefreshRequest)]
pub(crate) struct RefreshBody {
    refresh_token: String,
}

#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    operation_id = "refreshTokens",
    tag = "auth",
    summary = "Rotate the refresh token",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 401, description = "INVALID_TOKEN, REFRESH_TOKEN_REUSED"),
    ),
)]
async fn refresh(
    State(state): State<AppState>,
    client: Client,
    Json(body): Json<RefreshBody>,
) -> Result<Json<TokenPair>, ApiError> {
    let (next, next_hash) = new_refresh_token();
    let outcome = state
        .store()
        .rotate_refresh_token(
            &refresh_token_hash(&body.refresh_token),
            &next_hash,
            Timestamp::now(),
            &client.audit(None),
        )
        .await?;
    match outcome {
        RefreshOutcome::Rotated { user, session_id } => {
            Ok(Json(token_pair(&state, &user, session_id, next)?))
        }
        RefreshOutcome::Reused => Err(ApiError::RefreshTokenReused),
        RefreshOutcome::Invalid => Err(ApiError::Token(TokenError::Invalid)),
    }
}

#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    operation_id = "logout",
    tag = "auth",
    summary = "Revoke the session",
    responses(
        (status = 204, description = "The session is revoked"),
    ),
    security(("bearer" = [])),
)]
async fn logout(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    state
        .store()
        .revoke_session(caller.session_id, &caller.audit())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/v1/me",
    operation_id = "getMe",
    tag = "auth",
    summary = "The caller",
    responses(
        (status = 200, description = "The caller", body = UserBody),
    ),
    security(("bearer" = [])),
)]
async fn me(caller: Caller) -> Json<UserBody> {
    Json(caller.user.into())
}

fn token_pair(
    state: &AppState,
    user: &User,
    session_id: SessionId,
    refresh_token: String,
) -> Result<TokenPair, ApiError> {
    let now = Timestamp::now().as_datetime().timestamp();
    Ok(TokenPair {
        access_token: state.tokens().issue(user.id, session_id, user.role, now)?,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.settings().access_token_ttl_secs,
    })
}
