//! Idempotency records (API.md "Idempotency"): the key, the request's fingerprint, and the
//! first response a key's record holds. A record is written only with its effect, in the
//! batch's transaction (see [`crate::ledger::decide_batch`]): never one without the other.

use std::fmt;

use chrono::TimeDelta;
use coffre_domain::ids::UserId;

/// How long a key's record is kept (API.md: at least 24 h); older ones are purged.
pub const RETENTION: TimeDelta = TimeDelta::hours(24);

/// An `Idempotency-Key` header value: 1 to 255 printable ASCII characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 255 printable ASCII characters without spaces")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(text: &str) -> Result<Self, InvalidIdempotencyKey> {
        let printable = text.bytes().all(|byte| byte.is_ascii_graphic());
        if printable && (1..=Self::MAX_LEN).contains(&text.len()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidIdempotencyKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The SHA-256 of a request's method, path and body: two requests with one key are "the same"
/// exactly when their fingerprints are equal.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", hex_prefix(&self.0))
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The first response to a key, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A key's record as a backend read it: the first request's fingerprint and response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingKey {
    pub fingerprint: Fingerprint,
    pub response: StoredResponse,
}

/// A key's row holding what its constraints forbid: only an edit behind the store's back
/// produces one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("idempotency record holds an invalid {0}")]
pub struct CorruptKey(&'static str);

impl ExistingKey {
    pub fn from_columns(
        fingerprint: &[u8],
        response_status: i64,
        response_body: Vec<u8>,
    ) -> Result<Self, CorruptKey> {
        Ok(Self {
            fingerprint: Fingerprint::from_slice(fingerprint).ok_or(CorruptKey("fingerprint"))?,
            response: StoredResponse {
                status: u16::try_from(response_status)
                    .map_err(|_| CorruptKey("response status"))?,
                body: response_body,
            },
        })
    }
}

/// A record to write with its effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub user_id: UserId,
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
    pub response: StoredResponse,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("tab\there").is_err());
        assert!(IdempotencyKey::parse("clé").is_err());
    }
}
