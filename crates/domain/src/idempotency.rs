//! Idempotency keys as values (API.md "Idempotency"): the key a client sends and the fingerprint
//! that says whether two requests with one key are the same request.

use std::fmt;

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
        write!(
            f,
            "Fingerprint({})",
            hex::encode(self.0.get(..4).unwrap_or_default())
        )
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
    fn a_key_reads_back_as_given() {
        assert_eq!(
            IdempotencyKey::parse("rent-2026-11").unwrap().as_str(),
            "rent-2026-11"
        );
    }

    #[test]
    fn a_fingerprint_is_exactly_32_bytes() {
        let bytes: Vec<u8> = (0..32).collect();
        assert_eq!(
            Fingerprint::from_slice(&bytes).map(|fingerprint| fingerprint.0.to_vec()),
            Some(bytes.clone())
        );
        assert_eq!(Fingerprint::from_slice(&bytes[..31]), None);
        assert_eq!(Fingerprint::from_slice(&[bytes, vec![0]].concat()), None);
    }

    #[test]
    fn fingerprints_print_their_first_four_bytes() {
        assert_eq!(
            format!("{:?}", Fingerprint([0xab; 32])),
            "Fingerprint(abababab)"
        );
    }
}
