//! The HTTP side of idempotency (API.md "Idempotency"): the `Idempotency-Key` header, the
//! request fingerprint, and turning a stored response back into a response. The key's record
//! is read and written by the ledger batch (see `coffre_store::orchestrator`).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use coffre_store::{Fingerprint, IdempotencyKey, StoredResponse};
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderName, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::envelope::Final;
use crate::error::ApiError;
use crate::extract::{Json, body_rejection};

pub const IDEMPOTENCY_KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The `Idempotency-Key` header, if the request sent one. A malformed key is refused (400)
/// rather than ignored: a client that sent one expects it to protect the request.
#[derive(Debug, Clone)]
pub struct KeyHeader(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for KeyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_KEY_HEADER) else {
            return Ok(Self(None));
        };
        value
            .to_str()
            .ok()
            .and_then(|text| IdempotencyKey::parse(text).ok())
            .map(|key| Self(Some(key)))
            .ok_or_else(|| {
                ApiError::MalformedRequest(
                    "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces"
                        .to_owned(),
                )
            })
    }
}

impl KeyHeader {
    /// For the routes where API.md requires a key.
    pub fn required(self) -> Result<IdempotencyKey, ApiError> {
        self.0.ok_or(ApiError::IdempotencyKeyRequired)
    }
}

fn fingerprint_hasher(parts: &Parts) -> Sha256 {
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |path| path.as_str());
    let mut hasher = Sha256::new();
    for part in [parts.method.as_str().as_bytes(), path.as_bytes()] {
        hasher.update(part);
        hasher.update([0]);
    }
    hasher
}

/// The fingerprint of a request that takes no body (freeze, unfreeze): method and path. A
/// body sent anyway is not read.
#[derive(Debug, Clone, Copy)]
pub struct RequestFingerprint(pub Fingerprint);

impl<S: Send + Sync> FromRequestParts<S> for RequestFingerprint {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Fingerprint(
            fingerprint_hasher(parts).finalize().into(),
        )))
    }
}

/// A JSON body together with the request's fingerprint (method, path and exact body bytes).
#[derive(Debug)]
pub struct Fingerprinted<T> {
    pub body: T,
    pub fingerprint: Fingerprint,
}

impl<T, S> FromRequest<S> for Fingerprinted<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let mut hasher = fingerprint_hasher(&parts);
        // Buffer once, hash the bytes, then let `Json` judge them exactly as it judges any body.
        let content_type = parts.headers.get(CONTENT_TYPE).cloned();
        let mut buffered = Request::new(body);
        // The extensions carry the body limit.
        *buffered.extensions_mut() = std::mem::take(&mut parts.extensions);
        let bytes = Bytes::from_request(buffered, state)
            .await
            .map_err(body_rejection)?;
        hasher.update(&bytes);
        let fingerprint = Fingerprint(hasher.finalize().into());
        // No body at all stands for `{}` where every field is optional (`{amount?}`); where
        // some field is required, it is the missing JSON body it always was (415).
        if bytes.is_empty() && content_type.is_none() {
            return serde_json::from_slice(b"{}")
                .map(|body| Self { body, fingerprint })
                .map_err(|_| ApiError::UnsupportedMediaType);
        }
        let mut rebuilt = Request::new(Body::from(bytes));
        if let Some(content_type) = content_type {
            rebuilt.headers_mut().insert(CONTENT_TYPE, content_type);
        }
        let Json(body) = Json::<T>::from_request(rebuilt, state).await?;
        Ok(Self { body, fingerprint })
    }
}

/// A completed request's first response, answered again.
pub fn replayed(stored: StoredResponse) -> Response {
    let mut response = final_response(stored);
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

/// A rendered response, sent as is: the same bytes whether first answered or replayed.
pub fn final_response(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, stored.body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.extensions_mut().insert(Final);
    response
}
