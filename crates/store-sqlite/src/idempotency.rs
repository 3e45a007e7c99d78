//! Idempotency keys in SQLite: claim, release, purge. Completing a claim happens in the
//! effect's transaction (see `ledger`).

use coffre_domain::ids::UserId;
use coffre_domain::time::Timestamp;
use coffre_store::StoreError;
use coffre_store::idempotency::{
    Claim, ClaimOutcome, ExistingKey, Fingerprint, IdempotencyKey, KeyDecision, decide,
};
use sqlx::SqlitePool;
use uuid::Uuid;

use crate::error::{internal, map_error};
use crate::transaction::begin_immediate;

pub(crate) async fn claim(
    pool: &SqlitePool,
    user: UserId,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
    now: Timestamp,
) -> Result<ClaimOutcome, StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let claim = Claim {
        user_id: user,
        key,
        claim_id: Uuid::now_v7(),
    };
    let (user_id, key_text) = (user.as_uuid(), claim.key.as_str());
    let row = sqlx::query!(
        r#"SELECT fingerprint AS "fingerprint!", claimed_at AS "claimed_at!: chrono::DateTime<chrono::Utc>",
                  response_status, response_body
           FROM idempotency_keys WHERE user_id = ?1 AND key = ?2"#,
        user_id,
        key_text,
    )
    .fetch_optional(&mut *transaction)
    .await
    .map_err(map_error)?;
    let (claim_id, claimed_at) = (claim.claim_id, now.as_datetime());
    let outcome = match row {
        None => {
            let fingerprint_bytes = fingerprint.0.as_slice();
            sqlx::query!(
                "INSERT INTO idempotency_keys (user_id, key, fingerprint, claim_id, claimed_at, \
                 created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                user_id,
                key_text,
                fingerprint_bytes,
                claim_id,
                claimed_at,
            )
            .execute(&mut *transaction)
            .await
            .map_err(map_error)?;
            ClaimOutcome::Claimed(claim)
        }
        Some(row) => {
            let existing = ExistingKey::from_columns(
                &row.fingerprint,
                Timestamp::from_datetime(row.claimed_at),
                row.response_status,
                row.response_body,
            )
            .map_err(internal)?;
            match decide(&existing, fingerprint, now) {
                KeyDecision::Answer(outcome) => outcome,
                KeyDecision::TakeOver => {
                    sqlx::query!(
                        "UPDATE idempotency_keys SET claim_id = ?3, claimed_at = ?4 \
                         WHERE user_id = ?1 AND key = ?2",
                        user_id,
                        key_text,
                        claim_id,
                        claimed_at,
                    )
                    .execute(&mut *transaction)
                    .await
                    .map_err(map_error)?;
                    ClaimOutcome::Claimed(claim.clone())
                }
            }
        }
    };
    transaction.commit().await.map_err(map_error)?;
    Ok(outcome)
}

pub(crate) async fn release(pool: &SqlitePool, claim: &Claim) -> Result<(), StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let (user, key, claim_id) = (claim.user_id.as_uuid(), claim.key.as_str(), claim.claim_id);
    sqlx::query!(
        "DELETE FROM idempotency_keys \
         WHERE user_id = ?1 AND key = ?2 AND claim_id = ?3 AND completed_at IS NULL",
        user,
        key,
        claim_id,
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?;
    transaction.commit().await.map_err(map_error)
}

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
