//! The money path in SQLite: one `BEGIN IMMEDIATE` transaction per batch. It holds the
//! database's only write lock from its first statement, so every account it reads is as good
//! as locked, and batches run one after another.

use std::collections::HashMap;
use std::sync::Arc;

use coffre_domain::audit::NewAuditEvent;
use coffre_domain::hold::Hold;
use coffre_domain::ids::{AccountId, EntryId, HoldId, PaymentId, SessionId, TransferId, UserId};
use coffre_domain::ledger::{
    Account, Effects, Entry, Ledger, LedgerCheck, LedgerReport, Transaction, Transfer,
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
    PaymentRecord, PaymentRow, SessionAuth, StoreError, TransferRecord, TransferRow,
    system_account,
};
use futures_util::TryStreamExt;
use serde_json::json;
use sqlx::{Connection, SqliteConnection, SqliteExecutor, SqlitePool};

use crate::audit::append_audit;
use crate::error::{internal, map_error};
use crate::events;
use crate::holds;
use crate::json_rows;
use crate::sessions;
use crate::transaction::BEGIN_IMMEDIATE;
use coffre_store_sqlx::{self as lease, End};

type DateTime = chrono::DateTime<chrono::Utc>;

/// One run of a whole batch, on one connection within its deadline (see [`lease`]). Under the
/// write lock every key's record is read before its insert, so a run always commits.
pub(crate) async fn run_part(
    pool: &SqlitePool,
    batch: Arc<Vec<LedgerRequest>>,
    renderer: &dyn EventRenderer,
) -> Result<Vec<Executed>, StoreError> {
    let plan = LockPlan::of(batch.iter());
    lease::run(
        pool,
        map_error,
        async |connection: &mut SqliteConnection| {
            let mut transaction = connection
                .begin_with(BEGIN_IMMEDIATE)
                .await
                .map_err(map_error)?;
            let run = run_batch(
                &mut Statements(&mut transaction),
                &batch,
                &plan,
                KeyReads::Read,
                renderer,
            )
            .await
            .and_then(|run| match run {
                BatchRun::Commit(executed) => Ok((executed, End::Commit)),
                BatchRun::KeyExists => Err(StoreError::Internal(
                    "a key record appeared under the write lock".into(),
                )),
            });
            lease::end(transaction, map_error, run).await
        },
    )
    .await
}

/// The money path's statements on SQLite, inside the batch's `BEGIN IMMEDIATE` transaction:
/// the write lock is held from the first statement, so every row read is as good as locked, and
/// each read is a primary-key probe.
struct Statements<'c>(&'c mut SqliteConnection);

impl LedgerBackend for Statements<'_> {
    async fn read_sessions(
        &mut self,
        ids: &[SessionId],
    ) -> Result<HashMap<SessionId, SessionAuth>, StoreError> {
        sessions::read_auths(self.0, ids).await
    }

    async fn read_keys(
        &mut self,
        keys: &[(UserId, &IdempotencyKey)],
    ) -> Result<HashMap<(UserId, IdempotencyKey), ExistingKey>, StoreError> {
        read_keys(self.0, keys).await
    }

    async fn lock_payments(&mut self, ids: &[PaymentId]) -> Result<Vec<AnyPayment>, StoreError> {
        let mut payments = Vec::with_capacity(ids.len());
        for id in ids {
            payments.extend(load_payment(self.0, *id).await?);
        }
        Ok(payments)
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
        let mut accounts = load_accounts(self.0, ids).await?;
        for currency in system_currencies {
            accounts.push(system_account_of(self.0, *currency).await?);
        }
        Ok(accounts)
    }

    async fn write_batch(
        &mut self,
        ledger: &Ledger,
        effects: &Effects,
        events: &[EventRecord],
        keys: &[NewKey],
    ) -> Result<bool, StoreError> {
        write_effects(self.0, ledger, effects).await?;
        if !events.is_empty() {
            events::insert(self.0, events).await?;
        }
        if !keys.is_empty() {
            insert_keys(self.0, keys).await?;
        }
        Ok(true)
    }

    async fn append_audit(&mut self, events: Vec<NewAuditEvent>) -> Result<(), StoreError> {
        append_audit(self.0, events).await.map(drop)
    }
}

/// One statement for the batch's keys (see [`json_rows`]).
async fn read_keys(
    connection: &mut SqliteConnection,
    keys: &[(UserId, &IdempotencyKey)],
) -> Result<HashMap<(UserId, IdempotencyKey), ExistingKey>, StoreError> {
    let wanted = json_rows::array(keys.iter().map(
        |(user, key)| json!({ "user_id": json_rows::id(user.as_uuid()), "key": key.as_str() }),
    ));
    let rows = sqlx::query!(
        r#"SELECT record.user_id AS "user_id!: uuid::Uuid", record.key AS "key!",
                  record.fingerprint AS "fingerprint!",
                  record.response_status AS "response_status!",
                  record.response_body AS "response_body!"
           FROM jsonb_each(?1) AS wanted
           CROSS JOIN idempotency_keys AS record
               ON record.user_id = unhex(wanted.value ->> '$.user_id')
              AND record.key = wanted.value ->> '$.key'"#,
        wanted,
    )
    .fetch_all(connection)
    .await
    .map_err(map_error)?;
    rows.into_iter()
        .map(|row| {
            ExistingKey::entry(
                row.user_id,
                &row.key,
                &row.fingerprint,
                row.response_status,
                row.response_body,
            )
            .map_err(internal)
        })
        .collect()
}

/// One statement for the batch's accounts (see [`json_rows`]).
async fn load_accounts(
    connection: &mut SqliteConnection,
    ids: &[AccountId],
) -> Result<Vec<Account>, StoreError> {
    let wanted = json_rows::array(ids.iter().map(|id| json_rows::id(id.as_uuid())));
    let rows = sqlx::query_as!(
        AccountRow,
        r#"SELECT account.id AS "id!: uuid::Uuid", account.owner_id AS "owner_id: uuid::Uuid",
                  account.currency AS "currency!", account.name, account.balance AS "balance!",
                  account.held AS "held!", account.status AS "status!",
                  account.overdraft_limit AS "overdraft_limit!", account.max_balance,
                  account.metadata AS "metadata!",
                  account.created_at AS "created_at!: DateTime",
                  account.updated_at AS "updated_at!: DateTime"
           FROM json_each(?1) AS wanted
           CROSS JOIN accounts AS account ON account.id = unhex(wanted.value)"#,
        wanted,
    )
    .fetch_all(connection)
    .await
    .map_err(map_error)?;
    rows.into_iter()
        .map(|row| row.into_account().map_err(internal))
        .collect()
}

async fn load_account(
    connection: &mut SqliteConnection,
    id: AccountId,
) -> Result<Option<Account>, StoreError> {
    let id = id.as_uuid();
    sqlx::query_as!(
        AccountRow,
        r#"SELECT id AS "id!: uuid::Uuid", owner_id AS "owner_id: uuid::Uuid",
                  currency AS "currency!", name, balance AS "balance!", held AS "held!",
                  status AS "status!", overdraft_limit AS "overdraft_limit!",
                  max_balance, metadata AS "metadata!", created_at AS "created_at!: DateTime",
                  updated_at AS "updated_at!: DateTime"
           FROM accounts WHERE id = ?1"#,
        id,
    )
    .fetch_optional(connection)
    .await
    .map_err(map_error)?
    .map(|row| row.into_account().map_err(internal))
    .transpose()
}

/// The system account of `currency`, created on first use.
async fn system_account_of(
    connection: &mut SqliteConnection,
    currency: Currency,
) -> Result<Account, StoreError> {
    let code = currency.code();
    let row = sqlx::query_as!(
        AccountRow,
        r#"SELECT id AS "id!: uuid::Uuid", owner_id AS "owner_id: uuid::Uuid",
                  currency AS "currency!", name, balance AS "balance!", held AS "held!",
                  status AS "status!", overdraft_limit AS "overdraft_limit!",
                  max_balance, metadata AS "metadata!", created_at AS "created_at!: DateTime",
                  updated_at AS "updated_at!: DateTime"
           FROM accounts WHERE owner_id IS NULL AND currency = ?1"#,
        code,
    )
    .fetch_optional(&mut *connection)
    .await
    .map_err(map_error)?;
    match row {
        Some(row) => row.into_account().map_err(internal),
        None => {
            let account = system_account(currency, Timestamp::now());
            insert_account(connection, &account).await?;
            Ok(account)
        }
    }
}

async fn insert_account(
    connection: &mut SqliteConnection,
    account: &Account,
) -> Result<(), StoreError> {
    let c = AccountColumns::of(account);
    sqlx::query!(
        "INSERT INTO accounts (id, owner_id, currency, name, balance, held, status, \
         overdraft_limit, max_balance, metadata, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        c.id,
        c.owner_id,
        c.currency,
        c.name,
        c.balance,
        c.held,
        c.status,
        c.overdraft_limit,
        c.max_balance,
        c.metadata,
        c.created_at,
        c.updated_at,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

async fn write_effects(
    connection: &mut SqliteConnection,
    ledger: &Ledger,
    effects: &Effects,
) -> Result<(), StoreError> {
    for account in effects.opened.iter().filter_map(|id| ledger.account(*id)) {
        insert_account(connection, account).await?;
    }
    if !effects.changed.is_empty() {
        update_accounts(
            connection,
            effects.changed.iter().filter_map(|id| ledger.account(*id)),
        )
        .await?;
    }
    for payment in effects
        .payments_opened
        .iter()
        .filter_map(|id| ledger.payment(*id))
    {
        let p = PaymentColumns::of(payment);
        sqlx::query!(
            "INSERT INTO payments (id, payer_account_id, payee_account_id, amount, currency, \
             state, authorized_amount, captured_amount, refunded_amount, authorization_code, \
             failure_reason, expires_at, created_at, updated_at, metadata) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            p.id,
            p.payer_account_id,
            p.payee_account_id,
            p.amount,
            p.currency,
            p.state,
            p.authorized_amount,
            p.captured_amount,
            p.refunded_amount,
            p.authorization_code,
            p.failure_reason,
            p.expires_at,
            p.created_at,
            p.updated_at,
            p.metadata,
        )
        .execute(&mut *connection)
        .await
        .map_err(map_error)?;
    }
    for payment in effects
        .payments_changed
        .iter()
        .filter_map(|id| ledger.payment(*id))
    {
        let p = PaymentColumns::of(payment);
        sqlx::query!(
            "UPDATE payments SET state = ?2, authorized_amount = ?3, captured_amount = ?4, \
             refunded_amount = ?5, authorization_code = ?6, failure_reason = ?7, \
             expires_at = ?8, updated_at = ?9 WHERE id = ?1",
            p.id,
            p.state,
            p.authorized_amount,
            p.captured_amount,
            p.refunded_amount,
            p.authorization_code,
            p.failure_reason,
            p.expires_at,
            p.updated_at,
        )
        .execute(&mut *connection)
        .await
        .map_err(map_error)?;
    }
    // After the payments, which holds name, and before the transfers, which name their holds.
    holds::write_holds(connection, ledger, effects).await?;
    for transaction in &effects.transactions {
        insert_transaction(connection, transaction).await?;
    }
    insert_transfers(connection, &effects.transfers).await?;
    insert_entries(connection, &effects.entries).await
}

async fn load_payment(
    connection: &mut SqliteConnection,
    id: PaymentId,
) -> Result<Option<AnyPayment>, StoreError> {
    Ok(find_payment_on(connection, id)
        .await?
        .map(|record| record.payment))
}

pub(crate) async fn find_payment_on(
    connection: &mut SqliteConnection,
    id: PaymentId,
) -> Result<Option<PaymentRecord>, StoreError> {
    let id = id.as_uuid();
    sqlx::query_as!(
        PaymentRow,
        r#"SELECT p.id AS "id!: uuid::Uuid",
                  p.payer_account_id AS "payer_account_id!: uuid::Uuid",
                  p.payee_account_id AS "payee_account_id!: uuid::Uuid",
                  p.amount AS "amount!", p.currency AS "currency!", p.state AS "state!",
                  p.authorized_amount AS "authorized_amount!",
                  p.captured_amount AS "captured_amount!",
                  p.refunded_amount AS "refunded_amount!",
                  p.authorization_code, p.failure_reason,
                  p.expires_at AS "expires_at: DateTime", p.metadata AS "metadata!",
                  p.created_at AS "created_at!: DateTime",
                  p.updated_at AS "updated_at!: DateTime",
                  payer.owner_id AS "payer_owner: uuid::Uuid",
                  payee.owner_id AS "payee_owner: uuid::Uuid"
           FROM payments p
           JOIN accounts payer ON payer.id = p.payer_account_id
           JOIN accounts payee ON payee.id = p.payee_account_id
           WHERE p.id = ?1"#,
        id,
    )
    .fetch_optional(connection)
    .await
    .map_err(map_error)?
    .map(|row| row.into_record().map_err(internal))
    .transpose()
}

pub(crate) async fn find_payment(
    pool: &SqlitePool,
    id: PaymentId,
) -> Result<Option<PaymentRecord>, StoreError> {
    let mut connection = pool.acquire().await.map_err(map_error)?;
    find_payment_on(&mut connection, id).await
}

pub(crate) async fn list_payments(
    pool: &SqlitePool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<PaymentId>,
) -> Result<Page<PaymentRecord>, StoreError> {
    if !metadata.is_empty() {
        return list_payments_by_metadata(pool, filter, metadata, limit, starting_after).await;
    }
    let account = filter.account_id.map(|id| id.as_uuid());
    let party = filter.party.map(|id| id.as_uuid());
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let rows = sqlx::query_as!(
        PaymentRow,
        r#"SELECT p.id AS "id!: uuid::Uuid",
                  p.payer_account_id AS "payer_account_id!: uuid::Uuid",
                  p.payee_account_id AS "payee_account_id!: uuid::Uuid",
                  p.amount AS "amount!", p.currency AS "currency!", p.state AS "state!",
                  p.authorized_amount AS "authorized_amount!",
                  p.captured_amount AS "captured_amount!",
                  p.refunded_amount AS "refunded_amount!",
                  p.authorization_code, p.failure_reason,
                  p.expires_at AS "expires_at: DateTime", p.metadata AS "metadata!",
                  p.created_at AS "created_at!: DateTime",
                  p.updated_at AS "updated_at!: DateTime",
                  payer.owner_id AS "payer_owner: uuid::Uuid",
                  payee.owner_id AS "payee_owner: uuid::Uuid"
           FROM payments p
           JOIN accounts payer ON payer.id = p.payer_account_id
           JOIN accounts payee ON payee.id = p.payee_account_id
           WHERE (?1 IS NULL OR p.payer_account_id = ?1 OR p.payee_account_id = ?1)
             AND (?2 IS NULL OR payer.owner_id = ?2 OR payee.owner_id = ?2)
             AND (?3 IS NULL OR p.id < ?3)
           ORDER BY p.id DESC LIMIT ?4"#,
        account,
        party,
        after,
        fetch,
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

/// [`list_payments`] with a metadata filter: the payments holding every pair, each pair one lookup
/// in `metadata_pairs`' primary key (see `list_accounts_by_metadata`); no scan of the table.
async fn list_payments_by_metadata(
    pool: &SqlitePool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<PaymentId>,
) -> Result<Page<PaymentRecord>, StoreError> {
    let account = filter.account_id.map(|id| id.as_uuid());
    let party = filter.party.map(|id| id.as_uuid());
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let wanted = metadata.to_json().to_string();
    let rows = sqlx::query_as!(
        PaymentRow,
        r#"SELECT p.id AS "id!: uuid::Uuid",
                  p.payer_account_id AS "payer_account_id!: uuid::Uuid",
                  p.payee_account_id AS "payee_account_id!: uuid::Uuid",
                  p.amount AS "amount!", p.currency AS "currency!", p.state AS "state!",
                  p.authorized_amount AS "authorized_amount!",
                  p.captured_amount AS "captured_amount!",
                  p.refunded_amount AS "refunded_amount!",
                  p.authorization_code, p.failure_reason,
                  p.expires_at AS "expires_at: DateTime", p.metadata AS "metadata!",
                  p.created_at AS "created_at!: DateTime",
                  p.updated_at AS "updated_at!: DateTime",
                  payer.owner_id AS "payer_owner: uuid::Uuid",
                  payee.owner_id AS "payee_owner: uuid::Uuid"
           FROM payments p
           JOIN accounts payer ON payer.id = p.payer_account_id
           JOIN accounts payee ON payee.id = p.payee_account_id
           WHERE p.id IN (SELECT pair.id
                        FROM json_each(?5) AS wanted
                        CROSS JOIN metadata_pairs pair
                          ON pair.resource = 'payment' AND pair.key = wanted.key
                             AND pair.value = wanted.value
                        GROUP BY pair.id
                        HAVING count(*) = (SELECT count(*) FROM json_each(?5)))
             AND (?1 IS NULL OR p.payer_account_id = ?1 OR p.payee_account_id = ?1)
             AND (?2 IS NULL OR payer.owner_id = ?2 OR payee.owner_id = ?2)
             AND (?3 IS NULL OR p.id < ?3)
           ORDER BY p.id DESC LIMIT ?4"#,
        account,
        party,
        after,
        fetch,
        wanted,
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    payment_page(rows, limit)
}

/// The balances and limits the batch changed, one statement (see [`json_rows`]).
async fn update_accounts(
    connection: &mut SqliteConnection,
    accounts: impl Iterator<Item = &Account>,
) -> Result<(), StoreError> {
    let rows = json_rows::array(accounts.map(|account| {
        let c = AccountColumns::of(account);
        json!({
            "id": json_rows::id(c.id),
            "balance": c.balance,
            "held": c.held,
            "status": c.status,
            "overdraft_limit": c.overdraft_limit,
            "max_balance": c.max_balance,
            "metadata": c.metadata,
            "updated_at": json_rows::timestamp(account.updated_at),
        })
    }));
    sqlx::query!(
        "UPDATE accounts SET balance = new.balance, held = new.held, status = new.status, \
                overdraft_limit = new.overdraft_limit, max_balance = new.max_balance, \
                metadata = new.metadata, updated_at = new.updated_at \
         FROM (SELECT unhex(value ->> '$.id') AS id, value ->> '$.balance' AS balance, \
                      value ->> '$.held' AS held, value ->> '$.status' AS status, \
                      value ->> '$.overdraft_limit' AS overdraft_limit, \
                      value ->> '$.max_balance' AS max_balance, \
                      value ->> '$.metadata' AS metadata, value ->> '$.updated_at' AS updated_at \
               FROM jsonb_each(?1)) AS new \
         WHERE accounts.id = new.id",
        rows,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

async fn insert_transfers(
    connection: &mut SqliteConnection,
    transfers: &[Transfer],
) -> Result<(), StoreError> {
    if transfers.is_empty() {
        return Ok(());
    }
    let rows = json_rows::array(transfers.iter().map(|transfer| {
        json!({
            "id": json_rows::id(transfer.id.as_uuid()),
            "kind": transfer.kind.as_str(),
            "from_account_id": json_rows::id(transfer.from_account_id.as_uuid()),
            "to_account_id": json_rows::id(transfer.to_account_id.as_uuid()),
            "amount": transfer.amount.minor(),
            "currency": transfer.currency.code(),
            "description": transfer.description.as_ref().map(|d| d.as_str()),
            "hold_id": json_rows::optional_id(transfer.hold_id.map(|id| id.as_uuid())),
            "transaction_id": json_rows::optional_id(
                transfer.transaction.map(|link| link.id.as_uuid()),
            ),
            "posting_index": transfer.transaction.map(|link| link.posting_index),
            "created_at": json_rows::timestamp(transfer.created_at),
            "metadata": transfer.metadata.to_json().to_string(),
        })
    }));
    sqlx::query!(
        "INSERT INTO transfers (id, kind, from_account_id, to_account_id, amount, currency, \
         description, hold_id, transaction_id, posting_index, created_at, metadata) \
         SELECT unhex(value ->> '$.id'), value ->> '$.kind', \
                unhex(value ->> '$.from_account_id'), unhex(value ->> '$.to_account_id'), \
                value ->> '$.amount', value ->> '$.currency', value ->> '$.description', \
                unhex(value ->> '$.hold_id'), unhex(value ->> '$.transaction_id'), \
                value ->> '$.posting_index', value ->> '$.created_at', value ->> '$.metadata' \
         FROM jsonb_each(?1)",
        rows,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

/// Before its postings, which reference it.
async fn insert_transaction(
    connection: &mut SqliteConnection,
    transaction: &Transaction,
) -> Result<(), StoreError> {
    let id = transaction.id.as_uuid();
    let description = transaction.description.as_ref().map(|d| d.as_str());
    let metadata = transaction.metadata.to_json().to_string();
    let created_at = transaction.created_at.as_datetime();
    sqlx::query!(
        "INSERT INTO transactions (id, description, metadata, created_at) \
         VALUES (?1, ?2, ?3, ?4)",
        id,
        description,
        metadata,
        created_at,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

async fn insert_entries(
    connection: &mut SqliteConnection,
    entries: &[Entry],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows = json_rows::array(entries.iter().map(|entry| {
        json!({
            "id": json_rows::id(entry.id.as_uuid()),
            "transfer_id": json_rows::id(entry.transfer_id.as_uuid()),
            "account_id": json_rows::id(entry.account_id.as_uuid()),
            "amount": entry.amount.minor(),
            "balance_after": entry.balance_after.minor(),
            "created_at": json_rows::timestamp(entry.created_at),
        })
    }));
    sqlx::query!(
        "INSERT INTO ledger_lines (id, transfer_id, account_id, amount, balance_after, \
         created_at) \
         SELECT unhex(value ->> '$.id'), unhex(value ->> '$.transfer_id'), \
                unhex(value ->> '$.account_id'), value ->> '$.amount', \
                value ->> '$.balance_after', value ->> '$.created_at' \
         FROM jsonb_each(?1)",
        rows,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

async fn insert_keys(
    connection: &mut SqliteConnection,
    records: &[NewKey],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let now = Timestamp::now().as_datetime();
    let rows = json_rows::array(records.iter().map(|record| {
        json!({
            "user_id": json_rows::id(record.user_id.as_uuid()),
            "key": record.key.as_str(),
            "fingerprint": json_rows::blob(&record.fingerprint.0),
            "response_status": record.response.status,
            "response_body": json_rows::blob(&record.response.body),
        })
    }));
    sqlx::query!(
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, created_at, response_status, \
         response_body) \
         SELECT unhex(value ->> '$.user_id'), value ->> '$.key', \
                unhex(value ->> '$.fingerprint'), ?2, value ->> '$.response_status', \
                unhex(value ->> '$.response_body') \
         FROM jsonb_each(?1)",
        rows,
        now,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

pub(crate) async fn find_account(
    pool: &SqlitePool,
    id: AccountId,
) -> Result<Option<Account>, StoreError> {
    let mut connection = pool.acquire().await.map_err(map_error)?;
    load_account(&mut connection, id).await
}

pub(crate) async fn list_accounts(
    pool: &SqlitePool,
    owner: Option<UserId>,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<AccountId>,
) -> Result<Page<Account>, StoreError> {
    if !metadata.is_empty() {
        return list_accounts_by_metadata(pool, owner, metadata, limit, starting_after).await;
    }
    let owner = owner.map(|id| id.as_uuid());
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let rows = sqlx::query_as!(
        AccountRow,
        r#"SELECT id AS "id!: uuid::Uuid", owner_id AS "owner_id: uuid::Uuid",
                  currency AS "currency!", name, balance AS "balance!", held AS "held!",
                  status AS "status!", overdraft_limit AS "overdraft_limit!",
                  max_balance, metadata AS "metadata!", created_at AS "created_at!: DateTime",
                  updated_at AS "updated_at!: DateTime"
           FROM accounts
           WHERE (?1 IS NULL OR owner_id = ?1) AND (?2 IS NULL OR id < ?2)
           ORDER BY id DESC LIMIT ?3"#,
        owner,
        after,
        fetch,
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

/// [`list_accounts`] with a metadata filter: the accounts holding every pair, each pair one
/// lookup in `account_metadata`'s primary key, then each account by its own; no scan of the
/// accounts. `CROSS JOIN` keeps the wanted pairs the outer loop: with statistics, SQLite would
/// otherwise walk every pair in account order to save the grouping's sort.
async fn list_accounts_by_metadata(
    pool: &SqlitePool,
    owner: Option<UserId>,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<AccountId>,
) -> Result<Page<Account>, StoreError> {
    let owner = owner.map(|id| id.as_uuid());
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let filter = metadata.to_json().to_string();
    let rows = sqlx::query_as!(
        AccountRow,
        r#"SELECT id AS "id!: uuid::Uuid", owner_id AS "owner_id: uuid::Uuid",
                  currency AS "currency!", name, balance AS "balance!", held AS "held!",
                  status AS "status!", overdraft_limit AS "overdraft_limit!",
                  max_balance, metadata AS "metadata!", created_at AS "created_at!: DateTime",
                  updated_at AS "updated_at!: DateTime"
           FROM accounts
           WHERE id IN (SELECT pair.account_id
                        FROM json_each(?4) AS wanted
                        CROSS JOIN account_metadata pair
                          ON pair.key = wanted.key AND pair.value = wanted.value
                        GROUP BY pair.account_id
                        HAVING count(*) = (SELECT count(*) FROM json_each(?4)))
             AND (?1 IS NULL OR owner_id = ?1) AND (?2 IS NULL OR id < ?2)
           ORDER BY id DESC LIMIT ?3"#,
        owner,
        after,
        fetch,
        filter,
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
    pool: impl SqliteExecutor<'_>,
    id: TransferId,
) -> Result<Option<TransferRecord>, StoreError> {
    let id = id.as_uuid();
    sqlx::query_as!(
        TransferRow,
        r#"SELECT t.id AS "id!: uuid::Uuid", t.kind AS "kind!",
                  t.from_account_id AS "from_account_id!: uuid::Uuid",
                  t.to_account_id AS "to_account_id!: uuid::Uuid", t.amount AS "amount!",
                  t.currency AS "currency!", t.description, t.metadata AS "metadata!",
                  t.hold_id AS "hold_id: uuid::Uuid",
                  t.transaction_id AS "transaction_id: uuid::Uuid", t.posting_index,
                  t.created_at AS "created_at!: DateTime",
                  source.owner_id AS "from_owner: uuid::Uuid",
                  target.owner_id AS "to_owner: uuid::Uuid"
           FROM transfers t
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           WHERE t.id = ?1"#,
        id,
    )
    .fetch_optional(pool)
    .await
    .map_err(map_error)?
    .map(|row| row.into_record().map_err(internal))
    .transpose()
}

pub(crate) async fn list_transfers(
    pool: &SqlitePool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<TransferId>,
) -> Result<Page<TransferRecord>, StoreError> {
    if !metadata.is_empty() {
        return list_transfers_by_metadata(pool, filter, metadata, limit, starting_after).await;
    }
    let account = filter.account_id.map(|id| id.as_uuid());
    let party = filter.party.map(|id| id.as_uuid());
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let rows = sqlx::query_as!(
        TransferRow,
        r#"SELECT t.id AS "id!: uuid::Uuid", t.kind AS "kind!",
                  t.from_account_id AS "from_account_id!: uuid::Uuid",
                  t.to_account_id AS "to_account_id!: uuid::Uuid", t.amount AS "amount!",
                  t.currency AS "currency!", t.description, t.metadata AS "metadata!",
                  t.hold_id AS "hold_id: uuid::Uuid",
                  t.transaction_id AS "transaction_id: uuid::Uuid", t.posting_index,
                  t.created_at AS "created_at!: DateTime",
                  source.owner_id AS "from_owner: uuid::Uuid",
                  target.owner_id AS "to_owner: uuid::Uuid"
           FROM transfers t
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           WHERE (?1 IS NULL OR t.from_account_id = ?1 OR t.to_account_id = ?1)
             AND (?2 IS NULL OR source.owner_id = ?2 OR target.owner_id = ?2)
             AND (?3 IS NULL OR t.id < ?3)
           ORDER BY t.id DESC LIMIT ?4"#,
        account,
        party,
        after,
        fetch,
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

/// [`list_transfers`] with a metadata filter: the transfers holding every pair, each pair one lookup
/// in `metadata_pairs`' primary key (see `list_accounts_by_metadata`); no scan of the table.
async fn list_transfers_by_metadata(
    pool: &SqlitePool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<TransferId>,
) -> Result<Page<TransferRecord>, StoreError> {
    let account = filter.account_id.map(|id| id.as_uuid());
    let party = filter.party.map(|id| id.as_uuid());
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let wanted = metadata.to_json().to_string();
    let rows = sqlx::query_as!(
        TransferRow,
        r#"SELECT t.id AS "id!: uuid::Uuid", t.kind AS "kind!",
                  t.from_account_id AS "from_account_id!: uuid::Uuid",
                  t.to_account_id AS "to_account_id!: uuid::Uuid", t.amount AS "amount!",
                  t.currency AS "currency!", t.description, t.metadata AS "metadata!",
                  t.hold_id AS "hold_id: uuid::Uuid",
                  t.transaction_id AS "transaction_id: uuid::Uuid", t.posting_index,
                  t.created_at AS "created_at!: DateTime",
                  source.owner_id AS "from_owner: uuid::Uuid",
                  target.owner_id AS "to_owner: uuid::Uuid"
           FROM transfers t
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           WHERE t.id IN (SELECT pair.id
                        FROM json_each(?5) AS wanted
                        CROSS JOIN metadata_pairs pair
                          ON pair.resource = 'transfer' AND pair.key = wanted.key
                             AND pair.value = wanted.value
                        GROUP BY pair.id
                        HAVING count(*) = (SELECT count(*) FROM json_each(?5)))
             AND (?1 IS NULL OR t.from_account_id = ?1 OR t.to_account_id = ?1)
             AND (?2 IS NULL OR source.owner_id = ?2 OR target.owner_id = ?2)
             AND (?3 IS NULL OR t.id < ?3)
           ORDER BY t.id DESC LIMIT ?4"#,
        account,
        party,
        after,
        fetch,
        wanted,
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    transfer_page(rows, limit)
}

pub(crate) async fn list_entries(
    pool: &SqlitePool,
    account: AccountId,
    limit: PageLimit,
    starting_after: Option<EntryId>,
) -> Result<Page<Entry>, StoreError> {
    let account = account.as_uuid();
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let rows = sqlx::query_as!(
        EntryRow,
        r#"SELECT line.id AS "id!: uuid::Uuid", line.transfer_id AS "transfer_id!: uuid::Uuid",
                  line.account_id AS "account_id!: uuid::Uuid", line.amount AS "amount!",
                  line.balance_after AS "balance_after!", account.currency AS "currency!",
                  line.created_at AS "created_at!: DateTime"
           FROM ledger_lines line JOIN accounts account ON account.id = line.account_id
           WHERE line.account_id = ?1 AND (?2 IS NULL OR line.id < ?2)
           ORDER BY line.id DESC LIMIT ?3"#,
        account,
        after,
        fetch,
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    EntryRow::into_page(rows, limit).map_err(internal)
}

/// One read transaction: WAL gives it a snapshot, so concurrent transfers cannot make a sound
/// ledger look broken.
pub(crate) async fn verify(pool: &SqlitePool) -> Result<LedgerReport, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let mut check = LedgerCheck::default();
    let mut rows = sqlx::query_as!(
        AccountCheckRow,
        r#"SELECT account.id AS "id!: uuid::Uuid", account.owner_id AS "owner_id: uuid::Uuid",
                  account.currency AS "currency!", account.balance AS "balance!",
                  account.held AS "held!", account.overdraft_limit AS "overdraft_limit!",
                  account.max_balance,
                  COALESCE((SELECT SUM(line.amount) FROM ledger_lines line
                            WHERE line.account_id = account.id), 0) AS "lines_sum!: i64",
                  COALESCE((SELECT SUM(h.amount - h.posted_amount) FROM holds h
                            WHERE h.from_account_id = account.id
                              AND h.state = 'held'), 0) AS "holds_sum!: i64"
           FROM accounts account ORDER BY account.id"#,
    )
    .fetch(&mut *transaction);
    while let Some(row) = rows.try_next().await.map_err(map_error)? {
        check.add(row.into_check().map_err(internal)?);
    }
    drop(rows);
    transaction.commit().await.map_err(map_error)?;
    Ok(check.report())
}
