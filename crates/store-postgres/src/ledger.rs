//! The money path in PostgreSQL: one READ COMMITTED transaction per batch, every account it
//! touches locked `FOR NO KEY UPDATE` in ascending id order, the decisions made by the pure
//! ledger, the effects written with one statement per table.
//!
//! `FOR NO KEY UPDATE` rather than `FOR UPDATE`: the new ledger lines and transfers reference
//! the accounts, and their foreign-key checks take `KEY SHARE` locks, which `NO KEY UPDATE`
//! does not block.

use std::collections::HashMap;
use std::sync::Arc;

use coffre_domain::audit::NewAuditEvent;
use coffre_domain::hold::Hold;
use coffre_domain::ids::{AccountId, EntryId, HoldId, PaymentId, SessionId, TransferId, UserId};
use coffre_domain::ledger::{
    Account, Effects, Entry, Ledger, LedgerCheck, LedgerReport, Transaction,
};
use coffre_domain::metadata::MetadataFilter;
use coffre_domain::money::Currency;
use coffre_domain::payment::AnyPayment;
use coffre_domain::time::Timestamp;
use coffre_store::idempotency::{ExistingKey, NewKey};
use coffre_store::orchestrator::{BatchRun, KeyReads, LedgerBackend, run_batch};
use coffre_store::{
    AccountCheckRow, AccountColumns, AccountRow, EntryRow, EventRecord, EventRenderer, Executed,
    IdempotencyKey, LedgerRequest, LockPlan, Page, PageLimit, PartyFilter, PaymentColumns,
    PaymentRecord, PaymentRow, Renderer, SessionAuth, StoreError, TransferRecord, TransferRow,
    system_account,
};
use futures_util::TryStreamExt;
use sqlx::{Connection, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::audit::append_audit;
use crate::error::{internal, map_error};
use crate::holds;
use crate::money_writes;
use crate::sessions;
use coffre_store_sqlx::{self as lease, End, Failure};

/// Inserts the system accounts of `currencies` that do not exist yet, in a statement of its
/// own: the batch's transaction then finds and locks them like any other account.
async fn ensure_system_accounts(
    connection: &mut PgConnection,
    currencies: &[Currency],
) -> Result<(), StoreError> {
    if currencies.is_empty() {
        return Ok(());
    }
    let codes: Vec<&str> = currencies.iter().map(Currency::code).collect();
    let missing = sqlx::query_scalar!(
        r#"SELECT code AS "code!" FROM UNNEST($1::text[]) AS code
           WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE owner_id IS NULL AND currency = code)"#,
        &codes as _,
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(map_error)?;
    if missing.is_empty() {
        return Ok(());
    }
    let now = Timestamp::now();
    let accounts: Vec<Account> = currencies
        .iter()
        .filter(|currency| missing.iter().any(|code| code == currency.code()))
        .map(|currency| system_account(*currency, now))
        .collect();
    let columns = Columns::of(&accounts);
    // A concurrent first deposit may insert the same currency: the unique index keeps one.
    sqlx::query!(
        "INSERT INTO accounts (id, owner_id, currency, name, balance, held, status, created_at, \
         updated_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], \
         $6::bigint[], $7::text[], $8::timestamptz[], $9::timestamptz[]) \
         ON CONFLICT (currency) WHERE owner_id IS NULL DO NOTHING",
        &columns.id,
        &columns.owner_id as _,
        &columns.currency as _,
        &columns.name as _,
        &columns.balance,
        &columns.held,
        &columns.status as _,
        &columns.created_at,
        &columns.updated_at,
    )
    .execute(&mut *connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

/// One run of a whole batch, on one connection within its deadline (see [`lease`]); the caller
/// retries it on contention. Most batches commit on their first attempt, which reads no key
/// records ([`KeyReads::Optimistic`]).
pub(crate) async fn run_part(
    pool: PgPool,
    batch: Arc<Vec<LedgerRequest>>,
    renderer: Renderer,
) -> Result<Vec<Executed>, StoreError> {
    let plan = LockPlan::of(batch.iter());
    lease::run(&pool, map_error, async |connection: &mut PgConnection| {
        ensure_system_accounts(connection, &plan.system_currencies).await?;
        if let BatchRun::Commit(executed) = transaction(
            connection,
            &batch,
            &plan,
            KeyReads::Optimistic,
            renderer.as_ref(),
        )
        .await?
        {
            return Ok(executed);
        }
        match transaction(connection, &batch, &plan, KeyReads::Read, renderer.as_ref()).await? {
            BatchRun::Commit(executed) => Ok(executed),
            // Another instance committed one of these keys between this read and this insert.
            BatchRun::KeyExists => Err(StoreError::Contention.into()),
        }
    })
    .await
}

/// One transaction of [`run_part`]: the batch's steps ([`run_batch`]) over these statements.
async fn transaction(
    connection: &mut PgConnection,
    batch: &[LedgerRequest],
    plan: &LockPlan,
    key_reads: KeyReads,
    renderer: &dyn EventRenderer,
) -> Result<BatchRun, Failure> {
    let mut transaction = connection.begin().await.map_err(map_error)?;
    let run = run_batch(
        &mut Statements(&mut transaction),
        batch,
        plan,
        key_reads,
        renderer,
    )
    .await
    .map(|run| {
        let end = match run {
            BatchRun::Commit(_) => End::Commit,
            BatchRun::KeyExists => End::Rollback,
        };
        (run, end)
    });
    lease::end(transaction, map_error, run).await
}

/// The money path's statements on PostgreSQL, inside the batch's transaction: one statement
/// per step, over arrays.
struct Statements<'c>(&'c mut PgConnection);

impl LedgerBackend for Statements<'_> {
    async fn read_sessions(
        &mut self,
        ids: &[SessionId],
    ) -> Result<HashMap<SessionId, SessionAuth>, StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
        sessions::read_auths(self.0, &ids).await
    }

    /// A key whose first request commits after this read is caught when its record is inserted
    /// (see [`Self::write_batch`]).
    async fn read_keys(
        &mut self,
        keys: &[(UserId, &IdempotencyKey)],
    ) -> Result<HashMap<(UserId, IdempotencyKey), ExistingKey>, StoreError> {
        read_keys(self.0, keys).await
    }

    async fn lock_payments(&mut self, ids: &[PaymentId]) -> Result<Vec<AnyPayment>, StoreError> {
        lock_payments(self.0, ids).await
    }

    async fn lock_holds(
        &mut self,
        ids: &[HoldId],
        payments: &[PaymentId],
    ) -> Result<Vec<Hold>, StoreError> {
        holds::lock_holds(self.0, ids, payments).await
    }

    async fn lock_accounts(
        &mut self,
        ids: &[AccountId],
        system_currencies: &[Currency],
    ) -> Result<Vec<Account>, StoreError> {
        lock_accounts(self.0, ids, system_currencies).await
    }

    /// Some key already had a record if it was committed before, or by another instance's
    /// transaction (which the insert waits for): the run then rolls back and runs again
    /// reading the keys, which replays that record.
    async fn write_batch(
        &mut self,
        ledger: &Ledger,
        effects: &Effects,
        events: &[EventRecord],
        keys: &[NewKey],
    ) -> Result<bool, StoreError> {
        write_batch(self.0, ledger, effects, events, keys).await
    }

    async fn append_audit(&mut self, events: Vec<NewAuditEvent>) -> Result<(), StoreError> {
        append_audit(self.0, events).await.map(drop)
    }
}

async fn read_keys(
    connection: &mut PgConnection,
    keys: &[(UserId, &IdempotencyKey)],
) -> Result<HashMap<(UserId, IdempotencyKey), ExistingKey>, StoreError> {
    let (users, keys): (Vec<Uuid>, Vec<&str>) = keys
        .iter()
        .map(|(user, key)| (user.as_uuid(), key.as_str()))
        .unzip();
    let rows = sqlx::query!(
        "SELECT user_id, key, fingerprint, response_status, response_body          FROM idempotency_keys          WHERE (user_id, key) IN (SELECT * FROM UNNEST($1::uuid[], $2::text[]))",
        &users,
        &keys as _,
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(map_error)?;
    rows.into_iter()
        .map(|row| {
            ExistingKey::entry(
                row.user_id,
                &row.key,
                &row.fingerprint,
                i64::from(row.response_status),
                row.response_body,
            )
            .map_err(internal)
        })
        .collect()
}

/// Payments are locked before holds and accounts, each kind in ascending id order: one global
/// order, so two batches never wait for each other in a cycle.
async fn lock_payments(
    connection: &mut PgConnection,
    ids: &[PaymentId],
) -> Result<Vec<AnyPayment>, StoreError> {
    let ids: Vec<Uuid> = ids.iter().map(PaymentId::as_uuid).collect();
    let rows = sqlx::query_as!(
        PaymentRow,
        r#"SELECT p.id, p.payer_account_id, p.payee_account_id, p.amount, p.currency, p.state,
                  p.authorized_amount, p.captured_amount, p.refunded_amount,
                  p.authorization_code, p.failure_reason, p.expires_at,
                  p.metadata::text AS "metadata!", p.created_at,
                  p.updated_at, NULL::uuid AS "payer_owner?", NULL::uuid AS "payee_owner?"
           FROM payments p WHERE p.id = ANY($1) ORDER BY p.id FOR UPDATE"#,
        &ids,
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(map_error)?;
    rows.into_iter()
        .map(|row| {
            row.into_record()
                .map(|record| record.payment)
                .map_err(internal)
        })
        .collect()
}

async fn lock_accounts(
    connection: &mut PgConnection,
    accounts: &[AccountId],
    system_currencies: &[Currency],
) -> Result<Vec<Account>, StoreError> {
    let ids: Vec<Uuid> = accounts.iter().map(AccountId::as_uuid).collect();
    let currencies: Vec<&str> = system_currencies.iter().map(Currency::code).collect();
    // One list of ids, so the lock is a primary-key probe per account: an `OR` with the system
    // accounts' condition made PostgreSQL scan the whole table instead.
    let rows = sqlx::query_as!(
        AccountRow,
        "SELECT id, owner_id, currency, name, balance, held, status, overdraft_limit, \
                max_balance, metadata::text AS \"metadata!\", created_at, updated_at \
         FROM accounts \
         WHERE id = ANY($1::uuid[] || ARRAY(SELECT id FROM accounts \
                                             WHERE owner_id IS NULL AND currency = ANY($2))) \
         ORDER BY id \
         FOR NO KEY UPDATE",
        &ids,
        &currencies as _,
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(map_error)?;
    rows.into_iter()
        .map(|row| row.into_account().map_err(internal))
        .collect()
}

/// What only some batches write (new accounts, payments, holds, transactions) has statements
/// of its own, run only when there is some; then the rows every transfer batch writes go in one
/// statement ([`money_writes`]).
async fn write_batch(
    connection: &mut PgConnection,
    ledger: &Ledger,
    effects: &Effects,
    events: &[EventRecord],
    keys: &[NewKey],
) -> Result<bool, StoreError> {
    let opened: Vec<Account> = effects
        .opened
        .iter()
        .filter_map(|id| ledger.account(*id).cloned())
        .collect();
    if !opened.is_empty() {
        let columns = Columns::of(&opened);
        sqlx::query!(
            "INSERT INTO accounts (id, owner_id, currency, name, balance, held, status, \
             overdraft_limit, max_balance, metadata, created_at, updated_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], \
             $6::bigint[], $7::text[], $8::bigint[], $9::bigint[], $10::text[]::jsonb[], \
             $11::timestamptz[], $12::timestamptz[])",
            &columns.id,
            &columns.owner_id as _,
            &columns.currency as _,
            &columns.name as _,
            &columns.balance,
            &columns.held,
            &columns.status as _,
            &columns.overdraft_limit,
            &columns.max_balance as _,
            &columns.metadata,
            &columns.created_at,
            &columns.updated_at,
        )
        .execute(&mut *connection)
        .await
        .map_err(map_error)?;
    }

    let opened: Vec<PaymentColumns> = effects
        .payments_opened
        .iter()
        .filter_map(|id| ledger.payment(*id))
        .map(PaymentColumns::of)
        .collect();
    let changed: Vec<PaymentColumns> = effects
        .payments_changed
        .iter()
        .filter_map(|id| ledger.payment(*id))
        .map(PaymentColumns::of)
        .collect();
    for payment in &opened {
        sqlx::query!(
            "INSERT INTO payments (id, payer_account_id, payee_account_id, amount, currency, \
             state, authorized_amount, captured_amount, refunded_amount, authorization_code, \
             failure_reason, expires_at, created_at, updated_at, metadata) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::text::jsonb)",
            payment.id,
            payment.payer_account_id,
            payment.payee_account_id,
            payment.amount,
            payment.currency,
            payment.state,
            payment.authorized_amount,
            payment.captured_amount,
            payment.refunded_amount,
            payment.authorization_code,
            payment.failure_reason,
            payment.expires_at,
            payment.created_at,
            payment.updated_at,
            payment.metadata,
        )
        .execute(&mut *connection)
        .await
        .map_err(map_error)?;
    }
    for payment in &changed {
        sqlx::query!(
            "UPDATE payments SET state = $2, authorized_amount = $3, captured_amount = $4, \
             refunded_amount = $5, authorization_code = $6, failure_reason = $7, \
             expires_at = $8, updated_at = $9 WHERE id = $1",
            payment.id,
            payment.state,
            payment.authorized_amount,
            payment.captured_amount,
            payment.refunded_amount,
            payment.authorization_code,
            payment.failure_reason,
            payment.expires_at,
            payment.updated_at,
        )
        .execute(&mut *connection)
        .await
        .map_err(map_error)?;
    }
    // After the payments, which holds name, and before the transfers, which name their holds.
    holds::write_holds(connection, ledger, effects).await?;
    insert_transactions(connection, &effects.transactions).await?;
    let changed: Vec<Account> = effects
        .changed
        .iter()
        .filter_map(|id| ledger.account(*id).cloned())
        .collect();
    money_writes::write(
        connection,
        &changed,
        &effects.transfers,
        &effects.entries,
        events,
        keys,
    )
    .await
}

/// Before their postings, which reference them.
async fn insert_transactions(
    connection: &mut PgConnection,
    transactions: &[Transaction],
) -> Result<(), StoreError> {
    if transactions.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = transactions.iter().map(|t| t.id.as_uuid()).collect();
    let descriptions: Vec<Option<&str>> = transactions
        .iter()
        .map(|t| t.description.as_ref().map(|d| d.as_str()))
        .collect();
    let metadata: Vec<String> = transactions
        .iter()
        .map(|t| t.metadata.to_json().to_string())
        .collect();
    let created: Vec<chrono::DateTime<chrono::Utc>> = transactions
        .iter()
        .map(|t| t.created_at.as_datetime())
        .collect();
    sqlx::query!(
        "INSERT INTO transactions (id, description, metadata, created_at) \
         SELECT id, description, metadata::jsonb, created_at \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) \
              AS new(id, description, metadata, created_at)",
        &ids,
        &descriptions as _,
        &metadata,
        &created,
    )
    .execute(&mut *connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

/// Account columns as arrays, for `UNNEST`.
pub(crate) struct Columns {
    pub(crate) id: Vec<Uuid>,
    pub(crate) owner_id: Vec<Option<Uuid>>,
    pub(crate) currency: Vec<&'static str>,
    pub(crate) name: Vec<Option<String>>,
    pub(crate) balance: Vec<i64>,
    pub(crate) held: Vec<i64>,
    pub(crate) status: Vec<&'static str>,
    pub(crate) overdraft_limit: Vec<i64>,
    pub(crate) max_balance: Vec<Option<i64>>,
    pub(crate) metadata: Vec<String>,
    pub(crate) created_at: Vec<chrono::DateTime<chrono::Utc>>,
    pub(crate) updated_at: Vec<chrono::DateTime<chrono::Utc>>,
}

impl Columns {
    pub(crate) fn of(accounts: &[Account]) -> Self {
        let rows: Vec<AccountColumns> = accounts.iter().map(AccountColumns::of).collect();
        Self {
            id: rows.iter().map(|r| r.id).collect(),
            owner_id: rows.iter().map(|r| r.owner_id).collect(),
            currency: rows.iter().map(|r| r.currency).collect(),
            name: rows.iter().map(|r| r.name.clone()).collect(),
            balance: rows.iter().map(|r| r.balance).collect(),
            held: rows.iter().map(|r| r.held).collect(),
            status: rows.iter().map(|r| r.status).collect(),
            overdraft_limit: rows.iter().map(|r| r.overdraft_limit).collect(),
            max_balance: rows.iter().map(|r| r.max_balance).collect(),
            metadata: rows.iter().map(|r| r.metadata.clone()).collect(),
            created_at: rows.iter().map(|r| r.created_at).collect(),
            updated_at: rows.iter().map(|r| r.updated_at).collect(),
        }
    }
}

pub(crate) async fn find_account(
    pool: &PgPool,
    id: AccountId,
) -> Result<Option<Account>, StoreError> {
    sqlx::query_as!(
        AccountRow,
        "SELECT id, owner_id, currency, name, balance, held, status, overdraft_limit, \
                max_balance, metadata::text AS \"metadata!\", created_at, updated_at \
         FROM accounts WHERE id = $1",
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await
    .map_err(map_error)?
    .map(|row| row.into_account().map_err(internal))
    .transpose()
}

pub(crate) async fn list_accounts(
    pool: &PgPool,
    owner: Option<coffre_domain::ids::UserId>,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<AccountId>,
) -> Result<Page<Account>, StoreError> {
    if !metadata.is_empty() {
        return list_accounts_by_metadata(pool, owner, metadata, limit, starting_after).await;
    }
    let rows = sqlx::query_as!(
        AccountRow,
        "SELECT id, owner_id, currency, name, balance, held, status, overdraft_limit, \
                max_balance, metadata::text AS \"metadata!\", created_at, updated_at \
         FROM accounts \
         WHERE ($1::uuid IS NULL OR owner_id = $1) AND ($2::uuid IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3",
        owner.map(|id| id.as_uuid()),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    let accounts = rows
        .into_iter()
        .map(|row| row.into_account().map_err(internal))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_fetched(accounts, limit))
}

/// [`list_accounts`] with a metadata filter. The matching accounts come from the GIN index
/// alone, materialized first: left to itself the planner would walk the primary key backwards
/// and test every account's metadata, a scan of the whole table. The index holds only accounts
/// with metadata, which the `<> '{}'` states for it.
async fn list_accounts_by_metadata(
    pool: &PgPool,
    owner: Option<coffre_domain::ids::UserId>,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<AccountId>,
) -> Result<Page<Account>, StoreError> {
    let rows = sqlx::query_as!(
        AccountRow,
        r#"WITH matching AS MATERIALIZED (
               SELECT id, owner_id, currency, name, balance, held, status, overdraft_limit,
                      max_balance, metadata, created_at, updated_at
               FROM accounts WHERE metadata @> $4::text::jsonb AND metadata <> '{}')
           SELECT id AS "id!", owner_id, currency AS "currency!", name, balance AS "balance!",
                  held AS "held!", status AS "status!", overdraft_limit AS "overdraft_limit!",
                  max_balance, metadata::text AS "metadata!", created_at AS "created_at!",
                  updated_at AS "updated_at!"
           FROM matching
           WHERE ($1::uuid IS NULL OR owner_id = $1) AND ($2::uuid IS NULL OR id < $2)
           ORDER BY id DESC LIMIT $3"#,
        owner.map(|id| id.as_uuid()),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
        metadata.to_json().to_string(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    let accounts = rows
        .into_iter()
        .map(|row| row.into_account().map_err(internal))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_fetched(accounts, limit))
}

pub(crate) async fn find_transfer(
    pool: impl PgExecutor<'_>,
    id: TransferId,
) -> Result<Option<TransferRecord>, StoreError> {
    sqlx::query_as!(
        TransferRow,
        r#"SELECT t.id, t.kind, t.from_account_id, t.to_account_id, t.amount, t.currency,
                  t.description, t.metadata::text AS "metadata!", t.hold_id, t.transaction_id,
                  t.posting_index::bigint AS posting_index, t.created_at,
                  source.owner_id AS "from_owner?", target.owner_id AS "to_owner?"
           FROM transfers t
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           WHERE t.id = $1"#,
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await
    .map_err(map_error)?
    .map(|row| row.into_record().map_err(internal))
    .transpose()
}

pub(crate) async fn list_transfers(
    pool: &PgPool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<TransferId>,
) -> Result<Page<TransferRecord>, StoreError> {
    if !metadata.is_empty() {
        return list_transfers_by_metadata(pool, filter, metadata, limit, starting_after).await;
    }
    let rows = sqlx::query_as!(
        TransferRow,
        r#"SELECT t.id, t.kind, t.from_account_id, t.to_account_id, t.amount, t.currency,
                  t.description, t.metadata::text AS "metadata!", t.hold_id, t.transaction_id,
                  t.posting_index::bigint AS posting_index, t.created_at,
                  source.owner_id AS "from_owner?", target.owner_id AS "to_owner?"
           FROM transfers t
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           WHERE ($1::uuid IS NULL OR t.from_account_id = $1 OR t.to_account_id = $1)
             AND ($2::uuid IS NULL OR source.owner_id = $2 OR target.owner_id = $2)
             AND ($3::uuid IS NULL OR t.id < $3)
           ORDER BY t.id DESC LIMIT $4"#,
        filter.account_id.map(|id| id.as_uuid()),
        filter.party.map(|id| id.as_uuid()),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    transfer_page(rows, limit)
}

fn transfer_page(
    rows: Vec<TransferRow>,
    limit: PageLimit,
) -> Result<Page<TransferRecord>, StoreError> {
    let transfers = rows
        .into_iter()
        .map(|row| row.into_record().map_err(internal))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_fetched(transfers, limit))
}

/// [`list_transfers`] with a metadata filter: the matching transfers come from the GIN index
/// alone, materialized first, as for accounts (see `list_accounts_by_metadata`).
async fn list_transfers_by_metadata(
    pool: &PgPool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<TransferId>,
) -> Result<Page<TransferRecord>, StoreError> {
    let rows = sqlx::query_as!(
        TransferRow,
        r#"WITH matching AS MATERIALIZED (
               SELECT * FROM transfers WHERE metadata @> $5::text::jsonb AND metadata <> '{}')
           SELECT t.id AS "id!", t.kind AS "kind!", t.from_account_id AS "from_account_id!",
                  t.to_account_id AS "to_account_id!", t.amount AS "amount!",
                  t.currency AS "currency!", t.description, t.metadata::text AS "metadata!",
                  t.hold_id, t.transaction_id, t.posting_index::bigint AS posting_index,
                  t.created_at AS "created_at!",
                  source.owner_id AS "from_owner?", target.owner_id AS "to_owner?"
           FROM matching t
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           WHERE ($1::uuid IS NULL OR t.from_account_id = $1 OR t.to_account_id = $1)
             AND ($2::uuid IS NULL OR source.owner_id = $2 OR target.owner_id = $2)
             AND ($3::uuid IS NULL OR t.id < $3)
           ORDER BY t.id DESC LIMIT $4"#,
        filter.account_id.map(|id| id.as_uuid()),
        filter.party.map(|id| id.as_uuid()),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
        metadata.to_json().to_string(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    transfer_page(rows, limit)
}

pub(crate) async fn list_entries(
    pool: &PgPool,
    account: AccountId,
    limit: PageLimit,
    starting_after: Option<EntryId>,
) -> Result<Page<Entry>, StoreError> {
    let rows = sqlx::query_as!(
        EntryRow,
        "SELECT line.id, line.transfer_id, line.account_id, line.amount, line.balance_after, \
                account.currency, line.created_at \
         FROM ledger_lines line JOIN accounts account ON account.id = line.account_id \
         WHERE line.account_id = $1 AND ($2::uuid IS NULL OR line.id < $2) \
         ORDER BY line.id DESC LIMIT $3",
        account.as_uuid(),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    EntryRow::into_page(rows, limit).map_err(internal)
}

pub(crate) async fn find_payment(
    pool: impl PgExecutor<'_>,
    id: PaymentId,
) -> Result<Option<PaymentRecord>, StoreError> {
    sqlx::query_as!(
        PaymentRow,
        r#"SELECT p.id, p.payer_account_id, p.payee_account_id, p.amount, p.currency, p.state,
                  p.authorized_amount, p.captured_amount, p.refunded_amount,
                  p.authorization_code, p.failure_reason, p.expires_at,
                  p.metadata::text AS "metadata!", p.created_at,
                  p.updated_at, payer.owner_id AS "payer_owner?", payee.owner_id AS "payee_owner?"
           FROM payments p
           JOIN accounts payer ON payer.id = p.payer_account_id
           JOIN accounts payee ON payee.id = p.payee_account_id
           WHERE p.id = $1"#,
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await
    .map_err(map_error)?
    .map(|row| row.into_record().map_err(internal))
    .transpose()
}

pub(crate) async fn list_payments(
    pool: &PgPool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<PaymentId>,
) -> Result<Page<PaymentRecord>, StoreError> {
    if !metadata.is_empty() {
        return list_payments_by_metadata(pool, filter, metadata, limit, starting_after).await;
    }
    let rows = sqlx::query_as!(
        PaymentRow,
        r#"SELECT p.id, p.payer_account_id, p.payee_account_id, p.amount, p.currency, p.state,
                  p.authorized_amount, p.captured_amount, p.refunded_amount,
                  p.authorization_code, p.failure_reason, p.expires_at,
                  p.metadata::text AS "metadata!", p.created_at,
                  p.updated_at, payer.owner_id AS "payer_owner?", payee.owner_id AS "payee_owner?"
           FROM payments p
           JOIN accounts payer ON payer.id = p.payer_account_id
           JOIN accounts payee ON payee.id = p.payee_account_id
           WHERE ($1::uuid IS NULL OR p.payer_account_id = $1 OR p.payee_account_id = $1)
             AND ($2::uuid IS NULL OR payer.owner_id = $2 OR payee.owner_id = $2)
             AND ($3::uuid IS NULL OR p.id < $3)
           ORDER BY p.id DESC LIMIT $4"#,
        filter.account_id.map(|id| id.as_uuid()),
        filter.party.map(|id| id.as_uuid()),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    payment_page(rows, limit)
}

fn payment_page(
    rows: Vec<PaymentRow>,
    limit: PageLimit,
) -> Result<Page<PaymentRecord>, StoreError> {
    let payments = rows
        .into_iter()
        .map(|row| row.into_record().map_err(internal))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_fetched(payments, limit))
}

/// [`list_payments`] with a metadata filter, through the GIN index (see
/// `list_accounts_by_metadata`).
async fn list_payments_by_metadata(
    pool: &PgPool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<PaymentId>,
) -> Result<Page<PaymentRecord>, StoreError> {
    let rows = sqlx::query_as!(
        PaymentRow,
        r#"WITH matching AS MATERIALIZED (
               SELECT * FROM payments WHERE metadata @> $5::text::jsonb AND metadata <> '{}')
           SELECT p.id AS "id!", p.payer_account_id AS "payer_account_id!",
                  p.payee_account_id AS "payee_account_id!", p.amount AS "amount!",
                  p.currency AS "currency!", p.state AS "state!",
                  p.authorized_amount AS "authorized_amount!",
                  p.captured_amount AS "captured_amount!",
                  p.refunded_amount AS "refunded_amount!",
                  p.authorization_code, p.failure_reason, p.expires_at,
                  p.metadata::text AS "metadata!", p.created_at AS "created_at!",
                  p.updated_at AS "updated_at!",
                  payer.owner_id AS "payer_owner?", payee.owner_id AS "payee_owner?"
           FROM matching p
           JOIN accounts payer ON payer.id = p.payer_account_id
           JOIN accounts payee ON payee.id = p.payee_account_id
           WHERE ($1::uuid IS NULL OR p.payer_account_id = $1 OR p.payee_account_id = $1)
             AND ($2::uuid IS NULL OR payer.owner_id = $2 OR payee.owner_id = $2)
             AND ($3::uuid IS NULL OR p.id < $3)
           ORDER BY p.id DESC LIMIT $4"#,
        filter.account_id.map(|id| id.as_uuid()),
        filter.party.map(|id| id.as_uuid()),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
        metadata.to_json().to_string(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    payment_page(rows, limit)
}

/// Reads every account with its lines summed in one REPEATABLE READ snapshot, so transfers
/// committing meanwhile cannot make a sound ledger look broken. The rows are streamed into the
/// check, one at a time: memory does not grow with the ledger.
pub(crate) async fn verify(pool: &PgPool) -> Result<LedgerReport, StoreError> {
    let mut transaction = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(map_error)?;
    // The one statement reads the whole ledger: more than the session's `statement_timeout`
    // allows a request, but still bounded.
    sqlx::raw_sql(VERIFY_STATEMENT_TIMEOUT)
        .execute(&mut *transaction)
        .await
        .map_err(map_error)?;
    let mut check = LedgerCheck::default();
    let mut rows = sqlx::query_as!(
        AccountCheckRow,
        r#"SELECT account.id, account.owner_id, account.currency, account.balance, account.held,
                  account.overdraft_limit, account.max_balance,
                  COALESCE(lines.sum, 0)::bigint AS "lines_sum!",
                  COALESCE((SELECT SUM(h.amount - h.posted_amount) FROM holds h
                            WHERE h.from_account_id = account.id
                              AND h.state = 'held'), 0)::bigint AS "holds_sum!"
           FROM accounts account
           LEFT JOIN (SELECT account_id, SUM(amount) AS sum FROM ledger_lines
                      GROUP BY account_id) lines ON lines.account_id = account.id
           ORDER BY account.id"#,
    )
    .fetch(&mut *transaction);
    while let Some(row) = rows.try_next().await.map_err(map_error)? {
        check.add(row.into_check().map_err(internal)?);
    }
    drop(rows);
    transaction.commit().await.map_err(map_error)?;
    Ok(check.report())
}

/// How long the ledger check's one statement may run.
const VERIFY_STATEMENT_TIMEOUT: &str = "SET LOCAL statement_timeout = '300s'";
