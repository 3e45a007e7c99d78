//! Password hashing: argon2id at OWASP's minimum (19 MiB, t=2, p=1), run on a few dedicated
//! threads so a burst of logins can neither stall the async workers nor take all the memory
//! (each hash holds 19 MiB while it runs; a burst queues for the threads).

use std::sync::{Arc, Mutex};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use coffre_domain::user::Password;
use coffre_store::PasswordHash;
use tokio::sync::{mpsc, oneshot};

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
    threads: Arc<HashingThreads>,
    dummy: Arc<PasswordHash>,
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads that do all the hashing. Each hash takes 19 MiB; on short-lived
/// blocking-pool threads, the allocator keeps that block in each thread's arena after the
/// thread is done with it (measured: about 900 MiB after 70 logins). Long-lived threads
/// reuse theirs, so hashing never holds more than `threads × 19 MiB`.
struct HashingThreads {
    jobs: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for HashingThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashingThreads")
    }
}

impl HashingThreads {
    fn start(count: usize) -> Result<Self, HashingError> {
        let (jobs, queue) = mpsc::unbounded_channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..count.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("coffre-hash-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match queue.lock() {
                            Ok(mut queue) => queue.blocking_recv(),
                            Err(_) => None,
                        };
                        match job {
                            Some(job) => job(),
                            None => break,
                        }
                    }
                })
                .map_err(|_| HashingError::Task)?;
        }
        Ok(Self { jobs })
    }
}

impl Passwords {
    /// `max_concurrent` hashes run at once at most; the rest wait their turn.
    pub fn new(max_concurrent: usize) -> Result<Self, HashingError> {
        let dummy = hash_blocking(DUMMY_PASSWORD)?;
        Ok(Self {
            threads: Arc::new(HashingThreads::start(max_concurrent)?),
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
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.threads
            .jobs
            .send(job)
            .map_err(|_| HashingError::Task)?;
        result.await.map_err(|_| HashingError::Task)
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
