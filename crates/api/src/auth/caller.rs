//! Who is calling: the client as the audit log records it, and the authenticated user.

use axum::extract::FromRequestParts;
use coffre_domain::access::Actor;
use coffre_domain::audit::AuditContext;
use coffre_domain::ids::{SessionId, UserId};
use coffre_domain::time::Timestamp;
use coffre_store::{SessionAuth, User};
use http::HeaderMap;
use http::header::{AUTHORIZATION, USER_AGENT};
use http::request::Parts;

use crate::auth::token::{AccessClaims, TokenError};
use crate::edge::client_ip::ClientIp;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// The longest user agent kept in an audit event, in characters.
const MAX_USER_AGENT_CHARS: usize = 256;

/// Where a request came from, for audit events and login throttling. The address is the one
/// [`crate::edge::client_ip`] resolved: the TCP peer, or what trusted proxies forwarded.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: RequestId,
}

impl Client {
    /// The throttling key for the address; requests with no peer address share one.
    pub fn ip_key(&self) -> &str {
        self.ip.as_deref().unwrap_or("unknown")
    }

    pub fn audit(&self, actor: Option<&User>) -> AuditContext {
        AuditContext {
            actor_id: actor.map(|user| user.id),
            ip_address: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            request_id: Some(self.request_id.as_str().to_owned()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = RequestId::from_request_parts(parts, state).await?;
        let ip = parts
            .extensions
            .get::<ClientIp>()
            .and_then(|ClientIp(ip)| *ip)
            .map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|text| text.chars().take(MAX_USER_AGENT_CHARS).collect());
        Ok(Self {
            ip,
            user_agent,
            request_id,
        })
    }
}

/// A request with a validly signed access token whose session has not been read yet. The
/// money path reads it inside the ledger batch's transaction (DESIGN.md §2), saving a read per
/// request; anything answered before that must read it first ([`Bearer::first`]), so a revoked
/// token meets 401 before any other answer.
#[derive(Debug, Clone)]
pub struct Bearer {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub client: Client,
}

impl Bearer {
    pub fn audit(&self) -> AuditContext {
        AuditContext {
            actor_id: Some(self.user_id),
            ..self.client.audit(None)
        }
    }

    /// Reads the session now: the bearer as a [`Caller`], or why it may not come in.
    pub async fn authenticate(&self, state: &AppState) -> Result<Caller, ApiError> {
        let session = state.store().session_auth(self.session_id).await?;
        let user =
            SessionAuth::admit(session, self.user_id, Timestamp::now()).map_err(ApiError::from)?;
        Ok(Caller {
            user,
            session_id: self.session_id,
            client: self.client.clone(),
        })
    }

    /// `prepared`'s value; its error only once the session lets the bearer in, since
    /// authentication answers before validation (API.md's order of checks).
    pub async fn first<T>(
        &self,
        state: &AppState,
        prepared: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match prepared {
            Ok(value) => Ok(value),
            Err(error) => {
                self.authenticate(state).await?;
                Err(error)
            }
        }
    }
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = Client::from_request_parts(parts, state).await?;
        // The rate limiter already checked the signature of most requests' tokens.
        let claims = match parts.extensions.get::<AccessClaims>() {
            Some(claims) => *claims,
            None => state.tokens().check(bearer_token(&parts.headers)?)?,
        };
        Ok(Self {
            user_id: claims.user_id,
            session_id: claims.session_id,
            client,
        })
    }
}

/// A request with a valid access token whose session is live and whose user is enabled, as the
/// database says now: logout, disabling and role changes bite on the next request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user as stored now; its role, not the token's, decides what it may do.
    pub user: User,
    pub session_id: SessionId,
    pub client: Client,
}

impl Caller {
    pub fn audit(&self) -> AuditContext {
        self.client.audit(Some(&self.user))
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.user.id,
            role: self.user.role,
        }
    }

    /// The caller as the ledger batch takes it (which reads the session again, in its own
    /// transaction).
    pub fn bearer(&self) -> Bearer {
        Bearer {
            user_id: self.user.id,
            session_id: self.session_id,
            client: self.client.clone(),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Bearer::from_request_parts(parts, state)
            .await?
            .authenticate(state)
            .await
    }
}

/// The token of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = headers.get(AUTHORIZATION).ok_or(ApiError::MissingToken)?;
    let text = header
        .to_str()
        .map_err(|_| ApiError::Token(TokenError::Invalid))?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(token.trim())
        }
        _ => Err(ApiError::Token(TokenError::Invalid)),
    }
}
