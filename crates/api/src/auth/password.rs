//! Password hashing: argon2id at OWASP's minimum (19 MiB, t=2, p=1), run on the blocking pool so
//! a burst of logins cannot stall the async workers, and behind a semaphore so it cannot take all
//! the memory either (each hash holds 19 MiB while it runs).

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use coffre_domain::user::Password;
use coffre_store::PasswordHash;
use tokio::sync::Semaphore;

/// Memory cost in KiB, iterations and lanes: OWASP's argon2id recommendation.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

/// A hash of a password nobody knows, verified when a login names an unknown email so that the
/// answer takes as long as for a known one.
const DUMMY_PASSWORD: &[u8] = b"coffre-dummy-password-for-unknown-emails";

#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    #[error("password hashing failed: {0}")]
    Argon2(String),
    #[error("the password hashing task did not finish")]
    Task,
}

/// Hashes and verifies passwords; cloning shares the concurrency bound.
#[derive(Clone, Debug)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy: Arc<PasswordHash>,
}

impl Passwords {
    /// `max_concurrent` hashes run at once at most; the rest wait their turn.
    pub fn new(max_concurrent: usize) -> Result<Self, HashingError> {
        let dummy = hash_blocking(DUMMY_PASSWORD)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy: Arc::new(dummy),
        })
    }

    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, HashingError> {
        let bytes = password.expose().as_bytes().to_vec();
        self.run(move || hash_blocking(&bytes)).await?
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown email) the work is the
    /// same, against the dummy hash, and the answer is always `false`.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<PasswordHash>,
    ) -> Result<bool, HashingError> {
        let bytes = password.expose().as_bytes().to_vec();
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| PasswordHash::clone(&self.dummy));
        let matches = self.run(move || verify_blocking(&bytes, &hash)).await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashingError::Task)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| HashingError::Task)
    }
}

fn argon2() -> Result<Argon2<'static>, HashingError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
        .map_err(|e| HashingError::Argon2(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &[u8]) -> Result<PasswordHash, HashingError> {
    let phc = argon2()?
        .hash_password(password)
        .map_err(|e| HashingError::Argon2(e.to_string()))?;
    Ok(PasswordHash::new(phc.to_string()))
}

/// Verifies with the parameters stored in the hash itself, so raising the cost later keeps old
/// hashes valid. A hash that does not parse never matches.
fn verify_blocking(password: &[u8], stored: &PasswordHash) -> bool {
    argon2().is_ok_and(|a| a.verify_password(password, stored.as_str()).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(text: &str) -> Password {
        Password::parse(text.to_owned()).unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_its_own_password_and_no_other() {
        let passwords = Passwords::new(2).unwrap();
        let hash = passwords
            .hash(&password("correct horse battery"))
            .await
            .unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            passwords
                .verify(&password("correct horse battery"), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify(&password("correct horse batterY"), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let passwords = Passwords::new(2).unwrap();
        let first = passwords.hash(&password("same password 1")).await.unwrap();
        let second = passwords.hash(&password("same password 1")).await.unwrap();
        assert_ne!(first.as_str(), second.as_str());
    }

    #[tokio::test]
    async fn an_unknown_user_never_matches_not_even_the_dummy_password() {
        let passwords = Passwords::new(1).unwrap();
        let dummy = password(std::str::from_utf8(DUMMY_PASSWORD).unwrap());
        assert!(!passwords.verify(&dummy, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_never_matches() {
        let passwords = Passwords::new(1).unwrap();
        let corrupt = PasswordHash::new("$argon2id$v=19$garbage".into());
        assert!(
            !passwords
                .verify(&password("whatever password"), Some(corrupt))
                .await
                .unwrap()
        );
    }
}
