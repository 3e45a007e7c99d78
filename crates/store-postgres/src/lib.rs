//! The PostgreSQL backend of Coffre's [`Store`].
//!
//! Transactions run in READ COMMITTED with explicit row locks; a transaction PostgreSQL aborts
//! for a serialization failure or a deadlock is retried a bounded number of times.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    AuditFilter, BATCH_BUDGET, BalanceAt, Claim, CreateUser, Delivery, DeliveryFilter, DueHold,
    EndpointAfter, EnsureAdmin, EventFilter, EventRecord, Executed, HoldFilter, HoldRecord,
    LedgerRequest, LoginRecord, NewSession, NewUser, Page, PageLimit, PartyFilter, PasswordHash,
    PaymentRecord, PointInTime, PoolStats, PurgedLogins, RefreshOutcome, Renderer, RoundMade,
    SessionAuth, Store, StoreError, TokenHash, TransactionRecord, TransferRecord, UpdateUser, User,
    UserChanges, Window, WindowTotals, run_isolating,
};
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

mod audit;
mod deliveries;
mod detached;
mod error;
mod events;
mod history;
mod holds;
mod idempotency;
mod ledger;
mod ledger_transactions;
mod money_writes;
mod primary;
mod purge;
mod relabel;
mod retry;
mod sessions;
mod target;
#[cfg(feature = "test-support")]
pub mod testing;
mod throttle;
mod users;
mod webhooks;

use error::{map_error, map_migrate_error};
use primary::Hosts;
pub use primary::{PROBE_TIMEOUT, ReadOnlyHost, WATCH_INTERVAL};
pub use target::{PgTarget, PgUrlError, TargetSession};

static MIGRATOR: Migrator = sqlx::migrate!();

/// How long a request waits for a pooled connection (or for a new one to open) before the
/// database counts as unavailable: long enough for a busy pool, short enough that a dead
/// database is reported unavailable quickly instead of hanging.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// What every pooled session sets, so that nothing the server does for Coffre waits or runs
/// without end: a statement (reads of big tables included) runs at most 10 s; a lock is
/// awaited at most 2 s, well inside a batch's `ATTEMPT_DEADLINE`, so a row held elsewhere
/// fails the batch cleanly (unavailable) instead of running out its deadline; a session left inside a
/// transaction by a client that vanished is ended (and its locks freed) after 5 s; and the
/// server probes an idle client's socket after 10 s, so it notices a dead one.
/// Migrations run on a connection of their own without these limits (a migration may lock a
/// table for long, or build an index on a big one).
pub const SESSION_LIMITS: [(&str, &str); 6] = [
    ("statement_timeout", "10s"),
    ("lock_timeout", "2s"),
    ("idle_in_transaction_session_timeout", "5s"),
    ("tcp_keepalives_idle", "10"),
    ("tcp_keepalives_interval", "3"),
    ("tcp_keepalives_count", "3"),
];

/// The store on a PostgreSQL connection pool. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Where the pool connects, and the migrator's connection without [`SESSION_LIMITS`].
    hosts: Arc<Hosts>,
}

/// When the retries of a transaction that starts now must stop.
fn budget_ends() -> Instant {
    let now = Instant::now();
    now.checked_add(BATCH_BUDGET).unwrap_or(now)
}

/// A pool of zero connections could never serve a request.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the PostgreSQL pool needs at least one connection")]
pub struct EmptyPool;

impl PgStore {
    /// Opens a pool of at most `max_connections` to `url` (`postgres://…`, see [`PgTarget`])
    /// and checks that one connection opens. Does not migrate.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let target = url
            .parse::<PgTarget>()
            .map_err(|error| StoreError::Internal(Box::new(error)))?;
        Self::connect_to(&target, max_connections).await
    }

    /// Opens a pool of at most `max_connections` on the target's primary (its one host, or the
    /// first writable one of several, which the pool then follows through a failover; see
    /// [`primary`]) and checks that one connection opens. Does not migrate.
    pub async fn connect_to(target: &PgTarget, max_connections: u32) -> Result<Self, StoreError> {
        if max_connections == 0 {
            return Err(StoreError::Internal(Box::new(EmptyPool)));
        }
        let hosts = Arc::new(Hosts::new(target, "coffre", &SESSION_LIMITS).map_err(map_error)?);
        let pool_options = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        let pool = primary::open_pool(hosts.clone(), pool_options, ACQUIRE_TIMEOUT)
            .await
            .map_err(map_error)?;
        Ok(Self { pool, hosts })
    }

    /// Runs `attempt`, one whole transaction, in a task of its own (see [`detached`]), again
    /// while PostgreSQL aborts it for contention (see [`retry`]).
    async fn transaction<T, F, Fut>(&self, attempt: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(PgPool) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send,
    {
        let pool = self.pool.clone();
        let no_retry_after = budget_ends();
        detached::run(async move {
            retry::on_contention(no_retry_after, || attempt(pool.clone())).await
        })
        .await
    }
}

#[async_trait]
impl Store for PgStore {
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
        // A pool of one, so that the migrator's `Acquire` bound is met.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(self.hosts.migration_options().map_err(map_error)?)
            .await
            .map_err(map_error)?;
        let migrated = MIGRATOR.run(&pool).await.map_err(map_migrate_error);
        pool.close().await;
        migrated
    }

    async fn record_audit(
        &self,
        events: Vec<NewAuditEvent>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.transaction(move |pool| {
            let events = events.clone();
            async move { audit::record(&pool, events).await }
        })
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

    async fn audit_chain_head(&self) -> Result<ChainHead, StoreError> {
        audit::head(&self.pool).await
    }

    async fn audit_events_after(&self, after_seq: i64) -> Result<Vec<AuditEvent>, StoreError> {
        audit::events_after(&self.pool, after_seq).await
    }

    async fn create_user(
        &self,
        new: NewUser,
        ctx: &AuditContext,
    ) -> Result<CreateUser, StoreError> {
        let ctx = ctx.clone();
        self.transaction(move |pool| users::create(pool, new.clone(), ctx.clone()))
            .await
    }

    async fn ensure_admin(
        &self,
        email: Email,
        password_hash: PasswordHash,
        ctx: &AuditContext,
    ) -> Result<EnsureAdmin, StoreError> {
        let ctx = ctx.clone();
        self.transaction(move |pool| {
            users::ensure_admin(pool, email.clone(), password_hash.clone(), ctx.clone())
        })
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
        let keys = keys.clone();
        self.transaction(move |pool| throttle::claim(pool, keys.clone(), now))
            .await
    }

    async fn record_login_failure(
        &self,
        email: &str,
        user_id: Option<UserId>,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let (email, ctx) = (email.to_owned(), ctx.clone());
        self.transaction(move |pool| {
            throttle::record_failure(pool, email.clone(), user_id, ctx.clone())
        })
        .await
    }

    async fn create_session(
        &self,
        new: NewSession,
        keys: &LoginKeys,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let (keys, ctx) = (keys.clone(), ctx.clone());
        self.transaction(move |pool| sessions::create(pool, new.clone(), keys.clone(), ctx.clone()))
            .await
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
        let (presented, next, ctx) = (*presented, *next, ctx.clone());
        self.transaction(move |pool| sessions::rotate(pool, presented, next, now, ctx.clone()))
            .await
    }

    async fn revoke_session(
        &self,
        session_id: SessionId,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let ctx = ctx.clone();
        self.transaction(move |pool| sessions::logout(pool, session_id, ctx.clone()))
            .await
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
        let ctx = ctx.clone();
        self.transaction(move |pool| users::list(pool, limit, starting_after, ctx.clone()))
            .await
    }

    async fn update_user(
        &self,
        id: UserId,
        changes: UserChanges,
        ctx: &AuditContext,
    ) -> Result<UpdateUser, StoreError> {
        let ctx = ctx.clone();
        self.transaction(move |pool| users::update(pool, id, changes, ctx.clone()))
            .await
    }

    async fn commit_batch(
        &self,
        batch: Vec<LedgerRequest>,
        renderer: Renderer,
    ) -> Vec<Result<Executed, StoreError>> {
        let size = batch.len();
        let pool = self.pool.clone();
        detached::run(async move {
            let results = run_isolating(batch, |part, no_retry_after| {
                let pool = pool.clone();
                let renderer = renderer.clone();
                // Each part shared, not copied, by every attempt the contention retries make.
                retry::on_contention(no_retry_after, move || {
                    ledger::run_part(pool.clone(), Arc::clone(&part), renderer.clone())
                })
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
        self.transaction(move |pool| {
            relabel::relabel(
                pool,
                renderer.clone(),
                actor,
                target,
                patch.clone(),
                ctx.clone(),
            )
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
        let ctx = ctx.clone();
        self.transaction(move |pool| webhooks::create(pool, endpoint.clone(), ctx.clone()))
            .await
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
        let ctx = ctx.clone();
        self.transaction(move |pool| webhooks::change(pool, id, change.clone(), ctx.clone()))
            .await
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        max: u32,
    ) -> Result<Option<Claim>, StoreError> {
        deliveries::claim(&self.pool, now, lease_until, max).await
    }

    async fn record_round(&self, round: RoundMade) -> Result<(), StoreError> {
        self.transaction(move |pool| deliveries::record(pool, round.clone()))
            .await
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
        let ctx = ctx.clone();
        self.transaction(move |pool| deliveries::redeliver(pool, event, now, ctx.clone()))
            .await
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
