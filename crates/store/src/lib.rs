//! The storage port: the `Store` trait every backend implements, its error type, the decoding
//! of stored audit rows both backends share, and (with the `conformance` feature) the suite
//! every backend must pass.
//!
//! Store methods are whole business operations: each backend owns its transactions and its SQL,
//! and no transaction object crosses this boundary. The money path's steps, and so its lock
//! order, are written once, in [`orchestrator`], over the statements each backend supplies.

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

pub mod batch;
mod chain_check;
pub mod deliveries;
mod error;
pub mod events;
mod history;
pub mod idempotency;
mod identity;
mod ledger;
mod ledger_rows;
mod login_throttle;
pub mod orchestrator;
mod page;
pub mod relabel;
mod rows;
pub mod user_update;
mod webhooks;

pub use batch::{ATTEMPT_DEADLINE, BATCH_BUDGET, BATCH_WAIT, DeadlineExceeded, run_isolating};
pub use chain_check::{ChainCheck, walk_chain};
pub use error::StoreError;
pub use events::{
    CorruptEvent, EVENT_RETENTION, EventFilter, EventRecord, EventRenderer, EventRow, Renderer,
    TypeFilter, stored_event_type,
};
pub use history::{BalanceAt, PointInTime, Window, WindowTotals};
pub use idempotency::{Fingerprint, IdempotencyKey, StoredResponse};
// The store's methods trade in users, so their callers may name the type from here.
pub use coffre_domain::user::User;
pub use deliveries::{Claim, Delivery, DeliveryFilter, RoundMade};
pub use identity::{
    CreateUser, EnsureAdmin, LoginRecord, NewSession, NewUser, PasswordHash, REFRESH_TOKEN_TTL,
    RefreshOutcome, SessionAuth, SessionRefused, SessionRevocation, TokenHash, UpdateUser,
    UserChanges,
};
pub use ledger::{
    DueHold, Executed, ExpiryPage, HoldFilter, HoldRecord, Keyed, LedgerRequest, LockPlan, Origin,
    PartyFilter, PaymentRecord, Responder, TransactionRecord, TransferRecord, expire_due_holds,
};
pub use ledger_rows::{
    AccountCheckRow, AccountColumns, AccountRow, CorruptLedgerRow, EntryRow, HoldColumns, HoldRow,
    PaymentColumns, PaymentRow, TransactionPostingRow, TransferRow, system_account,
};
pub use login_throttle::{
    CorruptThrottle, ThrottleRow, forgotten_before, lock_order, longest_wait,
};
pub use page::{AuditFilter, Page, PageLimit};
pub use rows::{
    AuditRow, CorruptHead, CorruptRow, CorruptUser, SessionAuthEntryRow, SessionAuthRow, UserRow,
    chain_head, parse_json_column,
};
pub use webhooks::{EndpointAfter, WebhookEndpointColumns, WebhookEndpointRow};

#[cfg(feature = "conformance")]
pub mod conformance;

/// Audit events read per query when walking the chain (verify, export), so a walk never
/// holds the whole log in memory.
pub const AUDIT_PAGE_ROWS: u16 = 1_000;

/// The most rows of each kind one [`Store::purge_expired_logins`] call deletes, so a purge
/// never holds its locks (or SQLite's write lock) for long.
pub const PURGE_BATCH_ROWS: u16 = 500;

/// What one [`Store::purge_expired_logins`] call deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgedLogins {
    /// Expired sessions, each with its refresh tokens.
    pub sessions: u64,
    pub refresh_tokens: u64,
    pub login_throttle: u64,
}

impl PurgedLogins {
    /// A full batch of either kind: more may be left.
    pub fn maybe_more(&self) -> bool {
        let full = u64::from(PURGE_BATCH_ROWS);
        self.sessions >= full || self.login_throttle >= full
    }
}

/// Connections open, idle among them, and the most the pool may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// A cheap round trip to the database, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The connection pool right now, for `/metrics`.
    fn pool_stats(&self) -> PoolStats;

    /// Applies pending migrations; running it again is harmless.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Appends events to the audit chain in a transaction of their own, for events that
    /// accompany no other change (changes append their events inside their own transaction).
    /// Returns them as stored, in `seq` order; an empty list appends nothing.
    async fn record_audit(&self, events: Vec<NewAuditEvent>)
    -> Result<Vec<AuditEvent>, StoreError>;

    /// Audit events matching `filter`, newest (highest `seq`) first. `starting_after` is the id
    /// of the last event of the previous page; an id that names no event gives an empty page.
    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        limit: PageLimit,
        starting_after: Option<AuditEventId>,
    ) -> Result<Page<AuditEvent>, StoreError>;

    /// Reads the chain head, then walks the chain up to it in `seq` order, a page at a time,
    /// and names the first event that does not link, or the first one missing: a gap in `seq`,
    /// or newest events deleted (the chain must end at the head's `seq` and hash).
    async fn verify_audit_chain(&self) -> Result<ChainReport, StoreError>;

    /// The stored chain head: the `seq` and hash of the newest event, as appends recorded it.
    async fn audit_chain_head(&self) -> Result<ChainHead, StoreError>;

    /// The events with `seq > after_seq`, in `seq` order, at most [`AUDIT_PAGE_ROWS`]: a page
    /// of the whole log, for export and for checking checkpoints. A row the domain cannot
    /// decode is an `Internal` error.
    async fn audit_events_after(&self, after_seq: i64) -> Result<Vec<AuditEvent>, StoreError>;

    // Identity. Each method that writes is one transaction, with its audit events (carrying
    // `ctx`) appended inside it; it runs to its end even if the caller's future is dropped.

    /// Registers a user and writes REGISTER (resource "user", new value `{email, role}`; the
    /// actor is `ctx.actor_id`, or the new user itself when there is none). `EmailTaken` comes
    /// from the unique constraint, so two concurrent registrations of one email cannot both win.
    async fn create_user(&self, new: NewUser, ctx: &AuditContext)
    -> Result<CreateUser, StoreError>;

    /// For `coffre admin create`: creates an admin with this email, or makes the existing user
    /// an enabled admin with this password. Writes REGISTER when created; when promoted,
    /// PERMISSION_CHANGED if the role changed and USER_ENABLED if it was disabled.
    async fn ensure_admin(
        &self,
        email: Email,
        password_hash: PasswordHash,
        ctx: &AuditContext,
    ) -> Result<EnsureAdmin, StoreError>;

    /// The user with this email and its password hash, disabled or not.
    async fn find_login(&self, email: &Email) -> Result<Option<LoginRecord>, StoreError>;

    /// Decides and records a login attempt in one transaction, before its password is
    /// checked: if any of the three keys must still wait at `now` (each under its own policy),
    /// returns the longest wait and charges nothing; otherwise charges the attempt to the three
    /// keys as a failure (as of `now`) and returns `None`. Concurrent claims on a key queue on
    /// its row, so each sees the charges of those before it. A successful login then refunds
    /// its charge ([`Store::create_session`]).
    async fn claim_login_attempt(
        &self,
        keys: &LoginKeys,
        now: Timestamp,
    ) -> Result<Option<i64>, StoreError>;

    /// A failed login, already charged by [`Store::claim_login_attempt`]: writes LOGIN_FAILED
    /// (resource "user", the user's id if the email named one, new value `{email}` as typed).
    async fn record_login_failure(
        &self,
        email: &str,
        user_id: Option<UserId>,
        ctx: &AuditContext,
    ) -> Result<(), StoreError>;

    /// A successful login: stores the session and its first refresh token hash, clears the
    /// (email, IP) throttle key, refunds the attempt's charge to the IP and email keys, and
    /// writes LOGIN (resource "session"; the actor is
    /// `ctx.actor_id`, or the session's user when there is none).
    async fn create_session(
        &self,
        new: NewSession,
        keys: &LoginKeys,
        ctx: &AuditContext,
    ) -> Result<(), StoreError>;

    /// The per-request check: the session and its user's current role and disabled flag, in one
    /// primary-key read. `None` if no such session exists.
    async fn session_auth(&self, session_id: SessionId) -> Result<Option<SessionAuth>, StoreError>;

    /// Claims the `presented` refresh token and, if it was live, stores `next` for the same
    /// session. At most one of any number of concurrent claims of one token wins.
    ///
    /// A token already used is a reuse: the session is revoked (if it was not already) and
    /// REFRESH_TOKEN_REUSED is written (resource "session"), every time. So after a reuse, the
    /// session's newest token too answers `Invalid` (its session is revoked), while every
    /// older one keeps answering `Reused`. An unknown token, or one whose session is revoked or
    /// expired at `now` or whose user is disabled, is `Invalid` and changes nothing.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<RefreshOutcome, StoreError>;

    /// Logout: revokes the session and writes LOGOUT (resource "session"). A session already
    /// revoked, or unknown, is left as it is and nothing is written.
    async fn revoke_session(
        &self,
        session_id: SessionId,
        ctx: &AuditContext,
    ) -> Result<(), StoreError>;

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// Users newest first (by id: ids are UUID v7). `starting_after` is the id of the last
    /// user of the previous page; an id that names no user gives an empty page. Only managers
    /// and admins list users, which is a read of other people's data: READ (resource "user",
    /// new value `{ids}`) is written in the same transaction.
    async fn list_users(
        &self,
        limit: PageLimit,
        starting_after: Option<UserId>,
        ctx: &AuditContext,
    ) -> Result<Page<User>, StoreError>;

    /// An admin's change of role and/or disabled flag. Refused with `LastAdmin` if no active
    /// admin (role admin, not disabled) would remain; such changes are serialized, so two
    /// admins demoting each other at once leave one. Disabling also revokes the user's
    /// sessions. Writes PERMISSION_CHANGED (old and new `{role}`) if the role changes and
    /// USER_DISABLED or USER_ENABLED (old and new `{disabled}`) if the flag changes; a change
    /// that changes nothing writes nothing and returns the user.
    async fn update_user(
        &self,
        id: UserId,
        changes: UserChanges,
        ctx: &AuditContext,
    ) -> Result<UpdateUser, StoreError>;

    // The ledger.

    /// The engine's one door (DESIGN.md §2): runs the batch in one transaction through
    /// [`orchestrator::run_batch`] (sessions and key records read, payments, holds and accounts
    /// locked in ascending id order, the batch decided by the domain, the effects, the key
    /// records each request's responder kept and the audit events written) and commits;
    /// contention is retried with the whole batch. It runs to its end even if the caller's
    /// future is dropped.
    ///
    /// Each run has [`ATTEMPT_DEADLINE`] and the batch [`BATCH_BUDGET`]; a command whose own
    /// data the database refuses fails alone (see [`run_isolating`]), a fault of the database
    /// fails the commands it reaches. One result per request, in request order. The events the
    /// batch emits are rendered by `renderer` and written in its transaction.
    async fn commit_batch(
        &self,
        batch: Vec<LedgerRequest>,
        renderer: Renderer,
    ) -> Vec<Result<Executed, StoreError>>;

    async fn find_account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;

    /// Accounts newest first, only `owner`'s if given (system accounts have no owner), and
    /// only those whose metadata holds every pair of `metadata`, found through an index.
    async fn list_accounts(
        &self,
        owner: Option<UserId>,
        metadata: &MetadataFilter,
        limit: PageLimit,
        starting_after: Option<AccountId>,
    ) -> Result<Page<Account>, StoreError>;

    /// Applies `patch` to the metadata of a transfer, transaction, hold or payment for `actor`,
    /// with its audit event and its public event (rendered by `renderer`), in one transaction
    /// ([`relabel`]): the metadata after it, or why it was refused.
    async fn relabel(
        &self,
        renderer: Renderer,
        actor: Actor,
        target: Labelled,
        patch: MetadataPatch,
        ctx: AuditContext,
    ) -> Result<Result<Metadata, RelabelRefused>, StoreError>;

    async fn find_transfer(&self, id: TransferId) -> Result<Option<TransferRecord>, StoreError>;

    async fn list_transfers(
        &self,
        filter: PartyFilter,
        metadata: &MetadataFilter,
        limit: PageLimit,
        starting_after: Option<TransferId>,
    ) -> Result<Page<TransferRecord>, StoreError>;

    /// The account's ledger lines, newest first.
    async fn list_entries(
        &self,
        account: AccountId,
        limit: PageLimit,
        starting_after: Option<EntryId>,
    ) -> Result<Page<Entry>, StoreError>;

    /// The account's balance at `at`, from its lines (one index lookup).
    async fn balance_at(
        &self,
        account: AccountId,
        at: PointInTime,
    ) -> Result<BalanceAt, StoreError>;

    /// The sums of the account's lines in `window`. A sum beyond the stored range (only
    /// possible over an absurd volume) is an `Internal` error, never a wrapped number.
    async fn window_totals(
        &self,
        account: AccountId,
        window: Window,
    ) -> Result<WindowTotals, StoreError>;

    /// The account's lines in `window`, oldest first (by time, then id). `starting_after` is
    /// the id of the last line of the previous page; one that names no line of the account
    /// gives an empty page.
    async fn window_entries(
        &self,
        account: AccountId,
        window: Window,
        limit: PageLimit,
        starting_after: Option<EntryId>,
    ) -> Result<Page<Entry>, StoreError>;

    async fn find_payment(&self, id: PaymentId) -> Result<Option<PaymentRecord>, StoreError>;

    /// Payments newest first; `account_id` matches either party, `party` a payer or payee
    /// account owned by that user.
    async fn list_payments(
        &self,
        filter: PartyFilter,
        metadata: &MetadataFilter,
        limit: PageLimit,
        starting_after: Option<PaymentId>,
    ) -> Result<Page<PaymentRecord>, StoreError>;

    /// The transaction with its postings in order.
    async fn find_transaction(
        &self,
        id: TransactionId,
    ) -> Result<Option<TransactionRecord>, StoreError>;

    /// Transactions newest first; `account_id` matches a transaction with a posting from or to
    /// it, `party` one with a posting from or to an account that user owns.
    async fn list_transactions(
        &self,
        filter: PartyFilter,
        metadata: &MetadataFilter,
        limit: PageLimit,
        starting_after: Option<TransactionId>,
    ) -> Result<Page<TransactionRecord>, StoreError>;

    async fn find_hold(&self, id: HoldId) -> Result<Option<HoldRecord>, StoreError>;

    /// Holds newest first; `parties.account_id` matches either account, `parties.party` a
    /// source or destination owned by that user.
    async fn list_holds(
        &self,
        filter: HoldFilter,
        metadata: &MetadataFilter,
        limit: PageLimit,
        starting_after: Option<HoldId>,
    ) -> Result<Page<HoldRecord>, StoreError>;

    /// Holds still `held` whose deadline is at or before `now`, oldest deadline first, at most
    /// `limit`: what the expiry sweep hands to `commit_batch`.
    async fn due_holds(&self, now: Timestamp, limit: PageLimit)
    -> Result<Vec<DueHold>, StoreError>;

    /// Recomputes every balance from its lines and checks the ledger's invariants.
    async fn verify_ledger(&self) -> Result<LedgerReport, StoreError>;

    // The event log (API.md "Events").

    async fn find_event(&self, id: EventId) -> Result<Option<EventRecord>, StoreError>;

    /// Events newest first (by id: ids are UUID v7) matching `filter`. `starting_after` is the
    /// id of the last event of the previous page; an id that names no event gives an empty page.
    async fn list_events(
        &self,
        filter: &EventFilter,
        limit: PageLimit,
        starting_after: Option<EventId>,
    ) -> Result<Page<EventRecord>, StoreError>;

    /// Deletes, in one transaction, at most [`PURGE_BATCH_ROWS`] events created before
    /// `cutoff`, oldest first; returns how many. Call again while it deletes a full batch.
    async fn purge_events(&self, cutoff: Timestamp) -> Result<u64, StoreError>;

    // Webhook endpoints (API.md "Webhook endpoints"): each change in one transaction with its
    // audit event.

    /// Stores a new endpoint and writes WEBHOOK_ENDPOINT_CREATED (`WebhookEndpoint::created`).
    async fn create_webhook_endpoint(
        &self,
        endpoint: WebhookEndpoint,
        ctx: &AuditContext,
    ) -> Result<(), StoreError>;

    async fn find_webhook_endpoint(
        &self,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Endpoints newest first (by id: ids are UUID v7).
    async fn list_webhook_endpoints(
        &self,
        limit: PageLimit,
        starting_after: Option<WebhookEndpointId>,
    ) -> Result<Page<WebhookEndpoint>, StoreError>;

    /// Locks the endpoint, decides `change` on it as it is now (`WebhookEndpoint::change`) and
    /// writes the outcome with its audit event; `None` if there is no such endpoint.
    async fn change_webhook_endpoint(
        &self,
        id: WebhookEndpointId,
        change: EndpointChange,
        ctx: &AuditContext,
    ) -> Result<Option<EndpointAfter>, StoreError>;

    // Webhook deliveries (API.md "Webhook deliveries").

    /// Leases, until `lease_until`, one enabled endpoint that nobody holds and that has work
    /// due at `now` (outbox rows, or pending deliveries due), the one longest unclaimed first,
    /// and returns it with at most `max` deliveries in event order ([`deliveries::sort_due`];
    /// the outbox rows it does not want are deleted); `None` when nothing is due.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        max: u32,
    ) -> Result<Option<Claim>, StoreError>;

    /// Records a round's attempts and their deliveries' new states (a delivery from the outbox
    /// written now, its outbox row deleted; one whose row another instance took meanwhile is
    /// left to that one), and releases the lease (claimable again from `claimable_from`), in
    /// one transaction.
    async fn record_round(&self, round: RoundMade) -> Result<(), StoreError>;

    /// An endpoint's deliveries, newest first, each with its attempts.
    async fn list_deliveries(
        &self,
        endpoint: WebhookEndpointId,
        filter: DeliveryFilter,
        limit: PageLimit,
        starting_after: Option<WebhookDeliveryId>,
    ) -> Result<Page<Delivery>, StoreError>;

    /// Queues `event` again, due at `now`, for every endpoint enabled and subscribed to its type
    /// ([`deliveries::plan_redelivery`]), each with a WEBHOOK_REDELIVERY_QUEUED audit event, in
    /// one transaction; `None` if there is no such event.
    async fn redeliver_event(
        &self,
        event: EventId,
        now: Timestamp,
        ctx: &AuditContext,
    ) -> Result<Option<Vec<Delivery>>, StoreError>;

    /// When the oldest work still waiting became due: an event in an enabled endpoint's outbox,
    /// or a due delivery of an enabled endpoint (`None` when nothing waits).
    async fn oldest_due_delivery(
        &self,
        now: Timestamp,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError>;

    // Idempotency (API.md "Idempotency").

    /// Deletes the keys created before `cutoff`; returns how many.
    async fn purge_idempotency_keys(&self, cutoff: Timestamp) -> Result<u64, StoreError>;

    /// Deletes, in one transaction, at most [`PURGE_BATCH_ROWS`] sessions whose expiry is at or
    /// before `now` (oldest first, each with its refresh tokens: they can never be used again)
    /// and at most as many login-throttle rows that every policy has forgotten at `now`
    /// ([`forgotten_before`]). Call again while [`PurgedLogins::maybe_more`].
    async fn purge_expired_logins(&self, now: Timestamp) -> Result<PurgedLogins, StoreError>;

    /// Waits for in-flight work and closes the connections.
    async fn close(&self);
}
