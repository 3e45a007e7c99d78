//! Coffre's `Json` and `Query` extractors: axum's, with every rejection turned into an
//! [`ApiError`] so it answers with the error envelope and the code API.md gives it.
//!
//! Convention for request bodies and query structs: derive `Deserialize` with
//! `#[serde(deny_unknown_fields)]`. API.md rejects unknown fields (422 `VALIDATION_FAILED` in a
//! body), and a typo'd optional field silently ignored is a bug the client never sees.
//!
//! | failure | answer |
//! | --- | --- |
//! | no or wrong `Content-Type` | 415 `UNSUPPORTED_MEDIA_TYPE` |
//! | body over the limit, announced or streamed | 413 `PAYLOAD_TOO_LARGE` |
//! | not JSON, trailing bytes, truncated | 400 `MALFORMED_REQUEST` |
//! | unknown field, wrong type, missing field | 422 `VALIDATION_FAILED`, naming the field |
//! | query string that does not deserialize | 400 `MALFORMED_REQUEST` |
//!
//! Messages quote serde, which can echo the client's input; they are cut at
//! [`MAX_MESSAGE_CHARS`] so a 64 KiB field name does not come back in the error.

use axum::extract::rejection::{BytesRejection, FailedToBufferBody, JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The longest error message built from client input, in characters.
pub const MAX_MESSAGE_CHARS: usize = 200;

/// A JSON request body (and, as a response, a JSON body).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::JsonDataError(error) => ApiError::ValidationFailed(bounded(format!(
            "the body does not match the expected fields: {}",
            cause(&error, error.body_text())
        ))),
        JsonRejection::JsonSyntaxError(error) => ApiError::MalformedRequest(bounded(format!(
            "the body is not valid JSON: {}",
            cause(&error, error.body_text())
        ))),
        JsonRejection::BytesRejection(BytesRejection::FailedToBufferBody(
            FailedToBufferBody::LengthLimitError(_),
        )) => ApiError::PayloadTooLarge,
        // The client stopped sending, or sent a broken chunked encoding.
        _ => ApiError::MalformedRequest("the body could not be read".to_owned()),
    }
}

/// A query string deserialized into `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(error)) => {
                Err(ApiError::MalformedRequest(bounded(format!(
                    "the query string is not valid: {}",
                    cause(&error, error.body_text())
                ))))
            }
            Err(_) => Err(ApiError::MalformedRequest(
                "the query string is not valid".to_owned(),
            )),
        }
    }
}

/// serde's own words, without axum's prefix.
fn cause(rejection: &dyn std::error::Error, fallback: String) -> String {
    rejection
        .source()
        .map_or(fallback, |source| source.to_string())
}

fn bounded(mut message: String) -> String {
    if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(cut);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 50);
        let cut = bounded(long);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));

        let short = "x".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(bounded(short.clone()), short);
    }
}
