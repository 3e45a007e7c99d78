//! The ledger tables refuse, by constraint or trigger, what the domain's types forbid: a
//! customer outside its limits, a hold beyond them, limits a system account cannot have, a zero
//! line, a transfer to itself, any edit of posted history, and a payment or a hold in a state
//! its type cannot hold.

// Helpers shared by the test below fail the test the same way the test does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffre_domain::audit::AuditContext;
use coffre_domain::user::{Email, Role};
use coffre_store::conformance::idempotency_key_edges;
use coffre_store::{CreateUser, IdempotencyKey, NewUser, PasswordHash, Store};
use coffre_store_sqlite::testing::fresh_database;
use sqlx::{Connection, SqliteConnection};

/// SQLite's message for a refused statement, which names the constraint.
async fn refused(connection: &mut SqliteConnection, sql: &'static str) -> String {
    let error = sqlx::raw_sql(sql)
        .execute(&mut *connection)
        .await
        .expect_err(sql);
    error
        .as_database_error()
        .map(|error| error.message().to_owned())
        .unwrap_or_else(|| panic!("{sql}: {error}"))
}

#[tokio::test]
async fn ledger_rows_hold_only_what_the_types_allow() {
    let (store, url, _dir) = fresh_database().await;
    let new = NewUser {
        email: Email::parse("alice@example.com").unwrap(),
        password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
        role: Role::User,
    };
    let created = store
        .create_user(new, &AuditContext::default())
        .await
        .unwrap();
    assert!(matches!(created, CreateUser::Created(_)));
    let mut connection = SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "PRAGMA foreign_keys = ON; \
         INSERT INTO accounts VALUES (x'00000000000070008000000000000001', \
           (SELECT id FROM users), 'EUR', NULL, 100, 0, 'active', 'now', 'now', 0, NULL, '{}'); \
         INSERT INTO accounts VALUES (x'00000000000070008000000000000002', NULL, 'EUR', NULL, \
           -100, 0, 'active', 'now', 'now', 0, NULL, '{}'); \
         INSERT INTO transfers VALUES (x'000000000000700080000000000000a1', 'deposit', \
           x'00000000000070008000000000000002', x'00000000000070008000000000000001', 100, \
           'EUR', NULL, 'now', NULL, NULL, NULL, '{}'); \
         INSERT INTO ledger_lines VALUES (x'000000000000700080000000000000b1', \
           x'000000000000700080000000000000a1', x'00000000000070008000000000000001', 100, 100, \
           'now'); \
         INSERT INTO payments VALUES (x'000000000000700080000000000000c1', \
           x'00000000000070008000000000000001', x'00000000000070008000000000000002', 10, 'EUR', \
           'pending', 0, 0, 0, NULL, NULL, NULL, 'now', 'now', '{}')",
    )
    .execute(&mut connection)
    .await
    .unwrap();

    let cases = [
        (
            "UPDATE accounts SET balance = -1 WHERE id = x'00000000000070008000000000000001'",
            "CHECK constraint failed: accounts_customer_balance_check",
        ),
        (
            "UPDATE accounts SET held = 101 WHERE id = x'00000000000070008000000000000001'",
            "CHECK constraint failed: accounts_customer_balance_check",
        ),
        (
            "UPDATE accounts SET held = -1 WHERE id = x'00000000000070008000000000000002'",
            "CHECK constraint failed: accounts_held_check",
        ),
        (
            "UPDATE accounts SET overdraft_limit = 20, held = 121 \
             WHERE id = x'00000000000070008000000000000001'",
            "CHECK constraint failed: accounts_customer_balance_check",
        ),
        (
            "UPDATE accounts SET max_balance = 99 WHERE id = x'00000000000070008000000000000001'",
            "CHECK constraint failed: accounts_customer_balance_check",
        ),
        (
            "UPDATE accounts SET overdraft_limit = -1 \
             WHERE id = x'00000000000070008000000000000001'",
            "CHECK constraint failed: accounts_overdraft_limit_check",
        ),
        (
            "UPDATE accounts SET max_balance = 1000000000000001 \
             WHERE id = x'00000000000070008000000000000001'",
            "CHECK constraint failed: accounts_max_balance_check",
        ),
        (
            "UPDATE accounts SET overdraft_limit = 5 \
             WHERE id = x'00000000000070008000000000000002'",
            "CHECK constraint failed: accounts_system_limits_check",
        ),
        (
            "UPDATE accounts SET status = 'closed'",
            "CHECK constraint failed: accounts_status_check",
        ),
        (
            "INSERT INTO accounts VALUES (randomblob(16), NULL, 'EUR', NULL, 0, 0, 'active', \
             'now', 'now', 0, NULL, '{}')",
            "UNIQUE constraint failed: accounts.currency",
        ),
        (
            "INSERT INTO accounts VALUES (randomblob(16), NULL, 'eur', NULL, 0, 0, 'active', \
             'now', 'now', 0, NULL, '{}')",
            "CHECK constraint failed: accounts_currency_check",
        ),
        (
            "INSERT INTO transfers VALUES (randomblob(16), 'transfer', \
             x'00000000000070008000000000000001', x'00000000000070008000000000000001', 1, \
             'EUR', NULL, 'now', NULL, NULL, NULL, '{}')",
            "CHECK constraint failed: transfers_accounts_check",
        ),
        (
            "INSERT INTO transfers VALUES (randomblob(16), 'transfer', \
             x'00000000000070008000000000000001', x'00000000000070008000000000000002', 0, \
             'EUR', NULL, 'now', NULL, NULL, NULL, '{}')",
            "CHECK constraint failed: transfers_amount_check",
        ),
        (
            "INSERT INTO transfers VALUES (randomblob(16), 'gift', \
             x'00000000000070008000000000000001', x'00000000000070008000000000000002', 1, \
             'EUR', NULL, 'now', NULL, NULL, NULL, '{}')",
            "CHECK constraint failed: transfers_kind_check",
        ),
        (
            "INSERT INTO transfers VALUES (randomblob(16), 'transfer', \
             x'00000000000070008000000000000001', x'00000000000070008000000000000002', 1, \
             'EUR', NULL, 'now', NULL, NULL, 0, '{}')",
            "CHECK constraint failed: transfers_posting_check",
        ),
        (
            "INSERT INTO transactions VALUES (randomblob(16), NULL, '[]', 'now')",
            "CHECK constraint failed: transactions_metadata_check",
        ),
        (
            "INSERT INTO ledger_lines VALUES (randomblob(16), \
             x'000000000000700080000000000000a1', x'00000000000070008000000000000002', 0, -100, \
             'now'); \
         INSERT INTO payments VALUES (x'000000000000700080000000000000c1', \
           x'00000000000070008000000000000001', x'00000000000070008000000000000002', 10, 'EUR', \
           'pending', 0, 0, 0, NULL, NULL, NULL, 'now', 'now', '{}')",
            "CHECK constraint failed: ledger_lines_amount_check",
        ),
        (
            "UPDATE ledger_lines SET amount = 1000",
            "ledger_lines refuses UPDATE: the ledger is append-only",
        ),
        (
            "DELETE FROM ledger_lines",
            "ledger_lines refuses DELETE: the ledger is append-only",
        ),
        (
            "UPDATE transfers SET amount = 1",
            "transfers refuses UPDATE: the ledger is append-only",
        ),
        (
            "DELETE FROM transfers",
            "transfers refuses DELETE: the ledger is append-only",
        ),
    ];
    let payment_cases = [
        (
            "UPDATE payments SET state = 'flying'",
            "CHECK constraint failed: payments_state_check",
        ),
        (
            "UPDATE payments SET state = 'authorized'",
            "CHECK constraint failed: payments_authorized_check",
        ),
        (
            "UPDATE payments SET captured_amount = 5",
            "CHECK constraint failed: payments_amounts_check",
        ),
        (
            "UPDATE payments SET state = 'failed'",
            "CHECK constraint failed: payments_failed_check",
        ),
        (
            "UPDATE payments SET payee_account_id = payer_account_id",
            "CHECK constraint failed: payments_accounts_check",
        ),
    ];
    let hold_cases = [
        (
            "INSERT INTO holds VALUES (randomblob(16), x'00000000000070008000000000000001', \
             x'00000000000070008000000000000002', 10, 'EUR', 'held', 11, 0, NULL, \
             '{}', 'now', 'now', 'now')",
            "CHECK constraint failed: holds_amounts_check",
        ),
        (
            "INSERT INTO holds VALUES (randomblob(16), x'00000000000070008000000000000001', \
             x'00000000000070008000000000000002', 10, 'EUR', 'held', 2, 3, NULL, \
             '{}', 'now', 'now', 'now')",
            "CHECK constraint failed: holds_held_check",
        ),
        (
            "INSERT INTO holds VALUES (randomblob(16), x'00000000000070008000000000000001', \
             x'00000000000070008000000000000002', 10, 'EUR', 'posted', 4, 0, NULL, \
             '{}', 'now', 'now', 'now')",
            "CHECK constraint failed: holds_posted_check",
        ),
        (
            "INSERT INTO holds VALUES (randomblob(16), x'00000000000070008000000000000001', \
             x'00000000000070008000000000000002', 10, 'EUR', 'voided', 10, 0, NULL, \
             '{}', 'now', 'now', 'now')",
            "CHECK constraint failed: holds_released_check",
        ),
        (
            "INSERT INTO holds VALUES (randomblob(16), x'00000000000070008000000000000001', \
             x'00000000000070008000000000000002', 10, 'EUR', 'held', 0, 0, NULL, \
             '[]', 'now', 'now', 'now')",
            "CHECK constraint failed: holds_metadata_check",
        ),
    ];
    for (sql, message) in cases.into_iter().chain(payment_cases).chain(hold_cases) {
        assert_eq!(refused(&mut connection, sql).await, message, "{sql}");
    }
    // Within its limits, a customer account may stand below zero, holds counted.
    sqlx::raw_sql(
        "UPDATE accounts SET overdraft_limit = 20, max_balance = 100, held = 120 \
         WHERE id = x'00000000000070008000000000000001'",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    // A transfer's labels may change, as a JSON object; nothing else of it may, whichever
    // column, even to the value it has.
    sqlx::raw_sql("UPDATE transfers SET metadata = '{\"k\": \"v\"}'")
        .execute(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        refused(&mut connection, "UPDATE transfers SET metadata = '[]'").await,
        "CHECK constraint failed: transfers_metadata_check"
    );
    assert_eq!(
        refused(&mut connection, "UPDATE payments SET metadata = '[]'").await,
        "CHECK constraint failed: payments_metadata_check"
    );
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM pragma_table_info('transfers') WHERE name <> 'metadata'",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(columns.len(), 11, "{columns:?}");
    for column in columns {
        let sql = format!("UPDATE transfers SET {column} = {column}");
        // The names come from the catalog, not from input.
        let error = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut connection)
            .await
            .expect_err(&sql);
        assert_eq!(
            error.as_database_error().unwrap().message(),
            "transfers refuses UPDATE: the ledger is append-only",
            "{sql}"
        );
    }
    store.close().await;
}

/// A key record holds exactly the keys `IdempotencyKey::parse` accepts: 1 to 255 printable
/// ASCII characters, no space.
#[tokio::test]
async fn key_records_hold_only_keys_the_api_accepts() {
    let (store, url, _dir) = fresh_database().await;
    let new = NewUser {
        email: Email::parse("keys@example.com").unwrap(),
        password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
        role: Role::User,
    };
    store
        .create_user(new, &AuditContext::default())
        .await
        .unwrap();
    let mut connection = SqliteConnection::connect(&url).await.unwrap();
    let insert = |key: String| {
        sqlx::query(
            "INSERT INTO idempotency_keys VALUES ((SELECT id FROM users), ?1, \
             zeroblob(32), 'now', 201, x'')",
        )
        .bind(key)
    };
    for key in idempotency_key_edges() {
        let stored = insert(key.clone()).execute(&mut connection).await;
        if IdempotencyKey::parse(&key).is_ok() {
            stored.unwrap_or_else(|error| panic!("{key:?}: {error}"));
        } else {
            let error = stored.expect_err(&key);
            assert_eq!(
                error.as_database_error().map(|e| e.message().to_owned()),
                Some("CHECK constraint failed: idempotency_keys_key_check".to_owned()),
                "{key:?}"
            );
        }
    }
    store.close().await;
}
