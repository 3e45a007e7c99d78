//! Write transactions.

use coffre_store::StoreError;
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::error::map_error;

/// Begins a transaction that holds the database's write lock from its first statement.
///
/// A plain (deferred) BEGIN reads under a shared lock and upgrades at its first write; in WAL
/// mode that upgrade fails at once, without waiting, when another writer committed since the
/// read (as two appends that read the same chain head would). IMMEDIATE waits, up to the busy
/// timeout, for the lock instead, so a write transaction always reads current data.
pub(crate) async fn begin_immediate(
    pool: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, StoreError> {
    pool.begin_with(BEGIN_IMMEDIATE).await.map_err(map_error)
}

/// See [`begin_immediate`].
pub(crate) const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";
