//! The purge of expired logins in PostgreSQL: sessions past their expiry with their refresh
//! tokens, and login-throttle rows every policy has forgotten, a bounded batch at a time.

use coffre_domain::time::Timestamp;
use coffre_store::{PURGE_BATCH_ROWS, PurgedLogins, StoreError, forgotten_before};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::map_error;

pub(crate) async fn expired_logins(
    pool: &PgPool,
    now: Timestamp,
) -> Result<PurgedLogins, StoreError> {
    let batch = i64::from(PURGE_BATCH_ROWS);
    let mut transaction = pool.begin().await.map_err(map_error)?;
    // SKIP LOCKED: a session some request holds right now is left for the next purge.
    let sessions: Vec<Uuid> = sqlx::query_scalar!(
        "SELECT id FROM sessions WHERE expires_at <= $1 ORDER BY expires_at, id LIMIT $2 \
         FOR UPDATE SKIP LOCKED",
        now.as_datetime(),
        batch,
    )
    .fetch_all(&mut *transaction)
    .await
    .map_err(map_error)?;
    let refresh_tokens = sqlx::query!(
        "DELETE FROM refresh_tokens WHERE session_id = ANY($1)",
        sessions.as_slice(),
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?
    .rows_affected();
    let deleted_sessions = sqlx::query!(
        "DELETE FROM sessions WHERE id = ANY($1)",
        sessions.as_slice()
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?
    .rows_affected();
    let login_throttle = sqlx::query!(
        "DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle \
         WHERE last_failure_at < $1 AND (blocked_until IS NULL OR blocked_until <= $2) \
         LIMIT $3 FOR UPDATE SKIP LOCKED)",
        forgotten_before(now).as_datetime(),
        now.as_datetime(),
        batch,
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?
    .rows_affected();
    transaction.commit().await.map_err(map_error)?;
    Ok(PurgedLogins {
        sessions: deleted_sessions,
        refresh_tokens,
        login_throttle,
    })
}
