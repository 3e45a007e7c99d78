//! `X-Request-Id`: the id that ties a response, its error body and its log lines together.
//!
//! A client's id is kept when it is sane: 1 to 128 characters, each an ASCII letter, a digit,
//! or one of `.` `_` `:` `-`. That covers UUIDs, ULIDs and the usual `req_…` forms while keeping
//! anything that could forge a log line, break a header or bloat storage out. Any other value
//! is replaced by a fresh UUID v7, not rejected, because the request itself is fine.

use std::fmt;

use axum::extract::FromRequestParts;
use http::HeaderName;
use http::request::Parts;
use uuid::Uuid;

use crate::error::ApiError;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served. Handlers extract it (audit events record it).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    pub const MAX_LEN: usize = 128;

    /// The client's id if it is sane, else `None`.
    pub fn parse(candidate: &str) -> Option<Self> {
        let sane = !candidate.is_empty()
            && candidate.len() <= Self::MAX_LEN
            && candidate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        sane.then(|| Self(candidate.to_owned()))
    }

    pub fn generate() -> Self {
        Self(Uuid::now_v7().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .ok_or(ApiError::MissingExtension("RequestId"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept() {
        for id in [
            "a",
            "0190f1c2-7a3b-7c4d-8e5f-123456789abc",
            "req_01HZX3:retry.2",
            &"x".repeat(128),
        ] {
            assert_eq!(RequestId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn insane_ids_are_refused() {
        for id in [
            "",
            &"x".repeat(129),
            "has space",
            "new\nline",
            "quote\"",
            "slash/",
            "é",
        ] {
            assert!(RequestId::parse(id).is_none(), "{id:?} was accepted");
        }
    }

    #[test]
    fn generated_ids_are_uuid_v7_and_sane() {
        let id = RequestId::generate();
        let uuid = Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        assert!(RequestId::parse(id.as_str()).is_some());
    }
}
