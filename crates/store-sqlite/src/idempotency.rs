//! Idempotency records in SQLite: reading and writing them is part of the ledger batch (see
//! `ledger`); here, the purge of old ones.

use coffre_domain::time::Timestamp;
use coffre_store::StoreError;
use sqlx::SqlitePool;

use crate::error::map_error;
use crate::transaction::begin_immediate;

pub(crate) async fn purge(pool: &SqlitePool, cutoff: Timestamp) -> Result<u64, StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let cutoff = cutoff.as_datetime();
    let deleted = sqlx::query!("DELETE FROM idempotency_keys WHERE created_at < ?1", cutoff)
        .execute(&mut *transaction)
        .await
        .map_err(map_error)?
        .rows_affected();
    transaction.commit().await.map_err(map_error)?;
    Ok(deleted)
}
