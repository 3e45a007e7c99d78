//! The embedded SQLite backend of Coffre's [`Store`]: one database file, WAL journal, writers
//! serialized by `BEGIN IMMEDIATE`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use coffre_domain::access::Actor;
use coffre_domain::audit::{AuditContext, AuditEvent, ChainHead, ChainReport, NewAuditEvent};
use coffre_domain::event::EventId;
use coffre_domain::ids::{
    AccountId, AuditEventId, EntryId, HoldId, PaymentId, SessionId, TransactionId, TransferId,
    UserId, WebhookDeliveryId, WebhookEndpointId,
};
use coffre_domain::ledger::{Account, Entry, LedgerReport};
use coffre_domain::metadata::{Metadata, MetadataFilter, MetadataPatch};
use coffre_domain::relabel::{Labelled, RelabelRefused};
use coffre_domain::throttle::LoginKeys;
use coffre_domain::time::Timestamp;
use coffre_domain::user::Email;
use coffre_domain::webhook::{EndpointChange, WebhookEndpoint};
use coffre_store::{
    AuditFilter, BalanceAt, Claim, CreateUser, Delivery, DeliveryFilter, DueHold, EndpointAfter,
    EnsureAdmin, EventFilter, EventRecord, Executed, HoldFilter, HoldRecord, LedgerRequest,
    LoginRecord, NewSession, NewUser, Page, PageLimit, PartyFilter, PasswordHash, PaymentRecord,
    PointInTime, PoolStats, PurgedLogins, RefreshOutcome, Renderer, RoundMade, SessionAuth, Store,
    StoreError, TokenHash, TransactionRecord, TransferRecord, UpdateUser, User, UserChanges,
    Window, WindowTotals, run_isolating,
};
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod audit;
mod deliveries;
mod detached;
mod error;
mod events;
mod history;
mod holds;
mod idempotency;
mod json_rows;
mod ledger;
mod ledger_transactions;
mod purge;
mod relabel;
mod sessions;
#[cfg(feature = "test-support")]
pub mod testing;
mod throttle;
mod transaction;
mod users;
mod webhooks;

use error::{map_error, map_migrate_error};

static MIGRATOR: Migrator = sqlx::migrate!();

/// How long a statement waits for another connection's write lock before giving up with
/// `Contention`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// WAL lets readers run beside the one writer SQLite allows, so a few connections suffice.
pub const POOL_CONNECTIONS: u32 = 4;

/// How long a request waits for a pooled connection: writers queue on the write lock for up
/// to [`BUSY_TIMEOUT`] each, so this leaves room for a short queue of them.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);

/// The store on an SQLite database file. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens the database at `url` (`sqlite://path/to/file.db`, relative to the working
    /// directory unless absolute), creating the file and its missing parent directories.
    /// Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(options(url)?).await
    }

    pub(crate) async fn connect_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        create_parent_directories(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A transaction that failed may leave its connection counting itself inside it
            // (after a full disk SQLite rolls back by itself, and the ROLLBACK that follows
            // fails): handed out again, it would refuse every BEGIN. The ping first runs the
            // rollback a dropped transaction queued.
            .after_release(|connection, _meta| {
                Box::pin(async move {
                    connection.ping().await?;
                    Ok(!connection.is_in_transaction())
                })
            })
            .connect_with(options)
            .await
            .map_err(map_error)?;
        Ok(Self { pool })
    }
}

/// The settings of every connection to the database at `url`.
fn options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(map_error)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        // NORMAL would be safe from corruption in WAL mode, but a power loss could undo the
        // last commits; FULL syncs the WAL at every commit, so money a client was told had
        // moved stays moved.
        .synchronous(SqliteSynchronous::Full))
}

fn create_parent_directories(database_file: &Path) -> Result<(), StoreError> {
    match database_file.parent() {
        // An in-memory database, or a file in the working directory.
        None => Ok(()),
        Some(parent) if parent.as_os_str().is_empty() => Ok(()),
        Some(parent) => {
            std::fs::create_dir_all(parent).map_err(|error| StoreError::Unavailable(error.into()))
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await.map_err(map_error)?;
        connection.ping().await.map_err(map_error)
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
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
        detached::run(async move { audit::record(&pool, events).await }).await
    }

    async fn create_user(
        &self,
        new: NewUser,
        ctx: &AuditContext,
    ) -> Result<CreateUser, StoreError> {
        let (pool, ctx) = (self.pool.clone(), ctx.clone());
        detached::run(async move { users::create(&pool, new, &ctx).await }).await
    }

    async fn ensure_admin(
        &self,
        email: Email,
        password_hash: PasswordHash,
        ctx: &AuditContext,
    ) -> Result<EnsureAdmin, StoreError> {
        let (pool, ctx) = (self.pool.clone(), ctx.clone());
        detached::run(async move { users::ensure_admin(&pool, email, password_hash, &ctx).await })
            .await
    }

    async fn find_login(&self, email: &Email) -> Result<Option<LoginRecord>, StoreError> {
        users::find_login(&self.pool, email).await
    }

    async fn claim_login_attempt(
        &self,
        keys: &LoginKeys,
        now: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        let (pool, keys) = (self.pool.clone(), keys.clone());
        detached::run(async move { throttle::claim(&pool, &keys, now).await }).await
    }

    async fn record_login_failure(
        &self,
        email: &str,
        user_id: Option<UserId>,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let (pool, email, ctx) = (self.pool.clone(), email.to_owned(), ctx.clone());
        detached::run(async move { throttle::record_failure(&pool, &email, user_id, &ctx).await })
            .await
    }

    async fn create_session(
        &self,
        new: NewSession,
        keys: &LoginKeys,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let (pool, keys, ctx) = (self.pool.clone(), keys.clone(), ctx.clone());
        detached::run(async move { sessions::create(&pool, new, &keys, &ctx).await }).await
    }

    async fn session_auth(&self, session_id: SessionId) -> Result<Option<SessionAuth>, StoreError> {
        sessions::auth(&self.pool, session_id).await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<RefreshOutcome, StoreError> {
        let (pool, presented, next, ctx) = (self.pool.clone(), *presented, *next, ctx.clone());
        detached::run(async move { sessions::rotate(&pool, &presented, &next, now, &ctx).await })
            .await
    }

    async fn revoke_session(
        &self,
        session_id: SessionId,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let (pool, ctx) = (self.pool.clone(), ctx.clone());
        detached::run(async move { sessions::logout(&pool, session_id, &ctx).await }).await
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        users::find(&self.pool, id).await
    }

    async fn list_users(
        &self,
        limit: PageLimit,
        starting_after: Option<UserId>,
        ctx: &AuditContext,
    ) -> Result<Page<User>, StoreError> {
        let (pool, ctx) = (self.pool.clone(), ctx.clone());
        detached::run(async move { users::list(&pool, limit, starting_after, &ctx).await }).await
    }

    async fn update_user(
        &self,
        id: UserId,
        changes: UserChanges,
        ctx: &AuditContext,
    ) -> Result<UpdateUser, StoreError> {
        let (pool, ctx) = (self.pool.clone(), ctx.clone());
        detached::run(async move { users::update(&pool, id, changes, &ctx).await }).await
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

    async fn audit_chain_head(&self) -> Result<ChainHead, StoreError> {
        audit::head(&self.pool).await
    }

    async fn audit_events_after(&self, after_seq: i64) -> Result<Vec<AuditEvent>, StoreError> {
        audit::events_after(&self.pool, after_seq).await
    }

    async fn commit_batch(
        &self,
        batch: Vec<LedgerRequest>,
        renderer: Renderer,
    ) -> Vec<Result<Executed, StoreError>> {
        let size = batch.len();
        let pool = self.pool.clone();
        detached::run(async move {
            let results = run_isolating(batch, |part, _no_retry_after| {
                let pool = pool.clone();
                let renderer = renderer.clone();
                // SQLite has no contention to retry: `BEGIN IMMEDIATE` waits for the lock.
                async move { ledger::run_part(&pool, part, renderer.as_ref()).await }
            })
            .await;
            Ok(results)
        })
        .await
        .unwrap_or_else(|error| (0..size).map(|_| Err(error.duplicate())).collect())
    }

    async fn find_account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        ledger::find_account(&self.pool, id).await
    }

    async fn list_accounts(
        &self,
        owner: Option<UserId>,
        metadata: &MetadataFilter,
        limit: PageLimit,
        starting_after: Option<AccountId>,
    ) -> Result<Page<Account>, StoreError> {
        ledger::list_accounts(&self.pool, owner, metadata, limit, starting_after).await
    }

    async fn relabel(
        &self,
        renderer: Renderer,
        actor: Actor,
        target: Labelled,
        patch: MetadataPatch,
        ctx: AuditContext,
    ) -> Result<Result<Metadata, RelabelRefused>, StoreError> {
        let pool = self.pool.clone();
        detached::run(async move {
            relabel::relabel(&pool, &*renderer, actor, target, &patch, &ctx).await
        })
        .await
    }

    async fn find_transfer(&self, id: TransferId) -> Result<Option<TransferRecord>, StoreError> {
        ledger::find_transfer(&self.pool, id).await
    }

    async fn list_transfers(
        &self,
        filter: PartyFilter,
        metadata: &MetadataFilter,
        limit: PageLimit,
        starting_after: Option<TransferId>,
    ) -> Result<Page<TransferRecord>, StoreError> {
        ledger::list_transfers(&self.pool, filter, metadata, limit, starting_after).await
    }

    async fn list_entries(
        &self,
        account: AccountId,
        limit: PageLimit,
        starting_after: Option<EntryId>,
    ) -> Result<Page<Entry>, StoreError> {
        ledger::list_entries(&self.pool, account, limit, starting_after).await
    }

    async fn balance_at(
        &self,
        account: AccountId,
        at: PointInTime,
    ) -> Result<BalanceAt, StoreError> {
        history::balance_at(&self.pool, account, at).await
    }

    async fn window_totals(
        &self,
        account: AccountId,
        window: Window,
    ) -> Result<WindowTotals, StoreError> {
        history::window_totals(&self.pool, account, window).await
    }

    async fn window_entries(
        &self,
        account: AccountId,
        window: Window,
        limit: PageLimit,
        starting_after: Option<EntryId>,
    ) -> Result<Page<Entry>, StoreError> {
        history::window_entries(&self.pool, account, window, limit, starting_after).await
    }

    async fn find_payment(&self, id: PaymentId) -> Result<Option<PaymentRecord>, StoreError> {
        ledger::find_payment(&self.pool, id).await
    }

    async fn list_payments(
        &self,
        filter: PartyFilter,
        metadata: &MetadataFilter,
        limit: PageLimit,
        starting_after: Option<PaymentId>,
    ) -> Result<Page<PaymentRecord>, StoreError> {
        ledger::list_payments(&self.pool, filter, metadata, limit, starting_after).await
    }

    async fn find_transaction(
        &self,
        id: TransactionId,
    ) -> Result<Option<TransactionRecord>, StoreError> {
        ledger_transactions::find_transaction(&self.pool, id).await
    }

    async fn list_transactions(
        &self,
        filter: PartyFilter,
        metadata: &MetadataFilter,
        limit: PageLimit,
        starting_after: Option<TransactionId>,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        ledger_transactions::list_transactions(&self.pool, filter, metadata, limit, starting_after)
            .await
    }

    async fn find_hold(&self, id: HoldId) -> Result<Option<HoldRecord>, StoreError> {
        holds::find_hold(&self.pool, id).await
    }

    async fn list_holds(
        &self,
        filter: HoldFilter,
        metadata: &MetadataFilter,
        limit: PageLimit,
        starting_after: Option<HoldId>,
    ) -> Result<Page<HoldRecord>, StoreError> {
        holds::list_holds(&self.pool, filter, metadata, limit, starting_after).await
    }

    async fn due_holds(
        &self,
        now: Timestamp,
        limit: PageLimit,
    ) -> Result<Vec<DueHold>, StoreError> {
        holds::due_holds(&self.pool, now, limit).await
    }

    async fn verify_ledger(&self) -> Result<LedgerReport, StoreError> {
        ledger::verify(&self.pool).await
    }

    async fn find_event(&self, id: EventId) -> Result<Option<EventRecord>, StoreError> {
        events::find(&self.pool, id).await
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        limit: PageLimit,
        starting_after: Option<EventId>,
    ) -> Result<Page<EventRecord>, StoreError> {
        events::list(&self.pool, filter, limit, starting_after).await
    }

    async fn purge_events(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        events::purge(&self.pool, cutoff).await
    }

    async fn create_webhook_endpoint(
        &self,
        endpoint: WebhookEndpoint,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let (pool, ctx) = (self.pool.clone(), ctx.clone());
        detached::run(async move { webhooks::create(&pool, endpoint, &ctx).await }).await
    }

    async fn find_webhook_endpoint(
        &self,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        webhooks::find(&self.pool, id).await
    }

    async fn list_webhook_endpoints(
        &self,
        limit: PageLimit,
        starting_after: Option<WebhookEndpointId>,
    ) -> Result<Page<WebhookEndpoint>, StoreError> {
        webhooks::list(&self.pool, limit, starting_after).await
    }

    async fn change_webhook_endpoint(
        &self,
        id: WebhookEndpointId,
        change: EndpointChange,
        ctx: &AuditContext,
    ) -> Result<Option<EndpointAfter>, StoreError> {
        let (pool, ctx) = (self.pool.clone(), ctx.clone());
        detached::run(async move { webhooks::change(&pool, id, change, &ctx).await }).await
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        max: u32,
    ) -> Result<Option<Claim>, StoreError> {
        let pool = self.pool.clone();
        detached::run(async move { deliveries::claim(&pool, now, lease_until, max).await }).await
    }

    async fn record_round(&self, round: RoundMade) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        detached::run(async move { deliveries::record(&pool, round).await }).await
    }

    async fn list_deliveries(
        &self,
        endpoint: WebhookEndpointId,
        filter: DeliveryFilter,
        limit: PageLimit,
        starting_after: Option<WebhookDeliveryId>,
    ) -> Result<Page<Delivery>, StoreError> {
        deliveries::list(&self.pool, endpoint, filter, limit, starting_after).await
    }

    async fn redeliver_event(
        &self,
        event: EventId,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<Option<Vec<Delivery>>, StoreError> {
        let (pool, ctx) = (self.pool.clone(), ctx.clone());
        detached::run(async move { deliveries::redeliver(&pool, event, now, &ctx).await }).await
    }

    async fn oldest_due_delivery(
        &self,
        now: Timestamp,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        deliveries::oldest_due(&self.pool, now).await
    }

    async fn purge_idempotency_keys(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        idempotency::purge(&self.pool, cutoff).await
    }

    async fn purge_expired_logins(&self, now: Timestamp) -> Result<PurgedLogins, StoreError> {
        purge::expired_logins(&self.pool, now).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_connection_has_the_durability_settings() {
        let (store, _dir) = testing::fresh_store().await;
        let mut connection = store.pool.acquire().await.unwrap();
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        assert_eq!(journal_mode, "wal");
        for (pragma, expected) in [
            ("PRAGMA foreign_keys", 1),
            // 2 is FULL.
            ("PRAGMA synchronous", 2),
            ("PRAGMA busy_timeout", 5_000),
        ] {
            let value: i64 = sqlx::query_scalar(pragma)
                .fetch_one(&mut *connection)
                .await
                .unwrap();
            assert_eq!(value, expected, "{pragma}");
        }
    }
}
