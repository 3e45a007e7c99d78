//! The ledger tables refuse, by constraint or trigger, what the domain's types forbid: a
//! customer outside its limits, a hold beyond them, limits a system account cannot have, a
//! zero line, a transfer to itself, any edit of posted history, and a payment in a state its
//! typestate cannot hold.

// Helpers shared by the test below fail the test the same way the test does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffre_domain::audit::AuditContext;
use coffre_domain::user::{Email, Role};
use coffre_store::conformance::idempotency_key_edges;
use coffre_store::{CreateUser, IdempotencyKey, NewUser, PasswordHash, Store};
use coffre_store_postgres::testing::fresh_database;
use sqlx::{Connection, PgConnection};

/// The error a statement ends in: the violated constraint's name, else the message.
async fn refused(connection: &mut PgConnection, sql: &'static str) -> String {
    let error = sqlx::raw_sql(sql)
        .execute(&mut *connection)
        .await
        .expect_err(sql);
    let error = error
        .as_database_error()
        .unwrap_or_else(|| panic!("{sql}: {error}"));
    error
        .constraint()
        .map_or_else(|| error.message().to_owned(), ToOwned::to_owned)
}

#[tokio::test]
async fn ledger_rows_hold_only_what_the_types_allow() {
    let (store, url) = fresh_database().await;
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
    let mut connection = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO accounts VALUES ('00000000-0000-7000-8000-000000000001', \
           (SELECT id FROM users), 'EUR', NULL, 100, 0, 'active', now(), now()); \
         INSERT INTO accounts VALUES ('00000000-0000-7000-8000-000000000002', NULL, 'EUR', \
           NULL, -100, 0, 'active', now(), now()); \
         INSERT INTO transfers VALUES ('00000000-0000-7000-8000-0000000000a1', 'deposit', \
           '00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000001', \
           100, 'EUR', NULL, now()); \
         INSERT INTO ledger_lines VALUES ('00000000-0000-7000-8000-0000000000b1', \
           '00000000-0000-7000-8000-0000000000a1', '00000000-0000-7000-8000-000000000001', \
           100, 100, now()); \
         INSERT INTO payments VALUES ('00000000-0000-7000-8000-0000000000c1', \
           '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000002', \
           10, 'EUR', 'pending', 0, 0, 0, NULL, NULL, NULL, now(), now())",
    )
    .execute(&mut connection)
    .await
    .unwrap();

    let cases = [
        (
            "UPDATE accounts SET balance = -1 \
             WHERE id = '00000000-0000-7000-8000-000000000001'",
            "accounts_customer_balance_check",
        ),
        (
            "UPDATE accounts SET held = 101 \
             WHERE id = '00000000-0000-7000-8000-000000000001'",
            "accounts_customer_balance_check",
        ),
        (
            "UPDATE accounts SET held = -1 WHERE id = '00000000-0000-7000-8000-000000000002'",
            "accounts_held_check",
        ),
        (
            "UPDATE accounts SET overdraft_limit = 20, held = 121 \
             WHERE id = '00000000-0000-7000-8000-000000000001'",
            "accounts_customer_balance_check",
        ),
        (
            "UPDATE accounts SET max_balance = 99 \
             WHERE id = '00000000-0000-7000-8000-000000000001'",
            "accounts_customer_balance_check",
        ),
        (
            "UPDATE accounts SET overdraft_limit = -1 \
             WHERE id = '00000000-0000-7000-8000-000000000001'",
            "accounts_overdraft_limit_check",
        ),
        (
            "UPDATE accounts SET max_balance = 1000000000000001 \
             WHERE id = '00000000-0000-7000-8000-000000000001'",
            "accounts_max_balance_check",
        ),
        (
            "UPDATE accounts SET overdraft_limit = 5 \
             WHERE id = '00000000-0000-7000-8000-000000000002'",
            "accounts_system_limits_check",
        ),
        (
            "UPDATE accounts SET status = 'closed'",
            "accounts_status_check",
        ),
        (
            "INSERT INTO accounts VALUES (gen_random_uuid(), NULL, 'EUR', NULL, 0, 0, 'active', \
             now(), now())",
            "accounts_system_currency_key",
        ),
        (
            "INSERT INTO accounts VALUES (gen_random_uuid(), NULL, 'eur', NULL, 0, 0, 'active', \
             now(), now())",
            "accounts_currency_check",
        ),
        (
            "INSERT INTO transfers VALUES (gen_random_uuid(), 'transfer', \
             '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000001', \
             1, 'EUR', NULL, now())",
            "transfers_accounts_check",
        ),
        (
            "INSERT INTO transfers VALUES (gen_random_uuid(), 'transfer', \
             '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000002', \
             0, 'EUR', NULL, now())",
            "transfers_amount_check",
        ),
        (
            "INSERT INTO transfers VALUES (gen_random_uuid(), 'gift', \
             '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000002', \
             1, 'EUR', NULL, now())",
            "transfers_kind_check",
        ),
        (
            "INSERT INTO transfers VALUES (gen_random_uuid(), 'transfer', \
             '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000002', \
             1, 'EUR', NULL, now(), NULL, NULL, 0)",
            "transfers_posting_check",
        ),
        (
            "INSERT INTO transactions VALUES (gen_random_uuid(), NULL, '[]', now())",
            "transactions_metadata_check",
        ),
        (
            "INSERT INTO ledger_lines VALUES (gen_random_uuid(), \
             '00000000-0000-7000-8000-0000000000a1', '00000000-0000-7000-8000-000000000002', \
             0, -100, now())",
            "ledger_lines_amount_check",
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
            "TRUNCATE ledger_lines CASCADE",
            "ledger_lines refuses TRUNCATE: the ledger is append-only",
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
            "payments_state_check",
        ),
        (
            "UPDATE payments SET state = 'authorized'",
            "payments_authorized_check",
        ),
        (
            "UPDATE payments SET captured_amount = 5",
            "payments_amounts_check",
        ),
        (
            "UPDATE payments SET state = 'failed'",
            "payments_failed_check",
        ),
        (
            "UPDATE payments SET payee_account_id = payer_account_id",
            "payments_accounts_check",
        ),
    ];
    for (sql, expected) in cases.into_iter().chain(payment_cases) {
        assert_eq!(refused(&mut connection, sql).await, expected, "{sql}");
    }
    // Within its limits, a customer account may stand below zero, holds counted.
    sqlx::raw_sql(
        "UPDATE accounts SET overdraft_limit = 20, max_balance = 100, held = 120 \
         WHERE id = '00000000-0000-7000-8000-000000000001'",
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
        "transfers_metadata_check"
    );
    assert_eq!(
        refused(&mut connection, "UPDATE payments SET metadata = '[]'").await,
        "payments_metadata_check"
    );
    let columns: Vec<String> = sqlx::query_scalar("SELECT column_name::text FROM information_schema.columns WHERE table_name = 'transfers' AND column_name <> 'metadata'")
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
        let error = error.as_database_error().unwrap();
        assert_eq!(
            error.message(),
            "transfers refuses UPDATE: the ledger is append-only",
            "{sql}"
        );
    }
    connection.close().await.unwrap();
}

/// A key record holds exactly the keys `IdempotencyKey::parse` accepts: 1 to 255 printable
/// ASCII characters, no space.
#[tokio::test]
async fn key_records_hold_only_keys_the_api_accepts() {
    let (store, url) = fresh_database().await;
    let new = NewUser {
        email: Email::parse("keys@example.com").unwrap(),
        password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
        role: Role::User,
    };
    store
        .create_user(new, &AuditContext::default())
        .await
        .unwrap();
    let mut connection = PgConnection::connect(&url).await.unwrap();
    let insert = |key: String| {
        sqlx::query(
            "INSERT INTO idempotency_keys VALUES ((SELECT id FROM users), $1, \
             decode(repeat('ab', 32), 'hex'), now(), 201, '\\x')",
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
                error.as_database_error().and_then(|e| e.constraint()),
                Some("idempotency_keys_key_check"),
                "{key:?}"
            );
        }
    }
    store.close().await;
}
