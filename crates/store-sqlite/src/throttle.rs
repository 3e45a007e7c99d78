//! Login throttle counters in SQLite. An attempt is decided and charged in one `BEGIN
//! IMMEDIATE` transaction, before its password is checked: parallel guesses each see the ones
//! before them, so no more get through than the policy allows.

use coffre_domain::audit::AuditContext;
use coffre_domain::identity_events::login_failed;
use coffre_domain::ids::UserId;
use coffre_domain::throttle::LoginKeys;
use coffre_domain::time::Timestamp;
use coffre_store::{StoreError, ThrottleRow, lock_order, longest_wait};
use sqlx::{SqliteConnection, SqlitePool};

use crate::audit::append_audit;
use crate::error::{internal, map_error};
use crate::transaction::begin_immediate;

async fn read_row(
    connection: &mut SqliteConnection,
    key: &str,
) -> Result<Option<ThrottleRow>, StoreError> {
    sqlx::query_as!(
        ThrottleRow,
        r#"SELECT key AS "key!", failures AS "failures!",
                  last_failure_at AS "last_failure_at!: chrono::DateTime<chrono::Utc>",
                  blocked_until AS "blocked_until?: chrono::DateTime<chrono::Utc>"
           FROM login_throttle WHERE key = ?1"#,
        key,
    )
    .fetch_optional(&mut *connection)
    .await
    .map_err(map_error)
}

async fn write_row(connection: &mut SqliteConnection, row: &ThrottleRow) -> Result<(), StoreError> {
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
    .execute(&mut *connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

pub(crate) async fn claim(
    pool: &SqlitePool,
    keys: &LoginKeys,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let mut rows = Vec::with_capacity(3);
    for (key, _) in lock_order(keys) {
        rows.push(read_row(&mut transaction, key).await?);
    }
    let stored: Vec<ThrottleRow> = rows.iter().flatten().cloned().collect();
    if let Some(wait) = longest_wait(keys, stored, now).map_err(internal)? {
        transaction.rollback().await.map_err(map_error)?;
        return Ok(Some(wait));
    }
    for ((key, policy), row) in lock_order(keys).into_iter().zip(rows) {
        let state = row
            .map(ThrottleRow::into_state)
            .transpose()
            .map_err(internal)?;
        let charged = ThrottleRow::new(key, &policy.record_failure(state.as_ref(), now));
        write_row(&mut transaction, &charged).await?;
    }
    transaction.commit().await.map_err(map_error)?;
    Ok(None)
}

/// In a successful login's transaction: forgives this machine's failures on this account
/// (the pair's row goes) and refunds the charge of this attempt to the IP and email keys,
/// which otherwise keep counting, or one valid login would reset a spray across accounts.
pub(crate) async fn settle_success(
    connection: &mut SqliteConnection,
    keys: &LoginKeys,
) -> Result<(), StoreError> {
    for (key, policy) in lock_order(keys) {
        if key == keys.email_and_ip {
            sqlx::query!("DELETE FROM login_throttle WHERE key = ?1", key)
                .execute(&mut *connection)
                .await
                .map_err(map_error)?;
            continue;
        }
        if let Some(row) = read_row(connection, key).await? {
            let state = row.into_state().map_err(internal)?;
            write_row(connection, &ThrottleRow::new(key, &policy.refund(&state))).await?;
        }
    }
    Ok(())
}

/// LOGIN_FAILED, in a transaction of its own: the attempt was charged when it was claimed.
pub(crate) async fn record_failure(
    pool: &SqlitePool,
    email: &str,
    user_id: Option<UserId>,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    append_audit(&mut transaction, vec![login_failed(email, user_id, ctx)]).await?;
    transaction.commit().await.map_err(map_error)
}
