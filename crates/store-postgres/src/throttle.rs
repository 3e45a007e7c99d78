//! Login failure counters in PostgreSQL.

use coffre_domain::audit::AuditContext;
use coffre_domain::ids::UserId;
use coffre_domain::throttle::LoginKeys;
use coffre_domain::time::Timestamp;
use coffre_store::identity_events::login_failed;
use coffre_store::{StoreError, ThrottleRow, lock_order, longest_wait};
use sqlx::PgPool;

use crate::audit::append_audit;
use crate::error::{internal, map_error};

pub(crate) async fn retry_after(
    pool: &PgPool,
    keys: &LoginKeys,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    let key_names = keys.with_policies().map(|(key, _)| key.to_owned());
    let rows = sqlx::query_as!(
        ThrottleRow,
        r#"SELECT key, failures::bigint AS "failures!", last_failure_at, blocked_until
           FROM login_throttle WHERE key = ANY($1)"#,
        key_names.as_slice(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    longest_wait(keys, rows, now).map_err(internal)
}

pub(crate) async fn record_failure(
    pool: PgPool,
    keys: LoginKeys,
    email: String,
    user_id: Option<UserId>,
    ctx: AuditContext,
) -> Result<(), StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let now = Timestamp::now();
    for (key, policy) in lock_order(&keys) {
        // A row to lock even for a key's first failure, so two first failures count two.
        sqlx::query!(
            "INSERT INTO login_throttle (key, failures, last_failure_at) VALUES ($1, 0, $2) \
             ON CONFLICT (key) DO NOTHING",
            key,
            now.as_datetime(),
        )
        .execute(&mut *transaction)
        .await
        .map_err(map_error)?;
        let stored = sqlx::query_as!(
            ThrottleRow,
            r#"SELECT key, failures::bigint AS "failures!", last_failure_at, blocked_until
               FROM login_throttle WHERE key = $1 FOR UPDATE"#,
            key,
        )
        .fetch_optional(&mut *transaction)
        .await
        .map_err(map_error)?
        .map(ThrottleRow::into_state)
        .transpose()
        .map_err(internal)?;
        let state = policy.record_failure(stored.as_ref(), now);
        let row = ThrottleRow::new(key, &state);
        // A login that succeeded in between may have deleted the row: the upsert puts it back.
        sqlx::query!(
            "INSERT INTO login_throttle (key, failures, last_failure_at, blocked_until) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET failures = EXCLUDED.failures, \
             last_failure_at = EXCLUDED.last_failure_at, blocked_until = EXCLUDED.blocked_until",
            key,
            i32::try_from(row.failures).unwrap_or(i32::MAX),
            row.last_failure_at,
            row.blocked_until,
        )
        .execute(&mut *transaction)
        .await
        .map_err(map_error)?;
    }
    append_audit(&mut transaction, vec![login_failed(&email, user_id, &ctx)]).await?;
    transaction.commit().await.map_err(map_error)
}
