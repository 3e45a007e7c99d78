//! The one mapping from failures to HTTP: every error a handler, an extractor or a middleware
//! reports is an [`ApiError`], which names a stable [`ErrorCode`] and, through it, a status.
//!
//! A 5xx is logged here with its full cause (the request span adds the request id); the client
//! only ever reads the code's plain sentence, never SQL, paths or panic text.

use std::error::Error as StdError;
use std::fmt::Write as _;

use axum::response::{IntoResponse, Response};
use coffre_domain::access::Denied;
use coffre_domain::ledger::Refusal;
use coffre_domain::metadata::MetadataError;
use coffre_store::{SessionRefused, StoreError};
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};

use crate::auth::password::HashingError;
use crate::auth::token::{CryptoFailed, TokenError};

use crate::code::ErrorCode;
use crate::envelope::{ErrorDetails, ErrorReport};

/// Every way a request can fail, named for what happened. Display is for logs; the client
/// reads [`ErrorCode::summary`] or, for the client's own mistakes, the variant's message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON or the query string does not parse. The message says where.
    #[error("malformed request: {0}")]
    MalformedRequest(String),

    #[error("request body over the size limit")]
    PayloadTooLarge,

    #[error("request body without Content-Type: application/json")]
    UnsupportedMediaType,

    /// Well-formed input the types refuse. The message names the field.
    #[error("validation failed: {0}")]
    ValidationFailed(String),

    /// A field of a transaction's posting `index` that the types refuse.
    #[error("validation failed: posting {index}: {message}")]
    InvalidPosting { index: u8, message: String },

    #[error("no route matches the path")]
    NotFound,

    #[error("the route does not accept the method")]
    MethodNotAllowed,

    /// The readiness probe could not reach the database, whatever the store answered.
    #[error("readiness check failed: {0}")]
    NotReady(#[source] StoreError),

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("no bearer token")]
    MissingToken,

    #[error(transparent)]
    Token(#[from] TokenError),

    /// Logged out, revoked after a refresh-token reuse, expired, or its user disabled.
    #[error("the session is no longer valid")]
    SessionRevoked,

    #[error("wrong email or password")]
    InvalidCredentials,

    #[error("a rotated refresh token was presented again")]
    RefreshTokenReused,

    #[error("the caller's role does not allow this")]
    Forbidden,

    #[error("no such user")]
    UserNotFound,

    #[error("no such account")]
    AccountNotFound,

    #[error("no such transfer")]
    TransferNotFound,

    #[error("no such payment")]
    PaymentNotFound,

    #[error("no such hold")]
    HoldNotFound,
    #[error("no such transaction")]
    TransactionNotFound,

    #[error("no such event")]
    EventNotFound,

    #[error("no such webhook endpoint")]
    WebhookEndpointNotFound,

    /// The ledger refused the command.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),

    #[error("no Idempotency-Key on a request that requires one")]
    IdempotencyKeyRequired,

    #[error("the Idempotency-Key was used for another request")]
    IdempotencyKeyReused,

    #[error("the first request with this Idempotency-Key is still running")]
    IdempotencyKeyInUse,

    #[error("no active admin would remain")]
    LastAdmin,

    #[error("the email is taken")]
    EmailTaken,

    #[error("too many requests in flight; shed")]
    Overloaded,

    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },

    #[error(transparent)]
    Hashing(#[from] HashingError),

    #[error(transparent)]
    Crypto(#[from] CryptoFailed),

    #[error("handler panicked: {0}")]
    Panicked(String),

    /// A handler asked for something only the middleware stack provides: a wiring bug.
    #[error("request extension {0} is missing: the route is not behind the API middleware")]
    MissingExtension(&'static str),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MalformedRequest(_) => ErrorCode::MalformedRequest,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::ValidationFailed(_) | Self::InvalidPosting { .. } => ErrorCode::ValidationFailed,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::NotReady(_) => ErrorCode::ServiceUnavailable,
            Self::Store(store) => match store {
                StoreError::Unavailable(_) => ErrorCode::ServiceUnavailable,
                StoreError::Contention => ErrorCode::ConcurrentModification,
                StoreError::Constraint { .. } | StoreError::Internal(_) => ErrorCode::InternalError,
            },
            Self::MissingToken => ErrorCode::MissingToken,
            Self::Token(TokenError::Invalid) => ErrorCode::InvalidToken,
            Self::Token(TokenError::Expired) => ErrorCode::TokenExpired,
            Self::SessionRevoked => ErrorCode::SessionRevoked,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::RefreshTokenReused => ErrorCode::RefreshTokenReused,
            Self::EmailTaken => ErrorCode::EmailTaken,
            Self::Forbidden => ErrorCode::InsufficientPermissions,
            Self::UserNotFound => ErrorCode::UserNotFound,
            Self::AccountNotFound => ErrorCode::AccountNotFound,
            Self::TransferNotFound => ErrorCode::TransferNotFound,
            Self::PaymentNotFound => ErrorCode::PaymentNotFound,
            Self::HoldNotFound => ErrorCode::HoldNotFound,
            Self::TransactionNotFound => ErrorCode::TransactionNotFound,
            Self::EventNotFound => ErrorCode::EventNotFound,
            Self::WebhookEndpointNotFound => ErrorCode::WebhookEndpointNotFound,
            Self::Refused(refusal) => refusal_code(refusal),
            Self::IdempotencyKeyRequired => ErrorCode::IdempotencyKeyRequired,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::IdempotencyKeyInUse => ErrorCode::IdempotencyKeyInUse,
            Self::LastAdmin => ErrorCode::LastAdmin,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Overloaded => ErrorCode::ServiceUnavailable,
            Self::Panicked(_) | Self::MissingExtension(_) | Self::Hashing(_) | Self::Crypto(_) => {
                ErrorCode::InternalError
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// The part of the request the error is about, if it names one.
    pub(crate) fn details(&self) -> Option<ErrorDetails> {
        match self {
            Self::InvalidPosting { index, .. } | Self::Refused(Refusal::Posting { index, .. }) => {
                Some(ErrorDetails {
                    posting_index: *index,
                })
            }
            _ => None,
        }
    }

    /// What the client may read. Only messages about the client's own input are specific.
    pub fn public_message(&self) -> String {
        match self {
            Self::MalformedRequest(message) | Self::ValidationFailed(message) => message.clone(),
            Self::InvalidPosting { index, message } => format!("postings[{index}].{message}"),
            Self::Refused(Refusal::Posting { index, reason }) => format!(
                "Posting {index}: {}",
                Self::Refused(Refusal::clone(reason)).public_message()
            ),
            Self::Refused(Refusal::InvalidState { from, to }) => {
                format!("The payment is {from}; it cannot become {to}.")
            }
            Self::Refused(Refusal::HoldInvalidState { from, to }) => {
                format!("The hold is {from}; it cannot become {to}.")
            }
            Self::Refused(Refusal::HoldOfPayment(_)) => {
                "The hold is a payment's authorization: capture or cancel the payment instead."
                    .to_owned()
            }
            Self::Refused(Refusal::SystemAccountFreeze(_)) => {
                "A currency's system account cannot be frozen: it carries every deposit and \
                 withdrawal in that currency."
                    .to_owned()
            }
            Self::Refused(Refusal::BalanceLimit(_)) => {
                "The amount would take the receiving balance past the largest balance Coffre \
                 keeps."
                    .to_owned()
            }
            Self::Refused(Refusal::SystemAccountLimits(_)) => {
                "A currency's system account has no limits: it carries every deposit and \
                 withdrawal in that currency."
                    .to_owned()
            }
            Self::Refused(Refusal::LimitsBreached(_)) => {
                "The account's balance or available balance is already outside these limits."
                    .to_owned()
            }
            Self::Refused(Refusal::TooManyMetadataKeys) => {
                format!("metadata: {}", MetadataError::TooManyKeys)
            }
            Self::PayloadTooLarge
            | Self::UnsupportedMediaType
            | Self::NotFound
            | Self::MethodNotAllowed
            | Self::NotReady(_)
            | Self::Store(_)
            | Self::MissingToken
            | Self::Token(_)
            | Self::SessionRevoked
            | Self::InvalidCredentials
            | Self::RefreshTokenReused
            | Self::EmailTaken
            | Self::Forbidden
            | Self::UserNotFound
            | Self::AccountNotFound
            | Self::TransferNotFound
            | Self::PaymentNotFound
            | Self::HoldNotFound
            | Self::TransactionNotFound
            | Self::EventNotFound
            | Self::WebhookEndpointNotFound
            | Self::Refused(_)
            | Self::IdempotencyKeyRequired
            | Self::IdempotencyKeyReused
            | Self::IdempotencyKeyInUse
            | Self::LastAdmin
            | Self::RateLimited { .. }
            | Self::Overloaded
            | Self::Hashing(_)
            | Self::Crypto(_)
            | Self::Panicked(_)
            | Self::MissingExtension(_) => self.code().summary().to_owned(),
        }
    }
}

fn refusal_code(refusal: &Refusal) -> ErrorCode {
    match refusal {
        Refusal::AccountNotFound(_) => ErrorCode::AccountNotFound,
        Refusal::Forbidden => ErrorCode::InsufficientPermissions,
        Refusal::SameAccount => ErrorCode::SameAccount,
        Refusal::CurrencyMismatch => ErrorCode::CurrencyMismatch,
        Refusal::AccountFrozen(_) => ErrorCode::AccountFrozen,
        Refusal::InsufficientFunds => ErrorCode::InsufficientFunds,
        Refusal::BalanceLimitExceeded(_) => ErrorCode::BalanceLimitExceeded,
        Refusal::BalanceLimit(_)
        | Refusal::SystemAccountFreeze(_)
        | Refusal::SystemAccountLimits(_)
        | Refusal::LimitsBreached(_)
        | Refusal::TooManyMetadataKeys => ErrorCode::ValidationFailed,
        Refusal::PaymentNotFound(_) => ErrorCode::PaymentNotFound,
        Refusal::InvalidState { .. } => ErrorCode::InvalidState,
        Refusal::AmountExceedsAuthorized => ErrorCode::AmountExceedsAuthorized,
        Refusal::AmountExceedsRefundable => ErrorCode::AmountExceedsRefundable,
        Refusal::HoldNotFound(_) => ErrorCode::HoldNotFound,
        Refusal::HoldInvalidState { .. } | Refusal::HoldOfPayment(_) => ErrorCode::InvalidState,
        Refusal::AmountExceedsHeld => ErrorCode::AmountExceedsHeld,
        Refusal::SystemAccountMissing(_) | Refusal::PaymentHoldMissing(_) => {
            ErrorCode::InternalError
        }
        Refusal::Posting { reason, .. } => refusal_code(reason),
    }
}

/// A session that does not let its bearer in: an unknown one means a token this server's
/// sessions never issued.
impl From<SessionRefused> for ApiError {
    fn from(refused: SessionRefused) -> Self {
        match refused {
            SessionRefused::Unknown => Self::Token(TokenError::Invalid),
            SessionRefused::Revoked => Self::SessionRevoked,
        }
    }
}

/// A resource the caller may not see is absent to it; one it may see but not touch is 403.
impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Hidden => Self::NotFound,
            Denied::Forbidden => Self::Forbidden,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        if code.status().is_server_error() {
            tracing::error!(code = code.as_str(), cause = %cause_chain(&self), "request failed");
        } else {
            tracing::debug!(code = code.as_str(), "request refused");
        }
        let mut response = code.status().into_response();
        match &self {
            Self::RateLimited { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Overloaded => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response.extensions_mut().insert(ErrorReport {
            code,
            message: self.public_message(),
            details: self.details(),
        });
        response
    }
}

/// The error and its sources, each once: many errors already print their source in their own
/// message, so a source that the text so far ends with is skipped.
fn cause_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            let _ = write!(text, ": {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_their_codes_and_hide_their_cause() {
        let unavailable = ApiError::from(StoreError::Unavailable("connection refused".into()));
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.code(), ErrorCode::ServiceUnavailable);
        assert!(!unavailable.public_message().contains("refused"));

        let contention = ApiError::from(StoreError::Contention);
        assert_eq!(contention.status(), StatusCode::CONFLICT);
        assert_eq!(contention.code(), ErrorCode::ConcurrentModification);

        let constraint = ApiError::from(StoreError::Constraint {
            constraint: "users_email_key".into(),
        });
        assert_eq!(constraint.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(constraint.code(), ErrorCode::InternalError);
        assert!(!constraint.public_message().contains("users_email_key"));

        let internal = ApiError::from(StoreError::Internal("SELECT broke at /var/db".into()));
        assert_eq!(internal.code(), ErrorCode::InternalError);
        assert_eq!(internal.public_message(), "An internal error occurred.");
    }

    #[test]
    fn the_logged_cause_names_every_source_once() {
        let error = ApiError::from(StoreError::Internal("disk full".into()));
        assert_eq!(cause_chain(&error), "database error: disk full");
    }
}
