//! Idempotency records (API.md "Idempotency"): what a key's row holds and the one rule that
//! decides, from that row, what a new request with the same key gets.

use std::fmt;

use chrono::TimeDelta;
use coffre_domain::ids::UserId;
use coffre_domain::time::Timestamp;
use uuid::Uuid;

/// How long a claim protects a request that is still running. A claim older than this belongs
/// to a request that died (the server stopped mid-way): its effect never committed, so the key
/// may be claimed again. Far above the request timeout, so a live request never loses its key.
pub const CLAIM_LEASE: TimeDelta = TimeDelta::minutes(1);

/// How long a key's record is kept (API.md: at least 24 h); older ones are purged.
pub const RETENTION: TimeDelta = TimeDelta::hours(24);

/// An `Idempotency-Key` header value: 1 to 255 printable ASCII characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

/// A request's hold on its key: the effect's transaction completes the record only if this
/// claim still holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub user_id: UserId,
    pub key: IdempotencyKey,
    pub claim_id: Uuid,
}

/// The first response to a key, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What claiming a key gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The key is this request's: go on, and complete it with the effect.
    Claimed(Claim),
    /// The same request already completed: answer this.
    Replay(StoredResponse),
    /// The key was used for another request (422 `IDEMPOTENCY_KEY_REUSED`).
    Reused,
    /// The same request is still running (409 `IDEMPOTENCY_KEY_IN_USE`).
    InFlight,
}

/// A key's row as a backend read it, under lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingKey {
    pub fingerprint: Fingerprint,
    pub claimed_at: Timestamp,
    pub response: Option<StoredResponse>,
}

/// A key's row holding what its constraints forbid: only an edit behind the store's back
/// produces one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("idempotency record holds an invalid {0}")]
pub struct CorruptKey(&'static str);

impl ExistingKey {
    /// The row from its stored columns; a response counts only with both its status and body.
    pub fn from_columns(
        fingerprint: &[u8],
        claimed_at: Timestamp,
        response_status: Option<i64>,
        response_body: Option<Vec<u8>>,
    ) -> Result<Self, CorruptKey> {
        let response = match (response_status, response_body) {
            (Some(status), Some(body)) => Some(StoredResponse {
                status: u16::try_from(status).map_err(|_| CorruptKey("response status"))?,
                body,
            }),
            _ => None,
        };
        Ok(Self {
            fingerprint: Fingerprint::from_slice(fingerprint).ok_or(CorruptKey("fingerprint"))?,
            claimed_at,
            response,
        })
    }
}

/// What a backend does with a key that already has a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyDecision {
    Answer(ClaimOutcome),
    /// The earlier claim's lease is over: claim the row anew (new `claim_id`, `claimed_at`).
    TakeOver,
}

/// The rule, once for both backends: another request is refused whatever the row's state; the
/// same request replays if completed, waits its turn while a live claim runs, and takes the
/// key over from a claim whose lease is over.
pub fn decide(existing: &ExistingKey, fingerprint: Fingerprint, now: Timestamp) -> KeyDecision {
    if existing.fingerprint != fingerprint {
        return KeyDecision::Answer(ClaimOutcome::Reused);
    }
    if let Some(response) = &existing.response {
        return KeyDecision::Answer(ClaimOutcome::Replay(response.clone()));
    }
    let lease_over = existing
        .claimed_at
        .as_datetime()
        .checked_add_signed(CLAIM_LEASE)
        .is_none_or(|end| end <= now.as_datetime());
    if lease_over {
        KeyDecision::TakeOver
    } else {
        KeyDecision::Answer(ClaimOutcome::InFlight)
    }
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

    #[test]
    fn the_decision_follows_the_contract() {
        let now = Timestamp::now();
        let same = Fingerprint([1; 32]);
        let other = Fingerprint([2; 32]);
        let response = StoredResponse {
            status: 201,
            body: b"{}".to_vec(),
        };
        let completed = ExistingKey {
            fingerprint: same,
            claimed_at: now,
            response: Some(response.clone()),
        };
        assert_eq!(
            decide(&completed, same, now),
            KeyDecision::Answer(ClaimOutcome::Replay(response))
        );
        assert_eq!(
            decide(&completed, other, now),
            KeyDecision::Answer(ClaimOutcome::Reused)
        );

        let running = ExistingKey {
            response: None,
            ..completed
        };
        assert_eq!(
            decide(&running, same, now),
            KeyDecision::Answer(ClaimOutcome::InFlight)
        );
        assert_eq!(
            decide(&running, other, now),
            KeyDecision::Answer(ClaimOutcome::Reused)
        );
        let later = Timestamp::from_datetime(now.as_datetime() + CLAIM_LEASE);
        assert_eq!(decide(&running, same, later), KeyDecision::TakeOver);
    }
}
