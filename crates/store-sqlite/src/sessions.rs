//! Sessions and refresh tokens in SQLite: login, the per-request check, rotation with reuse
//! detection, logout, and revocation when a user is disabled. Writes run under
//! `BEGIN IMMEDIATE`, so of concurrent claims of one refresh token, each sees the ones before
//! it committed.

use std::collections::HashMap;

use coffre_domain::audit::AuditContext;
use coffre_domain::identity_events::{logged_in, logged_out, refresh_token_reused};
use coffre_domain::ids::{SessionId, UserId};
use coffre_domain::throttle::LoginKeys;
use coffre_domain::time::Timestamp;
use coffre_store::{
    NewSession, RefreshOutcome, SessionAuth, SessionAuthEntryRow, SessionAuthRow,
    SessionRevocation, StoreError, TokenHash,
};
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use crate::audit::append_audit;
use crate::error::{internal, map_error};
use crate::json_rows;
use crate::throttle;
use crate::transaction::begin_immediate;

pub(crate) async fn read_auth(
    connection: &mut SqliteConnection,
    session_id: Uuid,
) -> Result<Option<SessionAuth>, StoreError> {
    sqlx::query_as!(
        SessionAuthRow,
        r#"SELECT users.id AS "id!: uuid::Uuid", users.email AS "email!",
                  users.role AS "role!", users.disabled AS "disabled!: bool",
                  users.created_at AS "created_at!: chrono::DateTime<chrono::Utc>",
                  users.updated_at AS "updated_at!: chrono::DateTime<chrono::Utc>",
                  sessions.revoked_at IS NOT NULL AS "revoked!: bool",
                  sessions.expires_at AS "expires_at!: chrono::DateTime<chrono::Utc>"
           FROM sessions JOIN users ON users.id = sessions.user_id
           WHERE sessions.id = ?1"#,
        session_id,
    )
    .fetch_optional(connection)
    .await
    .map_err(map_error)?
    .map(|row| row.into_auth().map_err(internal))
    .transpose()
}

/// The money path's session check for a whole batch, one statement (see [`json_rows`]).
pub(crate) async fn read_auths(
    connection: &mut SqliteConnection,
    ids: &[SessionId],
) -> Result<HashMap<SessionId, SessionAuth>, StoreError> {
    let ids = json_rows::array(ids.iter().map(|id| json_rows::id(id.as_uuid())));
    let rows = sqlx::query_as!(
        SessionAuthEntryRow,
        r#"SELECT sessions.id AS "session_id!: uuid::Uuid", users.id AS "id!: uuid::Uuid",
                  users.email AS "email!", users.role AS "role!",
                  users.disabled AS "disabled!: bool",
                  users.created_at AS "created_at!: chrono::DateTime<chrono::Utc>",
                  users.updated_at AS "updated_at!: chrono::DateTime<chrono::Utc>",
                  sessions.revoked_at IS NOT NULL AS "revoked!: bool",
                  sessions.expires_at AS "expires_at!: chrono::DateTime<chrono::Utc>"
           FROM json_each(?1) AS wanted
           CROSS JOIN sessions ON sessions.id = unhex(wanted.value)
           JOIN users ON users.id = sessions.user_id"#,
        ids,
    )
    .fetch_all(connection)
    .await
    .map_err(map_error)?;
    rows.into_iter()
        .map(|row| row.into_entry().map_err(internal))
        .collect()
}

async fn insert_token(
    connection: &mut SqliteConnection,
    token_hash: &TokenHash,
    session_id: Uuid,
    now: Timestamp,
) -> Result<(), StoreError> {
    let token_hash = token_hash.0.as_slice();
    let created_at = now.as_datetime();
    sqlx::query!(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
        token_hash,
        session_id,
        created_at,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

pub(crate) async fn create(
    pool: &SqlitePool,
    new: NewSession,
    keys: &LoginKeys,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let now = Timestamp::now();
    let id = new.id.as_uuid();
    let user_id = new.user_id.as_uuid();
    let created_at = now.as_datetime();
    let expires_at = new.expires_at.as_datetime();
    sqlx::query!(
        "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        id,
        user_id,
        created_at,
        expires_at,
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?;
    insert_token(&mut transaction, &new.refresh_token_hash, id, now).await?;
    throttle::settle_success(&mut transaction, keys).await?;
    append_audit(&mut transaction, vec![logged_in(new.id, new.user_id, ctx)]).await?;
    transaction.commit().await.map_err(map_error)
}

pub(crate) async fn auth(
    pool: &SqlitePool,
    session_id: SessionId,
) -> Result<Option<SessionAuth>, StoreError> {
    let mut connection = pool.acquire().await.map_err(map_error)?;
    read_auth(&mut connection, session_id.as_uuid()).await
}

pub(crate) async fn rotate(
    pool: &SqlitePool,
    presented: &TokenHash,
    next: &TokenHash,
    now: Timestamp,
    ctx: &AuditContext,
) -> Result<RefreshOutcome, StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let presented = presented.0.as_slice();
    let used_at = now.as_datetime();
    let claimed = sqlx::query_scalar!(
        r#"UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL
           RETURNING session_id AS "session_id!: uuid::Uuid""#,
        presented,
        used_at,
    )
    .fetch_optional(&mut *transaction)
    .await
    .map_err(map_error)?;
    let Some(session_id) = claimed else {
        let used_by = sqlx::query_scalar!(
            r#"SELECT session_id AS "session_id!: uuid::Uuid" FROM refresh_tokens
               WHERE token_hash = ?1"#,
            presented,
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
            vec![refresh_token_reused(session_id, ctx)],
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
    insert_token(&mut transaction, next, session_id, now).await?;
    transaction.commit().await.map_err(map_error)?;
    Ok(RefreshOutcome::Rotated {
        user: auth.user,
        session_id: SessionId::from_uuid(session_id),
    })
}

pub(crate) async fn logout(
    pool: &SqlitePool,
    session_id: SessionId,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let revoked = revoke(
        &mut transaction,
        session_id,
        SessionRevocation::Logout,
        Timestamp::now(),
    )
    .await?;
    if revoked {
        append_audit(&mut transaction, vec![logged_out(session_id, ctx)]).await?;
    }
    transaction.commit().await.map_err(map_error)
}

/// Revokes a live session; returns whether it was live. A revoked session keeps its first
/// revocation's time and reason.
async fn revoke(
    connection: &mut SqliteConnection,
    session_id: SessionId,
    reason: SessionRevocation,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let id = session_id.as_uuid();
    let revoked_at = now.as_datetime();
    let reason = reason.as_str();
    let result = sqlx::query!(
        "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3 \
         WHERE id = ?1 AND revoked_at IS NULL",
        id,
        revoked_at,
        reason,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(result.rows_affected() > 0)
}

/// Revokes every live session of a user being disabled or given a new password.
pub(crate) async fn revoke_all_of(
    connection: &mut SqliteConnection,
    user_id: UserId,
    now: Timestamp,
    reason: SessionRevocation,
) -> Result<(), StoreError> {
    let user_id = user_id.as_uuid();
    let revoked_at = now.as_datetime();
    let reason = reason.as_str();
    sqlx::query!(
        "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3 \
         WHERE user_id = ?1 AND revoked_at IS NULL",
        user_id,
        revoked_at,
        reason,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}
