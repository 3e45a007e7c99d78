//! Idempotency records (API.md "Idempotency"): the key, the request's fingerprint, and the
//! first response a key's record holds. A record is written only with its effect, in the
//! batch's transaction (see [`crate::ledger`]): never one without the other.

use chrono::TimeDelta;
pub use coffre_domain::idempotency::{Fingerprint, IdempotencyKey, InvalidIdempotencyKey};
use coffre_domain::ids::UserId;

/// How long a key's record is kept (API.md: at least 24 h); older ones are purged.
pub const RETENTION: TimeDelta = TimeDelta::hours(24);

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

    /// A record read for a batch, keyed as the batch looks it up: by its user and its key.
    pub fn entry(
        user_id: uuid::Uuid,
        key: &str,
        fingerprint: &[u8],
        response_status: i64,
        response_body: Vec<u8>,
    ) -> Result<((UserId, IdempotencyKey), Self), CorruptKey> {
        let key = IdempotencyKey::parse(key).map_err(|_| CorruptKey("key"))?;
        let existing = Self::from_columns(fingerprint, response_status, response_body)?;
        Ok(((UserId::from_uuid(user_id), key), existing))
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
