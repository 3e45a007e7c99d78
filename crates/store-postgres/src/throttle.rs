//! Login throttle counters in PostgreSQL. An attempt is decided and charged in one
//! transaction, with the keys' rows locked, before its password is checked: parallel guesses
//! each see the ones before them, so no more get through than the policy allows.

use coffre_domain::audit::AuditContext;
use coffre_domain::identity_events::login_failed;
use coffre_domain::ids::UserId;
use coffre_domain::throttle::LoginKeys;
use coffre_domain::time::Timestamp;
use coffre_store::{StoreError, ThrottleRow, lock_order, longest_wait};
use sqlx::{PgConnection, PgPool};

use crate::audit::append_audit;
use crate::error::{internal, map_error};

/// Locks the row of `key` (creating it with no failures, so even a key's first attempts
/// queue on one row) and returns it.
async fn lock_row(
    connection: &mut PgConnection,
    key: &str,
    now: Timestamp,
) -> Result<ThrottleRow, StoreError> {
    sqlx::query!(
        "INSERT INTO login_throttle (key, failures, last_failure_at) VALUES ($1, 0, $2) \
         ON CONFLICT (key) DO NOTHING",
        key,
        now.as_datetime(),
    )
    .execute(&mut *connection)
    .await
    .map_err(map_error)?;
    sqlx::query_as!(
        ThrottleRow,
        r#"SELECT key, failures::bigint AS "failures!", last_failure_at, blocked_until
           FROM login_throttle WHERE key = $1 FOR UPDATE"#,
        key,
    )
    .fetch_one(&mut *connection)
    .await
    .map_err(map_error)
}

async fn write_row(connection: &mut PgConnection, row: &ThrottleRow) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE login_throttle SET failures = $2, last_failure_at = $3, blocked_until = $4 \
         WHERE key = $1",
        row.key,
        i32::try_from(row.failures).unwrap_or(i32::MAX),
        row.last_failure_at,
        row.blocked_until,
    )
    .execute(&mut *connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

pub(crate) async fn claim(
    pool: PgPool,
    keys: LoginKeys,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let mut rows = Vec::with_capacity(3);
    for (key, _) in lock_order(&keys) {
        rows.push(lock_row(&mut transaction, key, now).await?);
    }
    if let Some(wait) = longest_wait(&keys, rows.clone(), now).map_err(internal)? {
        // Refused: nothing charged, and the rows created for the lock go with the rollback.
        transaction.rollback().await.map_err(map_error)?;
        return Ok(Some(wait));
    }
    for ((_, policy), row) in lock_order(&keys).into_iter().zip(rows) {
        let key = row.key.clone();
        let state = row.into_state().map_err(internal)?;
        let charged = ThrottleRow::new(&key, &policy.record_failure(Some(&state), now));
        write_row(&mut transaction, &charged).await?;
    }
    transaction.commit().await.map_err(map_error)?;
    Ok(None)
}

/// In a successful login's transaction: forgives this machine's failures on this account
/// (the pair's row goes) and refunds the charge of this attempt to the IP and email keys,
/// which otherwise keep counting, or one valid login would reset a spray across accounts.
pub(crate) async fn settle_success(
    connection: &mut PgConnection,
    keys: &LoginKeys,
) -> Result<(), StoreError> {
    for (key, policy) in lock_order(keys) {
        if key == keys.email_and_ip {
            sqlx::query!("DELETE FROM login_throttle WHERE key = $1", key)
                .execute(&mut *connection)
                .await
                .map_err(map_error)?;
            continue;
        }
        let stored = sqlx::query_as!(
            ThrottleRow,
            r#"SELECT key, failures::bigint AS "failures!", last_failure_at, blocked_until
               FROM login_throttle WHERE key = $1 FOR UPDATE"#,
            key,
        )
        .fetch_optional(&mut *connection)
        .await
        .map_err(map_error)?;
        if let Some(row) = stored {
            let state = row.into_state().map_err(internal)?;
            write_row(connection, &ThrottleRow::new(key, &policy.refund(&state))).await?;
        }
    }
    Ok(())
}

/// LOGIN_FAILED, in a transaction of its own: the attempt was charged when it was claimed.
pub(crate) async fn record_failure(
    pool: PgPool,
    email: String,
    user_id: Option<UserId>,
    ctx: AuditContext,
) -> Result<(), StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    append_audit(&mut transaction, vec![login_failed(&email, user_id, &ctx)]).await?;
    transaction.commit().await.map_err(map_error)
}
