//! Login failure counters in SQLite. The read-modify-write of each counter runs under
//! `BEGIN IMMEDIATE`, so concurrent failures each count.

use coffre_domain::audit::AuditContext;
use coffre_domain::ids::UserId;
use coffre_domain::throttle::LoginKeys;
use coffre_domain::time::Timestamp;
use coffre_store::identity_events::login_failed;
use coffre_store::{StoreError, ThrottleRow, lock_order, longest_wait};
use sqlx::SqlitePool;

use crate::audit::append_audit;
use crate::error::{internal, map_error};
use crate::transaction::begin_immediate;

pub(crate) async fn retry_after(
    pool: &SqlitePool,
    keys: &LoginKeys,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    let rows = sqlx::query_as!(
        ThrottleRow,
        r#"SELECT key AS "key!", failures AS "failures!",
                  last_failure_at AS "last_failure_at!: chrono::DateTime<chrono::Utc>",
                  blocked_until AS "blocked_until?: chrono::DateTime<chrono::Utc>"
           FROM login_throttle WHERE key IN (?1, ?2, ?3)"#,
        keys.email_and_ip,
        keys.ip,
        keys.email,
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    longest_wait(keys, rows, now).map_err(internal)
}

pub(crate) async fn record_failure(
    pool: &SqlitePool,
    keys: &LoginKeys,
    email: &str,
    user_id: Option<UserId>,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let now = Timestamp::now();
    for (key, policy) in lock_order(keys) {
        let stored = sqlx::query_as!(
            ThrottleRow,
            r#"SELECT key AS "key!", failures AS "failures!",
                      last_failure_at AS "last_failure_at!: chrono::DateTime<chrono::Utc>",
                      blocked_until AS "blocked_until?: chrono::DateTime<chrono::Utc>"
               FROM login_throttle WHERE key = ?1"#,
            key,
        )
        .fetch_optional(&mut *transaction)
        .await
        .map_err(map_error)?
        .map(ThrottleRow::into_state)
        .transpose()
        .map_err(internal)?;
        let row = ThrottleRow::new(key, &policy.record_failure(stored.as_ref(), now));
        sqlx::query!(
            "INSERT INTO login_throttle (key, failures, last_failure_at, blocked_until) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, \
             last_failure_at = excluded.last_failure_at, blocked_until = excluded.blocked_until",
            row.key,
            row.failures,
            row.last_failure_at,
            row.blocked_until,
        )
        .execute(&mut *transaction)
        .await
        .map_err(map_error)?;
    }
    append_audit(&mut transaction, vec![login_failed(email, user_id, ctx)]).await?;
    transaction.commit().await.map_err(map_error)
}
