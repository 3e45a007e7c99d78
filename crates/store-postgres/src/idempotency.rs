//! Idempotency records in PostgreSQL: reading and writing them is part of the ledger batch
//! (see `ledger`); here, the purge of old ones.

use coffre_domain::time::Timestamp;
use coffre_store::StoreError;
use sqlx::PgPool;

use crate::error::map_error;

pub(crate) async fn purge(pool: &PgPool, cutoff: Timestamp) -> Result<u64, StoreError> {
    let deleted = sqlx::query!(
        "DELETE FROM idempotency_keys WHERE created_at < $1",
        cutoff.as_datetime(),
    )
    .execute(pool)
    .await
    .map_err(map_error)?
    .rows_affected();
    Ok(deleted)
}
