//! The money path's connections (DESIGN.md §2, "Faults"): each run of a batch takes a
//! connection of its own and must end within [`ATTEMPT_DEADLINE`]. A connection whose run
//! missed the deadline, or whose transaction could not be ended cleanly, is closed instead of
//! going back to the pool (it may be stuck on a stalled disk, or count itself inside a
//! transaction nobody will end), and the next run opens a fresh one.

use coffre_store::{ATTEMPT_DEADLINE, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::error::map_error;

/// A run's failure, and whether the connection it ran on may serve again.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: StoreError,
    sound: bool,
}

impl From<StoreError> for Failure {
    /// A statement SQLite refused (the write lock busy, a constraint) leaves its connection
    /// usable; anything else (a full disk, an I/O error, a decoding surprise) leaves it in doubt.
    fn from(error: StoreError) -> Self {
        let sound = matches!(
            error,
            StoreError::Contention | StoreError::Constraint { .. }
        );
        Self { error, sound }
    }
}

/// How a transaction's body wants it ended (a batch on SQLite always commits: a key that exists
/// was read under the write lock, so its insert cannot conflict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Commit,
}

/// Acquires a connection and runs `run` on it within [`ATTEMPT_DEADLINE`] (the wait for the
/// connection included). The connection goes back to the pool only if the run ended in time
/// and left it sound; otherwise it is closed.
pub(crate) async fn run<T>(
    pool: &SqlitePool,
    run: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, Failure>,
) -> Result<T, StoreError> {
    let attempt = async {
        let mut lease = Lease {
            connection: Some(pool.acquire().await.map_err(map_error)?),
            sound: false,
        };
        let Some(connection) = lease.connection.as_mut() else {
            return Err(StoreError::Internal(
                "a lease without its connection".into(),
            ));
        };
        match run(connection).await {
            Ok(value) => {
                lease.sound = true;
                Ok(value)
            }
            Err(failure) => {
                lease.sound = failure.sound;
                Err(failure.error)
            }
        }
    };
    tokio::time::timeout(ATTEMPT_DEADLINE, attempt)
        .await
        .unwrap_or_else(|_elapsed| Err(StoreError::deadline_exceeded()))
}

/// A connection in use by one run. Unless the run marked it sound, dropping it takes the
/// connection out of the pool (which may open another at once) and closes it on the spot,
/// without a goodbye that a dead peer would make wait: a run cut short by its deadline (its
/// future dropped mid-statement) never hands its connection to anyone else.
struct Lease {
    connection: Option<PoolConnection<Sqlite>>,
    sound: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.sound
            && let Some(connection) = self.connection.take()
        {
            tracing::warn!("closing a database connection left in doubt by a ledger batch");
            drop(connection.detach());
        }
    }
}

/// Ends `transaction` as its body asked (`body`'s `End`), or rolls it back after the body's
/// error. A commit or rollback that fails leaves the connection in doubt (after a full disk,
/// SQLite may already have rolled the transaction back, so the ROLLBACK fails and SQLx would
/// count the connection as still inside it), and nobody may reuse it.
pub(crate) async fn end<T>(
    transaction: Transaction<'_, Sqlite>,
    body: Result<(T, End), StoreError>,
) -> Result<T, Failure> {
    let unsound = |error: sqlx::Error| Failure {
        error: map_error(error),
        sound: false,
    };
    match body {
        Ok((value, End::Commit)) => transaction.commit().await.map_err(unsound).map(|()| value),
        Err(error) => match transaction.rollback().await {
            Ok(()) => Err(Failure { error, sound: true }),
            Err(_rollback_error) => Err(Failure {
                error,
                sound: false,
            }),
        },
    }
}
