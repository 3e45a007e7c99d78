//! What both SQLx backends share, written once over `sqlx::Database`: the money path's
//! connection leases (DESIGN.md §2, "Faults"). Each run of a batch takes a connection of its
//! own and must end within [`ATTEMPT_DEADLINE`]. A connection whose run missed the deadline,
//! or whose transaction could not be ended cleanly, is closed instead of going back to the pool
//! (it may be stuck on a peer that vanished or a stalled disk, or count itself inside a
//! transaction nobody will end), and the next run opens a fresh one.

use coffre_store::{ATTEMPT_DEADLINE, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool, Transaction};

/// How a backend turns a driver error into a store error.
pub type MapError = fn(sqlx::Error) -> StoreError;

/// A run's failure, and whether the connection it ran on may serve again.
#[derive(Debug)]
pub struct Failure {
    pub error: StoreError,
    sound: bool,
}

impl From<StoreError> for Failure {
    /// A statement the database refused (contention or a busy write lock, a constraint) leaves
    /// its connection usable; anything else (I/O, protocol, a full disk, a decoding surprise)
    /// leaves it in doubt.
    fn from(error: StoreError) -> Self {
        let sound = matches!(
            error,
            StoreError::Contention | StoreError::Constraint { .. }
        );
        Self { error, sound }
    }
}

/// How a transaction's body wants it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Commit,
    Rollback,
}

/// Acquires a connection and runs `run` on it within [`ATTEMPT_DEADLINE`] (the wait for the
/// connection included). The connection goes back to the pool only if the run ended in time
/// and left it sound; otherwise it is closed.
pub async fn run<DB: Database, T>(
    pool: &Pool<DB>,
    map_error: MapError,
    run: impl AsyncFnOnce(&mut DB::Connection) -> Result<T, Failure>,
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
struct Lease<DB: Database> {
    connection: Option<PoolConnection<DB>>,
    sound: bool,
}

impl<DB: Database> Drop for Lease<DB> {
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
/// error. A commit or rollback that fails leaves the connection in doubt, and nobody may reuse
/// it: after a failed commit the database may or may not have committed (it is reported
/// unavailable, and the keys make a retry safe); after a full disk SQLite may already have
/// rolled the transaction back, so the ROLLBACK fails and SQLx would count the connection as
/// still inside it.
pub async fn end<DB: Database, T>(
    transaction: Transaction<'_, DB>,
    map_error: MapError,
    body: Result<(T, End), StoreError>,
) -> Result<T, Failure> {
    let unsound = |error: sqlx::Error| Failure {
        error: map_error(error),
        sound: false,
    };
    match body {
        Ok((value, End::Commit)) => transaction.commit().await.map_err(unsound).map(|()| value),
        Ok((value, End::Rollback)) => transaction
            .rollback()
            .await
            .map_err(unsound)
            .map(|()| value),
        Err(error) => match transaction.rollback().await {
            Ok(()) => Err(Failure { error, sound: true }),
            Err(_rollback_error) => Err(Failure {
                error,
                sound: false,
            }),
        },
    }
}
