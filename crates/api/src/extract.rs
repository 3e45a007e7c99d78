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
//! | `charset` other than `utf-8` | 415 `UNSUPPORTED_MEDIA_TYPE` |
//! | not JSON, trailing bytes, truncated, not read within the body deadline | 400 `MALFORMED_REQUEST` |
//! | JSON but not an object | 422 `VALIDATION_FAILED` |
//! | unknown field, wrong type, missing field | 422 `VALIDATION_FAILED`, naming the field |
//! | query string that does not deserialize | 400 `MALFORMED_REQUEST` |
//! | a control character in any query parameter | 422 `VALIDATION_FAILED` |
//!
//! Messages quote serde, which can echo the client's input; they are cut at
//! [`MAX_MESSAGE_CHARS`] so a 64 KiB field name does not come back in the error.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use coffre_domain::metadata::MetadataFilter;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::edge::deadlines::BodyDeadlinePassed;
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
        check_content_type(request.headers())?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        parse_body(&bytes).map(Self)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `application/json` or `application/*+json`, in UTF-8: a `charset` other than `utf-8`
/// (any case) would be read as UTF-8 all the same and mean something else than was sent.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .ok_or(ApiError::UnsupportedMediaType)?;
    let mut pieces = value.split(';');
    let essence = pieces.next().unwrap_or_default().trim();
    let (kind, subtype) = essence
        .split_once('/')
        .ok_or(ApiError::UnsupportedMediaType)?;
    let json = kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype
                .rsplit_once('+')
                .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json")));
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    for parameter in pieces {
        let (name, charset) = parameter.split_once('=').unwrap_or((parameter, ""));
        if name.trim().eq_ignore_ascii_case("charset")
            && !charset
                .trim()
                .trim_matches('"')
                .eq_ignore_ascii_case("utf-8")
        {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    Ok(())
}

/// Reading the body failed: too long, too slow, or cut off.
pub(crate) fn body_rejection(rejection: BytesRejection) -> ApiError {
    let BytesRejection::FailedToBufferBody(failed) = rejection else {
        return ApiError::MalformedRequest("the body could not be read".to_owned());
    };
    if let FailedToBufferBody::LengthLimitError(_) = failed {
        return ApiError::PayloadTooLarge;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&failed);
    while let Some(error) = cause {
        if error.is::<BodyDeadlinePassed>() {
            return ApiError::MalformedRequest(error.to_string());
        }
        cause = error.source();
    }
    // The client stopped sending, or sent a broken chunked encoding.
    ApiError::MalformedRequest("the body could not be read".to_owned())
}

/// Bytes that are not JSON are 400; JSON that is not an object, or not the object `T`
/// describes (a wrong type, a missing or unknown field), is 422. Parsing into a
/// `serde_json::Value` first is what tells the two apart: reading `T` straight from the bytes,
/// serde_json reports some type errors (an array or a number where an enum belongs) as syntax
/// errors, and reads a struct from an array as readily as from an object.
pub(crate) fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::MalformedRequest(bounded(format!("the body is not valid JSON: {error}")))
    })?;
    if !value.is_object() {
        return Err(ApiError::ValidationFailed(
            "the body must be a JSON object".to_owned(),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        ApiError::ValidationFailed(bounded(format!(
            "the body does not match the expected fields: {error}"
        )))
    })
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
        refuse_control_characters(parts)?;
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

/// A list's query: the typed parameters `T`, and beside them the `metadata[KEY]=VALUE` filter
/// (API.md "Metadata"), which no struct of fixed fields can name.
pub struct FilteredQuery<T> {
    pub params: T,
    pub metadata: MetadataFilter,
}

impl<T, S> FromRequestParts<S> for FilteredQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        refuse_control_characters(parts)?;
        let malformed = |error: &dyn std::error::Error| {
            ApiError::MalformedRequest(bounded(format!("the query string is not valid: {error}")))
        };
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
                .map_err(|error| malformed(&error))?;
        let metadata = MetadataFilter::from_query_pairs(pairs.iter().map(|(n, v)| (n, v.clone())))
            .map_err(|error| ApiError::ValidationFailed(format!("metadata: {error}")))?;
        let rest: Vec<&(String, String)> = pairs
            .iter()
            .filter(|(name, _)| !MetadataFilter::is_filter_parameter(name))
            .collect();
        let rest = serde_urlencoded::to_string(rest).map_err(|error| malformed(&error))?;
        let params = serde_urlencoded::from_str(&rest).map_err(|error| malformed(&error))?;
        Ok(Self { params, metadata })
    }
}

/// Control characters are refused in every query parameter, as in every body text (422):
/// PostgreSQL refuses a NUL in a text value outright, and none belongs in a filter or a log.
fn refuse_control_characters(parts: &Parts) -> Result<(), ApiError> {
    // A query string that does not even split into pairs is left to the typed read (400).
    let Ok(axum::extract::Query(pairs)) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
    else {
        return Ok(());
    };
    match pairs
        .iter()
        .find(|(name, value)| name.chars().chain(value.chars()).any(char::is_control))
    {
        Some((name, _)) => Err(ApiError::ValidationFailed(bounded(format!(
            "the query parameter {name:?} must not contain control characters"
        )))),
        None => Ok(()),
    }
}

/// serde's own words, without axum's prefix.
fn cause(rejection: &dyn std::error::Error, fallback: String) -> String {
    rejection
        .source()
        .map_or(fallback, |source| source.to_string())
}

/// Cuts a message quoting client input at [`MAX_MESSAGE_CHARS`].
pub(crate) fn bounded(mut message: String) -> String {
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
