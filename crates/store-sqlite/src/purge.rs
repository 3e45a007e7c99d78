//! The purge of expired logins in SQLite: sessions past their expiry with their refresh
//! tokens, and login-throttle rows every policy has forgotten, a bounded batch at a time.

use coffre_domain::time::Timestamp;
use coffre_store::{PURGE_BATCH_ROWS, PurgedLogins, StoreError, forgotten_before};
use sqlx::SqlitePool;

use crate::error::map_error;
use crate::transaction::begin_immediate;

pub(crate) async fn expired_logins(
    pool: &SqlitePool,
    now: Timestamp,
) -> Result<PurgedLogins, StoreError> {
    let batch = i64::from(PURGE_BATCH_ROWS);
    let now_at = now.as_datetime();
    let cutoff = forgotten_before(now).as_datetime();
    // Under the write lock from the start, both statements choose the same sessions.
    let mut transaction = begin_immediate(pool).await?;
    let refresh_tokens = sqlx::query!(
        "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions \
         WHERE expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2)",
        now_at,
        batch,
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?
    .rows_affected();
    let sessions = sqlx::query!(
        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
         WHERE expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2)",
        now_at,
        batch,
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?
    .rows_affected();
    let login_throttle = sqlx::query!(
        "DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle \
         WHERE last_failure_at < ?1 AND (blocked_until IS NULL OR blocked_until <= ?2) \
         LIMIT ?3)",
        cutoff,
        now_at,
        batch,
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?
    .rows_affected();
    transaction.commit().await.map_err(map_error)?;
    Ok(PurgedLogins {
        sessions,
        refresh_tokens,
        login_throttle,
    })
}
