//! The PostgreSQL backend of Coffre's [`Store`].
//!
//! Transactions run in READ COMMITTED with explicit row locks; a transaction PostgreSQL aborts
//! for a serialization failure or a deadlock is retried a bounded number of times.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use coffre_domain::audit::{AuditEvent, ChainReport, NewAuditEvent};
use coffre_domain::ids::AuditEventId;
use coffre_store::{AuditFilter, Page, PageLimit, Store, StoreError};
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

mod audit;
mod detached;
mod error;
mod retry;
#[cfg(feature = "test-support")]
pub mod testing;

use error::{map_error, map_migrate_error};

static MIGRATOR: Migrator = sqlx::migrate!();

/// How long a request waits for a pooled connection (or for a new one to open) before the
/// database counts as unavailable: long enough for a busy pool, short enough that a dead
/// database answers 503 quickly instead of hanging.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The store on a PostgreSQL connection pool. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// A pool of zero connections could never serve a request.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the PostgreSQL pool needs at least one connection")]
pub struct EmptyPool;

impl PgStore {
    /// Opens a pool of at most `max_connections` to `url` (`postgres://…`) and checks that one
    /// connection opens. Does not migrate.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        if max_connections == 0 {
            return Err(StoreError::Internal(Box::new(EmptyPool)));
        }
        let options = PgConnectOptions::from_str(url)
            .map_err(map_error)?
            .application_name("coffre");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(map_error)?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await.map_err(map_error)?;
        connection.ping().await.map_err(map_error)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(map_migrate_error)
    }

    async fn record_audit(
        &self,
        events: Vec<NewAuditEvent>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let pool = self.pool.clone();
        detached::run(
            async move { retry::on_contention(|| audit::record(&pool, events.clone())).await },
        )
        .await
    }

    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        limit: PageLimit,
        starting_after: Option<AuditEventId>,
    ) -> Result<Page<AuditEvent>, StoreError> {
        audit::list(&self.pool, filter, limit, starting_after).await
    }

    async fn verify_audit_chain(&self) -> Result<ChainReport, StoreError> {
        audit::verify(&self.pool).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
