//! Sessions and refresh tokens in PostgreSQL: login, the per-request check, rotation with reuse
//! detection, logout, and revocation when a user is disabled.

use std::collections::HashMap;

use coffre_domain::audit::AuditContext;
use coffre_domain::identity_events::{logged_in, logged_out, refresh_token_reused};
use coffre_domain::ids::{SessionId, UserId};
use coffre_domain::throttle::LoginKeys;
use coffre_domain::time::Timestamp;
use coffre_store::{
    NewSession, RefreshOutcome, SessionAuth, SessionAuthEntryRow, SessionRevocation, StoreError,
    TokenHash,
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::append_audit;
use crate::error::{internal, map_error};
use crate::throttle;

async fn read_auth(
    connection: &mut PgConnection,
    session_id: Uuid,
) -> Result<Option<SessionAuth>, StoreError> {
    Ok(read_auths(connection, &[session_id])
        .await?
        .remove(&SessionId::from_uuid(session_id)))
}

/// Sessions with their users as they are now: the per-request check reads one, a ledger batch
/// those of all its commands. A missing session does not exist.
pub(crate) async fn read_auths(
    connection: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<SessionId, SessionAuth>, StoreError> {
    let rows = sqlx::query_as!(
        SessionAuthEntryRow,
        r#"SELECT sessions.id AS session_id, users.id, users.email, users.role, users.disabled,
                  users.created_at, users.updated_at,
                  sessions.revoked_at IS NOT NULL AS "revoked!", sessions.expires_at
           FROM sessions JOIN users ON users.id = sessions.user_id
           WHERE sessions.id = ANY($1)"#,
        ids,
    )
    .fetch_all(connection)
    .await
    .map_err(map_error)?;
    rows.into_iter()
        .map(|row| row.into_entry().map_err(internal))
        .collect()
}

pub(crate) async fn create(
    pool: PgPool,
    new: NewSession,
    keys: LoginKeys,
    ctx: AuditContext,
) -> Result<(), StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let now = Timestamp::now().as_datetime();
    sqlx::query!(
        "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        new.id.as_uuid(),
        new.user_id.as_uuid(),
        now,
        new.expires_at.as_datetime(),
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?;
    sqlx::query!(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        new.refresh_token_hash.0.as_slice(),
        new.id.as_uuid(),
        now,
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?;
    throttle::settle_success(&mut transaction, &keys).await?;
    append_audit(&mut transaction, vec![logged_in(new.id, new.user_id, &ctx)]).await?;
    transaction.commit().await.map_err(map_error)
}

pub(crate) async fn auth(
    pool: &PgPool,
    session_id: SessionId,
) -> Result<Option<SessionAuth>, StoreError> {
    let mut connection = pool.acquire().await.map_err(map_error)?;
    read_auth(&mut connection, session_id.as_uuid()).await
}

pub(crate) async fn rotate(
    pool: PgPool,
    presented: TokenHash,
    next: TokenHash,
    now: Timestamp,
    ctx: AuditContext,
) -> Result<RefreshOutcome, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    // The one atomic claim: of concurrent claims, the first takes the row lock and sets
    // `used_at`; the others wait for it, re-read the row after it commits, and match nothing.
    let claimed = sqlx::query_scalar!(
        "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
         RETURNING session_id",
        presented.0.as_slice(),
        now.as_datetime(),
    )
    .fetch_optional(&mut *transaction)
    .await
    .map_err(map_error)?;
    let Some(session_id) = claimed else {
        let used_by = sqlx::query_scalar!(
            "SELECT session_id FROM refresh_tokens WHERE token_hash = $1",
            presented.0.as_slice(),
        )
        .fetch_optional(&mut *transaction)
        .await
        .map_err(map_error)?;
        let Some(session_id) = used_by else {
            transaction.rollback().await.map_err(map_error)?;
            return Ok(RefreshOutcome::Invalid);
        };
        let session_id = SessionId::from_uuid(session_id);
        revoke(
            &mut transaction,
            session_id,
            SessionRevocation::RefreshTokenReused,
            now,
        )
        .await?;
        append_audit(
            &mut transaction,
            vec![refresh_token_reused(session_id, &ctx)],
        )
        .await?;
        transaction.commit().await.map_err(map_error)?;
        return Ok(RefreshOutcome::Reused);
    };
    let auth = read_auth(&mut transaction, session_id).await?;
    let usable = |auth: &SessionAuth| !auth.revoked && now < auth.expires_at && !auth.user.disabled;
    let Some(auth) = auth.filter(usable) else {
        // Rolled back: the token stays unused, and the answer stays Invalid.
        transaction.rollback().await.map_err(map_error)?;
        return Ok(RefreshOutcome::Invalid);
    };
    sqlx::query!(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        next.0.as_slice(),
        session_id,
        now.as_datetime(),
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?;
    transaction.commit().await.map_err(map_error)?;
    Ok(RefreshOutcome::Rotated {
        user: auth.user,
        session_id: SessionId::from_uuid(session_id),
    })
}

pub(crate) async fn logout(
    pool: PgPool,
    session_id: SessionId,
    ctx: AuditContext,
) -> Result<(), StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let revoked = revoke(
        &mut transaction,
        session_id,
        SessionRevocation::Logout,
        Timestamp::now(),
    )
    .await?;
    if revoked {
        append_audit(&mut transaction, vec![logged_out(session_id, &ctx)]).await?;
    }
    transaction.commit().await.map_err(map_error)
}

/// Revokes a live session; returns whether it was live. A revoked session keeps its first
/// revocation's time and reason.
async fn revoke(
    connection: &mut PgConnection,
    session_id: SessionId,
    reason: SessionRevocation,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let result = sqlx::query!(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
         WHERE id = $1 AND revoked_at IS NULL",
        session_id.as_uuid(),
        now.as_datetime(),
        reason.as_str(),
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(result.rows_affected() > 0)
}

/// Revokes every live session of a user being disabled or given a new password.
pub(crate) async fn revoke_all_of(
    connection: &mut PgConnection,
    user_id: UserId,
    now: Timestamp,
    reason: SessionRevocation,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
         WHERE user_id = $1 AND revoked_at IS NULL",
        user_id.as_uuid(),
        now.as_datetime(),
        reason.as_str(),
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}
