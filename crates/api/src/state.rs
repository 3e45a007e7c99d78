//! What every handler can reach: the store and the settings the server read from its config.

use std::fmt;
use std::sync::Arc;

use coffre_store::Store;

use crate::auth::password::{HashingError, Passwords};
use crate::auth::token::{AccessTokens, CryptoFailed};

/// How many password hashes run at once; each holds 19 MiB while it runs.
const CONCURRENT_HASHES: usize = 4;

/// Shared by every request; cloning it clones a few `Arc`s.
#[derive(Clone, Debug)]
pub struct AppState {
    store: Arc<dyn Store>,
    settings: Arc<ApiSettings>,
    passwords: Passwords,
    tokens: Arc<AccessTokens>,
}

/// The credential machinery could not be set up from the settings.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Hashing(#[from] HashingError),
    #[error(transparent)]
    Tokens(#[from] CryptoFailed),
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, settings: ApiSettings) -> Result<Self, StateError> {
        let tokens = AccessTokens::new(&settings.jwt_secret, settings.access_token_ttl_secs)?;
        Ok(Self {
            store,
            settings: Arc::new(settings),
            passwords: Passwords::new(CONCURRENT_HASHES)?,
            tokens: Arc::new(tokens),
        })
    }

    pub fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    pub fn tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn settings(&self) -> &ApiSettings {
        &self.settings
    }
}

/// The parts of the configuration the HTTP layer needs.
#[derive(Debug)]
pub struct ApiSettings {
    /// HS256 key for access tokens.
    pub jwt_secret: JwtSecret,
    /// How long an access token is accepted after it is issued.
    pub access_token_ttl_secs: u64,
    /// How long a payment authorization (hold) lives before it expires.
    pub authorization_ttl_secs: u64,
}

/// The key that signs access tokens. Its `Debug` never shows the bytes, so a settings struct
/// can be logged whole.
pub struct JwtSecret(Vec<u8>);

impl JwtSecret {
    /// HS256 needs a key at least as long as its 256-bit output to keep its strength.
    pub const MIN_LEN_BYTES: usize = 32;

    pub fn new(bytes: Vec<u8>) -> Result<Self, JwtSecretTooShort> {
        if bytes.len() < Self::MIN_LEN_BYTES {
            return Err(JwtSecretTooShort {
                len_bytes: bytes.len(),
            });
        }
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the JWT secret is {len_bytes} bytes long; it must be at least {} bytes",
    JwtSecret::MIN_LEN_BYTES
)]
pub struct JwtSecretTooShort {
    pub len_bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_under_32_bytes_is_refused() {
        assert_eq!(
            JwtSecret::new(vec![7; 31]).err(),
            Some(JwtSecretTooShort { len_bytes: 31 })
        );
        assert_eq!(JwtSecret::new(vec![7; 32]).unwrap().as_bytes(), &[7; 32]);
    }

    #[test]
    fn debug_hides_the_secret() {
        let secret = JwtSecret::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
        let settings = ApiSettings {
            jwt_secret: secret,
            access_token_ttl_secs: 900,
            authorization_ttl_secs: 604_800,
        };
        let printed = format!("{settings:?}");
        assert!(printed.contains("JwtSecret(..)"), "{printed}");
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
    }
}
