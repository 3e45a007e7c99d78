//! Bounded, jittered retries of whole transactions that PostgreSQL aborted because of a
//! serialization failure or a deadlock (SQLSTATE 40001, 40P01): invisible to the caller unless
//! every attempt loses.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use coffre_store::StoreError;

pub(crate) const MAX_ATTEMPTS: u32 = 5;
const BACKOFF_BASE_MS: u64 = 5;
const BACKOFF_CAP_MS: u64 = 200;

/// Runs `attempt` (one whole transaction) until it does not end in contention, at most
/// [`MAX_ATTEMPTS`] times, and none after `no_retry_after`. Only contention is retried: the
/// server aborted that transaction, so nothing of it committed. Any other failure, one that
/// might have come after a COMMIT reached the server, is returned as it is.
pub(crate) async fn on_contention<T, F, Fut>(
    no_retry_after: Instant,
    mut attempt: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempt_number: u32 = 1;
    loop {
        match attempt().await {
            Err(StoreError::Contention)
                if attempt_number < MAX_ATTEMPTS && Instant::now() < no_retry_after =>
            {
                tokio::time::sleep(backoff(attempt_number)).await;
                attempt_number = attempt_number.saturating_add(1);
            }
            result => return result,
        }
    }
}

/// Full jitter over an exponential ceiling, so transactions that collided once spread out
/// instead of colliding again in lockstep.
fn backoff(attempt_number: u32) -> Duration {
    let ceiling_ms = BACKOFF_BASE_MS
        .saturating_mul(2_u64.saturating_pow(attempt_number))
        .min(BACKOFF_CAP_MS);
    // A fresh `RandomState` is seeded differently each time: enough randomness for jitter
    // without a random-number crate.
    let random = RandomState::new().hash_one(attempt_number);
    let jitter_ms = random
        .checked_rem(ceiling_ms.saturating_add(1))
        .unwrap_or(0);
    Duration::from_millis(jitter_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::map_error;
    use crate::testing;
    use sqlx::PgPool;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn far_future() -> Instant {
        Instant::now()
            .checked_add(Duration::from_secs(3600))
            .unwrap()
    }

    async fn serialization_failure(pool: &PgPool) -> Result<(), StoreError> {
        sqlx::raw_sql(
            "DO $$ BEGIN RAISE EXCEPTION 'lost a race' USING ERRCODE = 'serialization_failure'; END $$",
        )
        .execute(pool)
        .await
        .map(drop)
        .map_err(map_error)
    }

    #[tokio::test]
    async fn contention_is_retried_until_an_attempt_wins() {
        let (_store, url) = testing::fresh_database().await;
        let pool = PgPool::connect(&url).await.unwrap();
        let attempts = AtomicU32::new(0);
        let result = on_contention(far_future(), || async {
            if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
                serialization_failure(&pool).await
            } else {
                Ok(())
            }
        })
        .await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn contention_on_every_attempt_is_reported() {
        let (_store, url) = testing::fresh_database().await;
        let pool = PgPool::connect(&url).await.unwrap();
        let attempts = AtomicU32::new(0);
        let result = on_contention(far_future(), || {
            attempts.fetch_add(1, Ordering::SeqCst);
            serialization_failure(&pool)
        })
        .await;
        assert!(matches!(result, Err(StoreError::Contention)), "{result:?}");
        assert_eq!(attempts.load(Ordering::SeqCst), MAX_ATTEMPTS);
    }

    #[test]
    fn other_errors_are_not_retried() {
        let attempts = AtomicU32::new(0);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let result: Result<(), _> = runtime.block_on(on_contention(far_future(), || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Constraint {
                constraint: "audit_events_id_key".into(),
            })
        }));
        assert!(matches!(result, Err(StoreError::Constraint { .. })));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        for attempt_number in 1..=MAX_ATTEMPTS {
            assert!(backoff(attempt_number) <= Duration::from_millis(BACKOFF_CAP_MS));
        }
    }
}
