//! The error body every non-2xx response carries:
//! `{"error": {"code": "...", "message": "...", "request_id": "..."}}`, with `"details"` when
//! the error names a part of the request (a transaction's posting).
//!
//! [`ApiError`](crate::ApiError) does not write the body itself, because the request id is only
//! known to the middleware: it leaves an [`ErrorReport`] in the response's extensions, and
//! [`finish`] renders it. A 4xx or 5xx that arrives without a report (axum's empty 405, the
//! body limit's text 413, a timeout) gets an envelope built from its status, so no error ever
//! leaves in another shape.

use axum::body::Body;
use axum::response::Response;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use crate::code::ErrorCode;
use crate::request_id::RequestId;

/// What an error response tells the client, waiting for its request id.
#[derive(Debug, Clone)]
pub(crate) struct ErrorReport {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    pub(crate) details: Option<ErrorDetails>,
}

/// The part of the request an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct ErrorDetails {
    /// The transaction's posting (from 0) that was refused.
    pub(crate) posting_index: u8,
}

impl ErrorReport {
    /// The report for a response that came without one: the code the table gives its status.
    fn for_status(status: StatusCode) -> Self {
        let code = match status {
            StatusCode::BAD_REQUEST => ErrorCode::MalformedRequest,
            StatusCode::UNAUTHORIZED => ErrorCode::InvalidToken,
            StatusCode::FORBIDDEN => ErrorCode::InsufficientPermissions,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::CONFLICT => ErrorCode::ConcurrentModification,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::ValidationFailed,
            StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::ServiceUnavailable,
            other if other.is_server_error() => ErrorCode::InternalError,
            _ => ErrorCode::MalformedRequest,
        };
        // A status outside the table keeps its own reason rather than borrow another's sentence.
        let message = if code.status() == status {
            code.summary()
        } else {
            status.canonical_reason().unwrap_or("The request failed.")
        };
        Self {
            code,
            message: message.to_owned(),
            details: None,
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: EnvelopeBody<'a>,
}

#[derive(Serialize)]
struct EnvelopeBody<'a> {
    code: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<ErrorDetails>,
    request_id: &'a str,
}

/// Marks a response whose body is already final (a stored idempotent response, whose error
/// envelope names the first request's id): [`finish`] passes it through untouched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Final;

/// The envelope's bytes: the one rendering of every error body.
pub(crate) fn render(
    code: ErrorCode,
    message: &str,
    details: Option<ErrorDetails>,
    request_id: &str,
) -> Vec<u8> {
    let envelope = Envelope {
        error: EnvelopeBody {
            code,
            message,
            details,
            request_id,
        },
    };
    // Serializing these strings and a number cannot fail; the fallback keeps the shape anyway.
    serde_json::to_vec(&envelope).unwrap_or_else(|_| {
        br#"{"error":{"code":"INTERNAL_ERROR","message":"An internal error occurred.","request_id":""}}"#
            .to_vec()
    })
}

/// Gives an error response its envelope; any other response passes unchanged.
pub(crate) fn finish(response: Response, request_id: &RequestId) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || response.extensions().get::<Final>().is_some() {
        return response;
    }
    let (mut parts, _unenveloped_body) = response.into_parts();
    let report = parts.extensions.remove::<ErrorReport>().unwrap_or_else(|| {
        if status.is_server_error() {
            // An ApiError logs its own cause; this one came from a layer that logged nothing.
            tracing::error!(
                request_id = request_id.as_str(),
                status = status.as_u16(),
                "request failed without a reported cause"
            );
        }
        ErrorReport::for_status(status)
    });
    let body = render(
        report.code,
        &report.message,
        report.details,
        request_id.as_str(),
    );
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(body))
}
