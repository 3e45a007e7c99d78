//! Idempotency keys in PostgreSQL: claim, release, purge. Completing a claim happens in the
//! effect's transaction (see `ledger`).

use coffre_domain::ids::UserId;
use coffre_domain::time::Timestamp;
use coffre_store::StoreError;
use coffre_store::idempotency::{
    Claim, ClaimOutcome, ExistingKey, Fingerprint, IdempotencyKey, KeyDecision, decide,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{internal, map_error};

pub(crate) async fn claim(
    pool: PgPool,
    user: UserId,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
    now: Timestamp,
) -> Result<ClaimOutcome, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let claim = Claim {
        user_id: user,
        key,
        claim_id: Uuid::now_v7(),
    };
    // A concurrent first claim of the same key makes this wait for its commit, then do nothing.
    let inserted = sqlx::query!(
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, claim_id, claimed_at, \
         created_at) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (user_id, key) DO NOTHING",
        user.as_uuid(),
        claim.key.as_str(),
        fingerprint.0.as_slice(),
        claim.claim_id,
        now.as_datetime(),
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?
    .rows_affected();
    if inserted == 1 {
        transaction.commit().await.map_err(map_error)?;
        return Ok(ClaimOutcome::Claimed(claim));
    }
    let row = sqlx::query!(
        "SELECT fingerprint, claimed_at, response_status, response_body FROM idempotency_keys \
         WHERE user_id = $1 AND key = $2 FOR UPDATE",
        user.as_uuid(),
        claim.key.as_str(),
    )
    .fetch_optional(&mut *transaction)
    .await
    .map_err(map_error)?;
    // Purged between the two statements: the retry inserts it afresh.
    let Some(row) = row else {
        return Err(StoreError::Contention);
    };
    let existing = ExistingKey::from_columns(
        &row.fingerprint,
        Timestamp::from_datetime(row.claimed_at),
        row.response_status.map(i64::from),
        row.response_body,
    )
    .map_err(internal)?;
    let outcome = match decide(&existing, fingerprint, now) {
        KeyDecision::Answer(outcome) => outcome,
        KeyDecision::TakeOver => {
            sqlx::query!(
                "UPDATE idempotency_keys SET claim_id = $3, claimed_at = $4 \
                 WHERE user_id = $1 AND key = $2",
                user.as_uuid(),
                claim.key.as_str(),
                claim.claim_id,
                now.as_datetime(),
            )
            .execute(&mut *transaction)
            .await
            .map_err(map_error)?;
            ClaimOutcome::Claimed(claim)
        }
    };
    transaction.commit().await.map_err(map_error)?;
    Ok(outcome)
}

pub(crate) async fn release(pool: &PgPool, claim: &Claim) -> Result<(), StoreError> {
    sqlx::query!(
        "DELETE FROM idempotency_keys \
         WHERE user_id = $1 AND key = $2 AND claim_id = $3 AND completed_at IS NULL",
        claim.user_id.as_uuid(),
        claim.key.as_str(),
        claim.claim_id,
    )
    .execute(pool)
    .await
    .map_err(map_error)?;
    Ok(())
}

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
