//! The stable error codes of API.md §2, each with its status and a plain sentence.

use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// The codes of API.md §2, each with the status it is always sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    MalformedRequest,
    IdempotencyKeyRequired,
    MissingToken,
    InvalidToken,
    TokenExpired,
    SessionRevoked,
    InvalidCredentials,
    RefreshTokenReused,
    InsufficientPermissions,
    NotFound,
    AccountNotFound,
    TransferNotFound,
    PaymentNotFound,
    HoldNotFound,
    TransactionNotFound,
    UserNotFound,
    EventNotFound,
    WebhookEndpointNotFound,
    MethodNotAllowed,
    InvalidState,
    IdempotencyKeyInUse,
    EmailTaken,
    LastAdmin,
    ConcurrentModification,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    InsufficientFunds,
    BalanceLimitExceeded,
    CurrencyMismatch,
    AccountFrozen,
    SameAccount,
    IdempotencyKeyReused,
    AmountExceedsAuthorized,
    AmountExceedsRefundable,
    AmountExceedsHeld,
    RateLimited,
    InternalError,
    ServiceUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 39] = [
        Self::MalformedRequest,
        Self::IdempotencyKeyRequired,
        Self::MissingToken,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::SessionRevoked,
        Self::InvalidCredentials,
        Self::RefreshTokenReused,
        Self::InsufficientPermissions,
        Self::NotFound,
        Self::AccountNotFound,
        Self::TransferNotFound,
        Self::PaymentNotFound,
        Self::HoldNotFound,
        Self::TransactionNotFound,
        Self::UserNotFound,
        Self::EventNotFound,
        Self::WebhookEndpointNotFound,
        Self::MethodNotAllowed,
        Self::InvalidState,
        Self::IdempotencyKeyInUse,
        Self::EmailTaken,
        Self::LastAdmin,
        Self::ConcurrentModification,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::ValidationFailed,
        Self::InsufficientFunds,
        Self::BalanceLimitExceeded,
        Self::CurrencyMismatch,
        Self::AccountFrozen,
        Self::SameAccount,
        Self::IdempotencyKeyReused,
        Self::AmountExceedsAuthorized,
        Self::AmountExceedsRefundable,
        Self::AmountExceedsHeld,
        Self::RateLimited,
        Self::InternalError,
        Self::ServiceUnavailable,
    ];

    pub const fn status(self) -> StatusCode {
        match self {
            Self::MalformedRequest | Self::IdempotencyKeyRequired => StatusCode::BAD_REQUEST,
            Self::MissingToken
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::SessionRevoked
            | Self::InvalidCredentials
            | Self::RefreshTokenReused => StatusCode::UNAUTHORIZED,
            Self::InsufficientPermissions => StatusCode::FORBIDDEN,
            Self::NotFound
            | Self::AccountNotFound
            | Self::TransferNotFound
            | Self::PaymentNotFound
            | Self::HoldNotFound
            | Self::TransactionNotFound
            | Self::UserNotFound
            | Self::EventNotFound
            | Self::WebhookEndpointNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidState
            | Self::IdempotencyKeyInUse
            | Self::EmailTaken
            | Self::LastAdmin
            | Self::ConcurrentModification => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::ValidationFailed
            | Self::InsufficientFunds
            | Self::BalanceLimitExceeded
            | Self::CurrencyMismatch
            | Self::AccountFrozen
            | Self::SameAccount
            | Self::IdempotencyKeyReused
            | Self::AmountExceedsAuthorized
            | Self::AmountExceedsRefundable
            | Self::AmountExceedsHeld => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code as it appears on the wire, for log fields.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MalformedRequest => "MALFORMED_REQUEST",
            Self::IdempotencyKeyRequired => "IDEMPOTENCY_KEY_REQUIRED",
            Self::MissingToken => "MISSING_TOKEN",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::SessionRevoked => "SESSION_REVOKED",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            Self::InsufficientPermissions => "INSUFFICIENT_PERMISSIONS",
            Self::NotFound => "NOT_FOUND",
            Self::AccountNotFound => "ACCOUNT_NOT_FOUND",
            Self::TransferNotFound => "TRANSFER_NOT_FOUND",
            Self::PaymentNotFound => "PAYMENT_NOT_FOUND",
            Self::HoldNotFound => "HOLD_NOT_FOUND",
            Self::TransactionNotFound => "TRANSACTION_NOT_FOUND",
            Self::UserNotFound => "USER_NOT_FOUND",
            Self::EventNotFound => "EVENT_NOT_FOUND",
            Self::WebhookEndpointNotFound => "WEBHOOK_ENDPOINT_NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::InvalidState => "INVALID_STATE",
            Self::IdempotencyKeyInUse => "IDEMPOTENCY_KEY_IN_USE",
            Self::EmailTaken => "EMAIL_TAKEN",
            Self::LastAdmin => "LAST_ADMIN",
            Self::ConcurrentModification => "CONCURRENT_MODIFICATION",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::ValidationFailed => "VALIDATION_FAILED",
            Self::InsufficientFunds => "INSUFFICIENT_FUNDS",
            Self::BalanceLimitExceeded => "BALANCE_LIMIT_EXCEEDED",
            Self::CurrencyMismatch => "CURRENCY_MISMATCH",
            Self::AccountFrozen => "ACCOUNT_FROZEN",
            Self::SameAccount => "SAME_ACCOUNT",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::AmountExceedsAuthorized => "AMOUNT_EXCEEDS_AUTHORIZED",
            Self::AmountExceedsRefundable => "AMOUNT_EXCEEDS_REFUNDABLE",
            Self::AmountExceedsHeld => "AMOUNT_EXCEEDS_HELD",
            Self::RateLimited => "RATE_LIMITED",
            Self::InternalError => "INTERNAL_ERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }

    /// The sentence sent when nothing more specific is known.
    pub const fn summary(self) -> &'static str {
        match self {
            Self::MalformedRequest => "The request could not be parsed.",
            Self::IdempotencyKeyRequired => "This request needs an Idempotency-Key header.",
            Self::MissingToken => "This request needs an access token.",
            Self::InvalidToken => "The access token is not valid.",
            Self::TokenExpired => "The access token has expired.",
            Self::SessionRevoked => "The session has been revoked.",
            Self::InvalidCredentials => "The email or password is wrong.",
            Self::RefreshTokenReused => {
                "The refresh token was already used; the session has been revoked."
            }
            Self::InsufficientPermissions => "Your role does not allow this.",
            Self::NotFound => "Nothing exists at this path.",
            Self::AccountNotFound => "No such account.",
            Self::TransferNotFound => "No such transfer.",
            Self::PaymentNotFound => "No such payment.",
            Self::HoldNotFound => "No such hold.",
            Self::TransactionNotFound => "No such transaction.",
            Self::UserNotFound => "No such user.",
            Self::EventNotFound => "No such event.",
            Self::WebhookEndpointNotFound => "No such webhook endpoint.",
            Self::MethodNotAllowed => {
                "This path does not accept this method; the Allow header lists those it does."
            }
            Self::InvalidState => "The resource is not in a state that allows this.",
            Self::IdempotencyKeyInUse => "A request with this Idempotency-Key is still running.",
            Self::EmailTaken => "This email is already registered.",
            Self::LastAdmin => "The last active admin cannot be removed.",
            Self::ConcurrentModification => {
                "The resource was modified concurrently; retry the request."
            }
            Self::PayloadTooLarge => "The request body is larger than 64 KiB.",
            Self::UnsupportedMediaType => {
                "A request body must be sent with Content-Type: application/json."
            }
            Self::ValidationFailed => "The request is not valid.",
            Self::InsufficientFunds => "The account does not hold enough funds.",
            Self::BalanceLimitExceeded => {
                "The amount would take the receiving balance above its max_balance."
            }
            Self::CurrencyMismatch => "The currencies do not match.",
            Self::AccountFrozen => "The account is frozen.",
            Self::SameAccount => "The source and destination accounts are the same.",
            Self::IdempotencyKeyReused => {
                "This Idempotency-Key was already used for a different request."
            }
            Self::AmountExceedsAuthorized => "The amount exceeds the authorized amount.",
            Self::AmountExceedsRefundable => "The amount exceeds what remains refundable.",
            Self::AmountExceedsHeld => "The amount exceeds what the hold still holds.",
            Self::RateLimited => "Too many requests; retry after the delay in Retry-After.",
            Self::InternalError => "An internal error occurred.",
            Self::ServiceUnavailable => "The service is unavailable; try again later.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes of the table in API.md §2, as written there.
    const API_MD_CODES: [&str; 39] = [
        "MALFORMED_REQUEST",
        "IDEMPOTENCY_KEY_REQUIRED",
        "MISSING_TOKEN",
        "INVALID_TOKEN",
        "TOKEN_EXPIRED",
        "SESSION_REVOKED",
        "INVALID_CREDENTIALS",
        "REFRESH_TOKEN_REUSED",
        "INSUFFICIENT_PERMISSIONS",
        "NOT_FOUND",
        "ACCOUNT_NOT_FOUND",
        "TRANSFER_NOT_FOUND",
        "PAYMENT_NOT_FOUND",
        "HOLD_NOT_FOUND",
        "TRANSACTION_NOT_FOUND",
        "USER_NOT_FOUND",
        "EVENT_NOT_FOUND",
        "WEBHOOK_ENDPOINT_NOT_FOUND",
        "METHOD_NOT_ALLOWED",
        "INVALID_STATE",
        "IDEMPOTENCY_KEY_IN_USE",
        "EMAIL_TAKEN",
        "LAST_ADMIN",
        "CONCURRENT_MODIFICATION",
        "PAYLOAD_TOO_LARGE",
        "UNSUPPORTED_MEDIA_TYPE",
        "VALIDATION_FAILED",
        "INSUFFICIENT_FUNDS",
        "BALANCE_LIMIT_EXCEEDED",
        "CURRENCY_MISMATCH",
        "ACCOUNT_FROZEN",
        "SAME_ACCOUNT",
        "IDEMPOTENCY_KEY_REUSED",
        "AMOUNT_EXCEEDS_AUTHORIZED",
        "AMOUNT_EXCEEDS_REFUNDABLE",
        "AMOUNT_EXCEEDS_HELD",
        "RATE_LIMITED",
        "INTERNAL_ERROR",
        "SERVICE_UNAVAILABLE",
    ];

    #[test]
    fn codes_serialize_as_the_table_spells_them() {
        let serialized: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|code| {
                serde_json::to_value(code)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(serialized, API_MD_CODES);
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn codes_have_the_status_of_their_table_row() {
        let status_of = |name: &str| {
            ErrorCode::ALL
                .into_iter()
                .find(|code| code.as_str() == name)
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(status_of("IDEMPOTENCY_KEY_REQUIRED"), 400);
        assert_eq!(status_of("REFRESH_TOKEN_REUSED"), 401);
        assert_eq!(status_of("INSUFFICIENT_PERMISSIONS"), 403);
        assert_eq!(status_of("USER_NOT_FOUND"), 404);
        assert_eq!(status_of("METHOD_NOT_ALLOWED"), 405);
        assert_eq!(status_of("CONCURRENT_MODIFICATION"), 409);
        assert_eq!(status_of("PAYLOAD_TOO_LARGE"), 413);
        assert_eq!(status_of("UNSUPPORTED_MEDIA_TYPE"), 415);
        assert_eq!(status_of("AMOUNT_EXCEEDS_REFUNDABLE"), 422);
        assert_eq!(status_of("BALANCE_LIMIT_EXCEEDED"), 422);
        assert_eq!(status_of("HOLD_NOT_FOUND"), 404);
        assert_eq!(status_of("EVENT_NOT_FOUND"), 404);
        assert_eq!(status_of("AMOUNT_EXCEEDS_HELD"), 422);
        assert_eq!(status_of("RATE_LIMITED"), 429);
        assert_eq!(status_of("INTERNAL_ERROR"), 500);
        assert_eq!(status_of("SERVICE_UNAVAILABLE"), 503);
    }
}
