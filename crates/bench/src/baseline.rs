//! The baseline: the durable writes of one transfer issued straight to PostgreSQL by a Rust
//! client with prepared statements (sqlx caches them per connection): lock both accounts in id
//! order, update both balances, insert the transfer, its two lines, its idempotency record and
//! its audit event, commit. A payment is three such transactions, as Coffre's three requests:
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
    sqlx::query("TRUNCATE audit, idempotency, payments, lines, transfers, transactions, accounts")
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
    tx.commit().await.unwrap();
}
