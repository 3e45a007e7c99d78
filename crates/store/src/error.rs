use std::error::Error;

/// What went wrong below the domain, named for what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (connection refused, pool timed out, closed):
    /// the request may succeed later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Box<dyn Error + Send + Sync>),

    /// A serialization failure or deadlock that outlived its retries: the same request may
    /// succeed if sent again.
    #[error("concurrent modification: retries exhausted")]
    Contention,

    /// A named unique or check constraint refused the write.
    #[error("constraint {constraint} refused the write")]
    Constraint { constraint: String },

    /// Anything else: a bug or corrupted data, for the caller to log in full.
    #[error("database error: {0}")]
    Internal(#[source] Box<dyn Error + Send + Sync>),
}
