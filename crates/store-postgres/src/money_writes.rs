//! The writes every transfer batch makes: its accounts' new balances, its transfers and their
//! ledger lines, its events and its key records. They go as one statement of data-modifying
//! CTEs over arrays, so a batch costs one round trip here where it cost five. A round trip is
//! a wake-up of this process and of the backend, on the serial path every batch waits on.
//!
//! The CTEs all run against the statement's snapshot, and PostgreSQL checks foreign keys and
//! fires the outbox trigger at the end of the statement. So a line may name a transfer of the
//! same statement, and the order of the CTEs carries no meaning.

use coffre_domain::ledger::{Account, Entry, Transfer};
use coffre_domain::time::Timestamp;
use coffre_store::idempotency::NewKey;
use coffre_store::{EventRecord, StoreError};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::map_error;
use crate::ledger::Columns;

type DateTime = chrono::DateTime<chrono::Utc>;

/// Writes the batch's rows. `false` if some key already had a record: its insert did nothing,
/// and the caller must roll back.
pub(crate) async fn write(
    connection: &mut PgConnection,
    changed: &[Account],
    transfers: &[Transfer],
    entries: &[Entry],
    events: &[EventRecord],
    keys: &[NewKey],
) -> Result<bool, StoreError> {
    let a = Columns::of(changed);
    let t = Transfers::of(transfers);
    let l = Lines::of(entries);
    let e = Events::of(events);
    let k = Keys::of(keys);
    let inserted_keys = sqlx::query_scalar!(
        r#"WITH new_balances AS (
               UPDATE accounts SET balance = new.balance, held = new.held, status = new.status,
                      overdraft_limit = new.overdraft_limit, max_balance = new.max_balance,
                      metadata = new.metadata, updated_at = new.updated_at
               FROM UNNEST($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[],
                           $6::bigint[], $7::text[]::jsonb[], $8::timestamptz[])
                    AS new(id, balance, held, status, overdraft_limit, max_balance, metadata,
                           updated_at)
               WHERE accounts.id = new.id
           ), new_transfers AS (
               INSERT INTO transfers (id, kind, from_account_id, to_account_id, amount, currency,
                                      description, hold_id, transaction_id, posting_index,
                                      created_at, metadata)
               SELECT * FROM UNNEST($9::uuid[], $10::text[], $11::uuid[], $12::uuid[],
                                    $13::bigint[], $14::text[], $15::text[], $16::uuid[],
                                    $17::uuid[], $18::smallint[], $19::timestamptz[],
                                    $20::text[]::jsonb[])
           ), new_lines AS (
               INSERT INTO ledger_lines (id, transfer_id, account_id, amount, balance_after,
                                         created_at)
               SELECT * FROM UNNEST($21::uuid[], $22::uuid[], $23::uuid[], $24::bigint[],
                                    $25::bigint[], $26::timestamptz[])
           ), new_events AS (
               INSERT INTO events (id, type, object, created_at)
               SELECT id, type, object::json, created_at
               FROM UNNEST($27::uuid[], $28::text[], $29::text[], $30::timestamptz[])
                    AS new(id, type, object, created_at)
           ), new_keys AS (
               INSERT INTO idempotency_keys (user_id, key, fingerprint, created_at,
                                             response_status, response_body)
               SELECT user_id, key, fingerprint, $36, status, body
               FROM UNNEST($31::uuid[], $32::text[], $33::bytea[], $34::int[], $35::bytea[])
                    AS new(user_id, key, fingerprint, status, body)
               ON CONFLICT (user_id, key) DO NOTHING
               RETURNING 1
           )
           SELECT count(*) AS "inserted!" FROM new_keys"#,
        &a.id,
        &a.balance,
        &a.held,
        &a.status as _,
        &a.overdraft_limit,
        &a.max_balance as _,
        &a.metadata,
        &a.updated_at,
        &t.id,
        &t.kind as _,
        &t.from,
        &t.to,
        &t.amount,
        &t.currency as _,
        &t.description as _,
        &t.hold as _,
        &t.transaction as _,
        &t.position as _,
        &t.created_at,
        &t.metadata,
        &l.id,
        &l.transfer,
        &l.account,
        &l.amount,
        &l.balance_after,
        &l.created_at,
        &e.id,
        &e.event_type as _,
        &e.object as _,
        &e.created_at,
        &k.user,
        &k.key as _,
        &k.fingerprint as _,
        &k.status,
        &k.body as _,
        Timestamp::now().as_datetime(),
    )
    .fetch_one(&mut *connection)
    .await
    .map_err(map_error)?;
    Ok(usize::try_from(inserted_keys).ok() == Some(keys.len()))
}

struct Transfers<'a> {
    id: Vec<Uuid>,
    kind: Vec<&'static str>,
    from: Vec<Uuid>,
    to: Vec<Uuid>,
    amount: Vec<i64>,
    currency: Vec<&'static str>,
    description: Vec<Option<&'a str>>,
    hold: Vec<Option<Uuid>>,
    transaction: Vec<Option<Uuid>>,
    position: Vec<Option<i16>>,
    created_at: Vec<DateTime>,
    metadata: Vec<String>,
}

impl<'a> Transfers<'a> {
    fn of(transfers: &'a [Transfer]) -> Self {
        Self {
            id: transfers.iter().map(|t| t.id.as_uuid()).collect(),
            kind: transfers.iter().map(|t| t.kind.as_str()).collect(),
            from: transfers
                .iter()
                .map(|t| t.from_account_id.as_uuid())
                .collect(),
            to: transfers
                .iter()
                .map(|t| t.to_account_id.as_uuid())
                .collect(),
            amount: transfers.iter().map(|t| t.amount.minor()).collect(),
            currency: transfers.iter().map(|t| t.currency.code()).collect(),
            description: transfers
                .iter()
                .map(|t| t.description.as_ref().map(|d| d.as_str()))
                .collect(),
            hold: transfers
                .iter()
                .map(|t| t.hold_id.map(|id| id.as_uuid()))
                .collect(),
            transaction: transfers
                .iter()
                .map(|t| t.transaction.map(|link| link.id.as_uuid()))
                .collect(),
            position: transfers
                .iter()
                .map(|t| t.transaction.map(|link| i16::from(link.posting_index)))
                .collect(),
            created_at: transfers
                .iter()
                .map(|t| t.created_at.as_datetime())
                .collect(),
            metadata: transfers
                .iter()
                .map(|t| t.metadata.to_json().to_string())
                .collect(),
        }
    }
}

struct Lines {
    id: Vec<Uuid>,
    transfer: Vec<Uuid>,
    account: Vec<Uuid>,
    amount: Vec<i64>,
    balance_after: Vec<i64>,
    created_at: Vec<DateTime>,
}

impl Lines {
    fn of(entries: &[Entry]) -> Self {
        Self {
            id: entries.iter().map(|e| e.id.as_uuid()).collect(),
            transfer: entries.iter().map(|e| e.transfer_id.as_uuid()).collect(),
            account: entries.iter().map(|e| e.account_id.as_uuid()).collect(),
            amount: entries.iter().map(|e| e.amount.minor()).collect(),
            balance_after: entries.iter().map(|e| e.balance_after.minor()).collect(),
            created_at: entries.iter().map(|e| e.created_at.as_datetime()).collect(),
        }
    }
}

struct Events<'a> {
    id: Vec<Uuid>,
    event_type: Vec<&'static str>,
    object: Vec<&'a str>,
    created_at: Vec<DateTime>,
}

impl<'a> Events<'a> {
    fn of(events: &'a [EventRecord]) -> Self {
        Self {
            id: events.iter().map(|e| e.id.as_uuid()).collect(),
            event_type: events.iter().map(|e| e.event_type.as_str()).collect(),
            object: events.iter().map(|e| e.object.as_str()).collect(),
            created_at: events.iter().map(|e| e.created_at.as_datetime()).collect(),
        }
    }
}

struct Keys<'a> {
    user: Vec<Uuid>,
    key: Vec<&'a str>,
    fingerprint: Vec<&'a [u8]>,
    status: Vec<i32>,
    body: Vec<&'a [u8]>,
}

impl<'a> Keys<'a> {
    fn of(records: &'a [NewKey]) -> Self {
        Self {
            user: records.iter().map(|r| r.user_id.as_uuid()).collect(),
            key: records.iter().map(|r| r.key.as_str()).collect(),
            fingerprint: records.iter().map(|r| r.fingerprint.0.as_slice()).collect(),
            status: records
                .iter()
                .map(|r| i32::from(r.response.status))
                .collect(),
            body: records.iter().map(|r| r.response.body.as_slice()).collect(),
        }
    }
}
