//! The baseline: the durable writes of one transfer issued straight to PostgreSQL by a Rust
//! client with prepared statements (sqlx caches them per connection): lock both accounts in id
//! order, update both balances, insert the transfer, its two lines, its idempotency record, its
//! audit event and its public event (`transfer.created`, as Coffre's event log), commit. A payment is three such transactions, as Coffre's three requests:
//! create (the payment, its idempotency record, an event), authorize (lock the payment and the
//! payer, hold the amount, an event), capture (lock the payment and both accounts, release the
//! hold and move the money, the transfer and its lines, an event). A transaction of three
//! postings is one: lock its four accounts in id order, update each balance once, insert the
//! transaction, its three transfers (naming it and their place in it) and six lines, its
//! idempotency record and one event. No hash chain, no HTTP, no sessions: the floor Coffre is
//! compared with.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{Outcome, Workload};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (id UUID PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0),
    held BIGINT NOT NULL DEFAULT 0 CHECK (held BETWEEN 0 AND balance));
CREATE TABLE IF NOT EXISTS transactions (id UUID PRIMARY KEY, created_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS transfers (id UUID PRIMARY KEY, from_id UUID NOT NULL REFERENCES accounts,
    to_id UUID NOT NULL REFERENCES accounts, amount BIGINT NOT NULL, created_at TIMESTAMPTZ NOT NULL,
    transaction_id UUID REFERENCES transactions, posting_index SMALLINT,
    UNIQUE (transaction_id, posting_index));
CREATE TABLE IF NOT EXISTS lines (id UUID PRIMARY KEY, transfer_id UUID NOT NULL REFERENCES transfers,
    account_id UUID NOT NULL REFERENCES accounts, amount BIGINT NOT NULL, balance_after BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS lines_account_idx ON lines (account_id, id);
CREATE TABLE IF NOT EXISTS idempotency (user_id UUID NOT NULL, key TEXT NOT NULL, response BYTEA,
    PRIMARY KEY (user_id, key));
CREATE TABLE IF NOT EXISTS payments (id UUID PRIMARY KEY, payer_id UUID NOT NULL REFERENCES accounts,
    payee_id UUID NOT NULL REFERENCES accounts, amount BIGINT NOT NULL, state TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS audit (seq BIGSERIAL PRIMARY KEY, action TEXT NOT NULL, resource_id UUID,
    new_value JSON);
CREATE TABLE IF NOT EXISTS events (id UUID PRIMARY KEY, type TEXT NOT NULL, object JSON NOT NULL);
";

pub async fn run(
    url: &str,
    workload: Workload,
    concurrency: usize,
    accounts: usize,
    seconds: u64,
) -> Outcome {
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(concurrency).unwrap())
        .connect(url)
        .await
        .unwrap();
    sqlx::raw_sql(SCHEMA).execute(&pool).await.unwrap();
    sqlx::query(
        "TRUNCATE audit, events, idempotency, payments, lines, transfers, transactions, accounts",
    )
    .execute(&pool)
    .await
    .unwrap();
    // The customers' accounts, then the merchant, the platform's fee account and the tax's.
    let ids: Vec<Uuid> = (0..accounts + 3).map(|_| Uuid::now_v7()).collect();
    for id in &ids {
        sqlx::query("INSERT INTO accounts VALUES ($1, 100000000)")
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
    }
    let (merchant, platform, tax) = (ids[accounts], ids[accounts + 1], ids[accounts + 2]);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    for _ in 0..concurrency {
        let (pool, ids) = (pool.clone(), ids.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let from = ids[rand::random_range(0..accounts)];
                let to = match workload {
                    Workload::Hot | Workload::Payments | Workload::Transactions => merchant,
                    _ => loop {
                        let to = ids[rand::random_range(0..accounts)];
                        if to != from {
                            break to;
                        }
                    },
                };
                let began = Instant::now();
                let amount = rand::random_range(1..=100);
                match workload {
                    Workload::Uniform | Workload::Hot => transfer(&pool, from, to, amount).await,
                    Workload::Payments => payment(&pool, from, to, amount).await,
                    Workload::Transactions => {
                        transaction(&pool, [from, to, platform, tax]).await;
                    }
                }
                latencies.push(began.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for handle in handles {
        latencies.extend(handle.await.unwrap());
    }
    let completed = latencies.len() as u64;
    Outcome {
        completed,
        elapsed: started.elapsed(),
        latencies,
        statuses: BTreeMap::new(),
    }
}

async fn audit(tx: &mut PgConnection, action: &str, id: Uuid, amount: i64) {
    sqlx::query("INSERT INTO audit (action, resource_id, new_value) VALUES ($1, $2, $3::json)")
        .bind(action)
        .bind(id)
        .bind(format!(r#"{{"amount": {amount}}}"#))
        .execute(tx)
        .await
        .unwrap();
}

async fn record_key(tx: &mut PgConnection, user: Uuid, id: Uuid) {
    sqlx::query("INSERT INTO idempotency VALUES ($1, $2, $3)")
        .bind(user)
        .bind(id.to_string())
        .bind(b"{}".as_slice())
        .execute(tx)
        .await
        .unwrap();
}

async fn lock_payment(tx: &mut PgConnection, id: Uuid) {
    sqlx::query("SELECT state FROM payments WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(tx)
        .await
        .unwrap();
}

async fn set_state(tx: &mut PgConnection, id: Uuid, state: &str) {
    sqlx::query("UPDATE payments SET state = $2 WHERE id = $1")
        .bind(id)
        .bind(state)
        .execute(tx)
        .await
        .unwrap();
}

async fn payment(pool: &PgPool, payer: Uuid, payee: Uuid, amount: i64) {
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO payments VALUES ($1, $2, $3, $4, 'created', now())")
        .bind(id)
        .bind(payer)
        .bind(payee)
        .bind(amount)
        .execute(&mut *tx)
        .await
        .unwrap();
    record_key(&mut tx, payer, id).await;
    audit(&mut tx, "PAYMENT_CREATE", id, amount).await;
    tx.commit().await.unwrap();

    let mut tx = pool.begin().await.unwrap();
    lock_payment(&mut tx, id).await;
    let (balance, held): (i64, i64) =
        sqlx::query_as("SELECT balance, held FROM accounts WHERE id = $1 FOR NO KEY UPDATE")
            .bind(payer)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert!(
        balance - held >= amount,
        "the baseline's accounts are funded for the whole run"
    );
    sqlx::query("UPDATE accounts SET held = held + $2 WHERE id = $1")
        .bind(payer)
        .bind(amount)
        .execute(&mut *tx)
        .await
        .unwrap();
    set_state(&mut tx, id, "authorized").await;
    audit(&mut tx, "PAYMENT_AUTHORIZE", id, amount).await;
    tx.commit().await.unwrap();

    let mut tx = pool.begin().await.unwrap();
    lock_payment(&mut tx, id).await;
    let (first, second) = if payer < payee {
        (payer, payee)
    } else {
        (payee, payer)
    };
    let balances: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT id, balance FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(vec![first, second])
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let balance = |account| balances.iter().find(|(id, _)| *id == account).unwrap().1;
    let (payer_after, payee_after) = (balance(payer) - amount, balance(payee) + amount);
    sqlx::query("UPDATE accounts SET balance = $2, held = held - $3 WHERE id = $1")
        .bind(payer)
        .bind(payer_after)
        .bind(amount)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE accounts SET balance = $2 WHERE id = $1")
        .bind(payee)
        .bind(payee_after)
        .execute(&mut *tx)
        .await
        .unwrap();
    transfer_rows(
        &mut tx,
        [payer, payee],
        amount,
        [payer_after, payee_after],
        None,
    )
    .await;
    set_state(&mut tx, id, "captured").await;
    audit(&mut tx, "PAYMENT_CAPTURE", id, amount).await;
    tx.commit().await.unwrap();
}

/// The transfer row (a posting of `transaction` at its index, if given) and its two ledger
/// lines; returns the transfer's id.
async fn transfer_rows(
    tx: &mut PgConnection,
    [from, to]: [Uuid; 2],
    amount: i64,
    [from_after, to_after]: [i64; 2],
    transaction: Option<(Uuid, i16)>,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO transfers (id, from_id, to_id, amount, created_at, transaction_id, \
         posting_index) VALUES ($1, $2, $3, $4, now(), $5, $6)",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(amount)
    .bind(transaction.map(|(id, _)| id))
    .bind(transaction.map(|(_, index)| index))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("INSERT INTO lines VALUES ($1, $2, $3, $4, $5), ($6, $2, $7, $8, $9)")
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(from)
        .bind(-amount)
        .bind(from_after)
        .bind(Uuid::now_v7())
        .bind(to)
        .bind(amount)
        .bind(to_after)
        .execute(&mut *tx)
        .await
        .unwrap();
    id
}

/// Payer to merchant, merchant to the platform's fee, merchant to the tax: one transaction.
async fn transaction(pool: &PgPool, [payer, merchant, platform, tax]: [Uuid; 4]) {
    let (amount, fee, tax_cents) = crate::sale_cents();
    let mut tx = pool.begin().await.unwrap();
    let mut locked = vec![payer, merchant, platform, tax];
    locked.sort();
    let mut balances: BTreeMap<Uuid, i64> = sqlx::query_as(
        "SELECT id, balance FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(locked)
    .fetch_all(&mut *tx)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO transactions VALUES ($1, now())")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let postings = [
        (payer, merchant, amount),
        (merchant, platform, fee),
        (merchant, tax, tax_cents),
    ];
    for (index, (from, to, cents)) in (0_i16..).zip(postings) {
        let cents = i64::from(cents);
        let from_after = balances[&from] - cents;
        let to_after = balances[&to] + cents;
        balances.insert(from, from_after);
        balances.insert(to, to_after);
        transfer_rows(
            &mut tx,
            [from, to],
            cents,
            [from_after, to_after],
            Some((id, index)),
        )
        .await;
    }
    for (account, balance) in &balances {
        sqlx::query("UPDATE accounts SET balance = $2 WHERE id = $1")
            .bind(account)
            .bind(balance)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    record_key(&mut tx, payer, id).await;
    audit(&mut tx, "TRANSACTION", id, i64::from(amount)).await;
    tx.commit().await.unwrap();
}

async fn transfer(pool: &PgPool, from: Uuid, to: Uuid, amount: i64) {
    let mut tx = pool.begin().await.unwrap();
    let (first, second) = if from < to { (from, to) } else { (to, from) };
    let balances: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT id, balance FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(vec![first, second])
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let balance = |id| {
        balances
            .iter()
            .find(|(account, _)| *account == id)
            .unwrap()
            .1
    };
    let (from_after, to_after) = (balance(from) - amount, balance(to) + amount);
    sqlx::query("UPDATE accounts SET balance = $2 WHERE id = $1")
        .bind(from)
        .bind(from_after)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE accounts SET balance = $2 WHERE id = $1")
        .bind(to)
        .bind(to_after)
        .execute(&mut *tx)
        .await
        .unwrap();
    let id = transfer_rows(&mut tx, [from, to], amount, [from_after, to_after], None).await;
    record_key(&mut tx, from, id).await;
    audit(&mut tx, "TRANSFER", id, amount).await;
    sqlx::query("INSERT INTO events VALUES ($1, 'transfer.created', $2::json)")
        .bind(Uuid::now_v7())
        .bind(format!(r#"{{"id": "{id}", "amount": {amount}}}"#))
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Transfers per transaction of the batched limit.
pub const BATCH: usize = 100;

/// How the batched limit writes a batch's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batched {
    /// One call of a PL/pgSQL function that loops over the batch's transfers, one row change
    /// at a time: one round trip per batch.
    Function,
    /// Lock the batch's accounts, then one statement per table, every row of the batch at once
    /// through `UNNEST` of arrays (balances after each line computed by the client).
    Unnest,
}

/// The loop of [`Batched::Function`]: per transfer, both balances, the transfer, its two lines,
/// its idempotency record, its audit event and its public event (the rows of [`transfer`]). Accounts are locked
/// first, in id order, as two writers' batches would otherwise deadlock.
const BATCH_FUNCTION: &str = "
CREATE OR REPLACE FUNCTION apply_batch(ids UUID[], froms UUID[], tos UUID[], amounts BIGINT[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    from_after BIGINT;
    to_after BIGINT;
BEGIN
    PERFORM 1 FROM accounts WHERE id = ANY(froms || tos) ORDER BY id FOR NO KEY UPDATE;
    FOR i IN 1 .. array_length(ids, 1) LOOP
        UPDATE accounts SET balance = balance - amounts[i] WHERE id = froms[i]
            RETURNING balance INTO from_after;
        UPDATE accounts SET balance = balance + amounts[i] WHERE id = tos[i]
            RETURNING balance INTO to_after;
        INSERT INTO transfers (id, from_id, to_id, amount, created_at)
            VALUES (ids[i], froms[i], tos[i], amounts[i], now());
        INSERT INTO lines VALUES (gen_random_uuid(), ids[i], froms[i], -amounts[i], from_after),
            (gen_random_uuid(), ids[i], tos[i], amounts[i], to_after);
        INSERT INTO idempotency VALUES (froms[i], ids[i]::text, '\\x7b7d');
        INSERT INTO audit (action, resource_id, new_value)
            VALUES ('TRANSFER', ids[i], json_build_object('amount', amounts[i]));
        INSERT INTO events VALUES (gen_random_uuid(), 'transfer.created',
            json_build_object('id', ids[i], 'amount', amounts[i]));
    END LOOP;
END $$;
";

/// The batched limit: `writers` connections, each committing [`BATCH`] transfers per
/// transaction of `workload` (uniform or hot) for `seconds`; an iteration is one transfer, and
/// each transfer's latency is its batch's.
pub async fn run_batched(
    url: &str,
    workload: Workload,
    how: Batched,
    writers: usize,
    accounts: usize,
    seconds: u64,
) -> Outcome {
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(writers).unwrap())
        .connect(url)
        .await
        .unwrap();
    sqlx::raw_sql(SCHEMA).execute(&pool).await.unwrap();
    sqlx::raw_sql(BATCH_FUNCTION).execute(&pool).await.unwrap();
    sqlx::query(
        "TRUNCATE audit, events, idempotency, payments, lines, transfers, transactions, accounts",
    )
    .execute(&pool)
    .await
    .unwrap();
    let ids: Vec<Uuid> = (0..=accounts).map(|_| Uuid::now_v7()).collect();
    sqlx::query("INSERT INTO accounts SELECT unnest($1::uuid[]), 100000000")
        .bind(&ids)
        .execute(&pool)
        .await
        .unwrap();
    let merchant = ids[accounts];
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    for _ in 0..writers {
        let (pool, ids) = (pool.clone(), ids.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let mut batch = Vec::with_capacity(BATCH);
                for _ in 0..BATCH {
                    let from = ids[rand::random_range(0..accounts)];
                    let to = match workload {
                        Workload::Uniform => loop {
                            let to = ids[rand::random_range(0..accounts)];
                            if to != from {
                                break to;
                            }
                        },
                        _ => merchant,
                    };
                    batch.push((Uuid::now_v7(), from, to, rand::random_range(1..=100_i64)));
                }
                let began = Instant::now();
                match how {
                    Batched::Function => batch_by_function(&pool, &batch).await,
                    Batched::Unnest => batch_by_unnest(&pool, &batch).await,
                }
                latencies.extend(std::iter::repeat_n(began.elapsed(), BATCH));
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for handle in handles {
        latencies.extend(handle.await.unwrap());
    }
    pool.close().await;
    Outcome {
        completed: latencies.len() as u64,
        elapsed: started.elapsed(),
        latencies,
        statuses: BTreeMap::new(),
    }
}

/// One transfer of a batch: its id, from, to, amount.
type Row = (Uuid, Uuid, Uuid, i64);

async fn batch_by_function(pool: &PgPool, batch: &[Row]) {
    let column = |pick: fn(&Row) -> Uuid| batch.iter().map(pick).collect::<Vec<Uuid>>();
    let amounts: Vec<i64> = batch.iter().map(|row| row.3).collect();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT apply_batch($1, $2, $3, $4)")
        .bind(column(|row| row.0))
        .bind(column(|row| row.1))
        .bind(column(|row| row.2))
        .bind(amounts)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// A batch's ledger lines, column by column, for `UNNEST`.
#[derive(Default)]
struct Lines {
    ids: Vec<Uuid>,
    transfers: Vec<Uuid>,
    accounts: Vec<Uuid>,
    amounts: Vec<i64>,
    after: Vec<i64>,
}

async fn batch_by_unnest(pool: &PgPool, batch: &[Row]) {
    let mut touched: Vec<Uuid> = batch.iter().flat_map(|row| [row.1, row.2]).collect();
    touched.sort();
    touched.dedup();
    let mut tx = pool.begin().await.unwrap();
    let mut balances: BTreeMap<Uuid, i64> = sqlx::query_as(
        "SELECT id, balance FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(&touched)
    .fetch_all(&mut *tx)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let mut lines = Lines::default();
    for &(id, from, to, amount) in batch {
        for (account, delta) in [(from, -amount), (to, amount)] {
            let after = balances[&account] + delta;
            balances.insert(account, after);
            lines.ids.push(Uuid::now_v7());
            lines.transfers.push(id);
            lines.accounts.push(account);
            lines.amounts.push(delta);
            lines.after.push(after);
        }
    }
    let (accounts, after): (Vec<Uuid>, Vec<i64>) = balances.into_iter().unzip();
    sqlx::query(
        "UPDATE accounts SET balance = new.balance FROM UNNEST($1::uuid[], $2::bigint[]) \
         AS new (id, balance) WHERE accounts.id = new.id",
    )
    .bind(accounts)
    .bind(after)
    .execute(&mut *tx)
    .await
    .unwrap();
    let ids: Vec<Uuid> = batch.iter().map(|row| row.0).collect();
    let froms: Vec<Uuid> = batch.iter().map(|row| row.1).collect();
    let tos: Vec<Uuid> = batch.iter().map(|row| row.2).collect();
    let amounts: Vec<i64> = batch.iter().map(|row| row.3).collect();
    sqlx::query(
        "INSERT INTO transfers (id, from_id, to_id, amount, created_at) \
         SELECT *, now() FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[])",
    )
    .bind(&ids)
    .bind(&froms)
    .bind(&tos)
    .bind(&amounts)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO lines SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], \
         $4::bigint[], $5::bigint[])",
    )
    .bind(lines.ids)
    .bind(lines.transfers)
    .bind(lines.accounts)
    .bind(lines.amounts)
    .bind(lines.after)
    .execute(&mut *tx)
    .await
    .unwrap();
    let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    sqlx::query(
        "INSERT INTO idempotency SELECT user_id, key, '\\x7b7d' \
         FROM UNNEST($1::uuid[], $2::text[]) AS k (user_id, key)",
    )
    .bind(&froms)
    .bind(keys)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO audit (action, resource_id, new_value) SELECT 'TRANSFER', id, \
         json_build_object('amount', amount) FROM UNNEST($1::uuid[], $2::bigint[]) AS t (id, amount)",
    )
    .bind(&ids)
    .bind(&amounts)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO events SELECT gen_random_uuid(), 'transfer.created', \
         json_build_object('id', id, 'amount', amount) FROM UNNEST($1::uuid[], $2::bigint[]) AS t (id, amount)",
    )
    .bind(&ids)
    .bind(&amounts)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}
