//! What every handler can reach: the store and the settings the server read from its config.

use std::fmt;
use std::sync::Arc;

use coffre_store::Store;
use ipnet::IpNet;

use crate::dispatcher::Dispatcher;
use crate::edge::admission::Admission;
use crate::edge::rate_limit::{RateLimits, RateQuota};

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
    rate_limits: Arc<RateLimits>,
    admission: Arc<Admission>,
    dispatcher: Dispatcher,
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
    /// Starts the ledger dispatcher, so it must be called on a Tokio runtime.
    pub fn new(store: Arc<dyn Store>, settings: ApiSettings) -> Result<Self, StateError> {
        let tokens = AccessTokens::new(&settings.jwt_secret, settings.access_token_ttl_secs)?;
        let rate_limits = RateLimits::new(
            settings.rate_limit_auth,
            settings.rate_limit_api,
            settings.redis_url.as_ref().map(|url| url.0.as_str()),
        );
        Ok(Self {
            dispatcher: Dispatcher::start(Arc::clone(&store)),
            store,
            settings: Arc::new(settings),
            passwords: Passwords::new(CONCURRENT_HASHES)?,
            tokens: Arc::new(tokens),
            rate_limits: Arc::new(rate_limits),
            admission: Arc::new(Admission::default()),
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

    /// The door to the ledger: commands sent here share transactions under load.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    pub fn rate_limits(&self) -> &RateLimits {
        &self.rate_limits
    }

    /// The process's in-flight bounds, one for every route.
    pub fn admission(&self) -> &Admission {
        &self.admission
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
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Per client IP on `/v1/auth/*`; `None` is off.
    pub rate_limit_auth: Option<RateQuota>,
    /// Per user on the rest of `/v1`; `None` is off.
    pub rate_limit_api: Option<RateQuota>,
    /// Shares the rate limits between instances.
    pub redis_url: Option<RedisUrl>,
    /// Webhook endpoints may be `http://` (`COFFRE_WEBHOOK_ALLOW_INSECURE`), for tests.
    pub webhook_allow_insecure: bool,
}

/// A `redis://` URL, which may hold a password: its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct RedisUrl(pub String);

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedisUrl(..)")
    }
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
            trusted_proxies: Vec::new(),
            rate_limit_auth: None,
            rate_limit_api: None,
            redis_url: Some(RedisUrl("redis://:hunter2@127.0.0.1:6379".to_owned())),
            webhook_allow_insecure: false,
        };
        let printed = format!("{settings:?}");
        assert!(printed.contains("JwtSecret(..)"), "{printed}");
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}
