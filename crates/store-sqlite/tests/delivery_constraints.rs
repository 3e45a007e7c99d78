//! The webhook delivery tables refuse what the types forbid (a pending delivery without its next
//! attempt, a finished one with one, a success never attempted, an attempt with both or neither
//! of a status and a reason, an oversized body), and the outbox trigger queues each event
//! written while endpoints are enabled once for each of them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffre_store_sqlite::testing::fresh_database;
use sqlx::{Connection, SqliteConnection};

/// SQLite's message for a refused statement, which names the constraint.
async fn refused(connection: &mut SqliteConnection, sql: &str) -> String {
    let error = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *connection)
        .await
        .expect_err(sql);
    error
        .as_database_error()
        .map(|error| error.message().to_owned())
        .unwrap_or_else(|| panic!("{sql}: {error}"))
}

async fn run(connection: &mut SqliteConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *connection)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

async fn outbox(connection: &mut SqliteConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM webhook_outbox")
        .fetch_one(&mut *connection)
        .await
        .unwrap()
}

fn event(n: u8) -> String {
    format!(
        "INSERT INTO events VALUES (unhex('0000000000007000800000000000000{n}'), \
         'account.created', '{{}}', '2026-12-01T00:00:00Z')"
    )
}

#[tokio::test]
async fn delivery_rows_hold_only_what_the_types_allow() {
    let (_store, url, _dir) = fresh_database().await;
    let mut connection = SqliteConnection::connect(&url).await.unwrap();
    run(&mut connection, "PRAGMA foreign_keys = ON").await;

    run(&mut connection, &event(1)).await;
    assert_eq!(
        outbox(&mut connection).await,
        0,
        "no endpoint, nothing queued"
    );
    run(
        &mut connection,
        "INSERT INTO webhook_endpoints (id, url, event_types, enabled, secret, created_at, \
           updated_at) VALUES (unhex('000000000000700080000000000000f1'), 'https://e.test', \
           '[\"*\"]', 0, 'whsec_x', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')",
    )
    .await;
    run(&mut connection, &event(2)).await;
    assert_eq!(
        outbox(&mut connection).await,
        0,
        "a disabled endpoint wants nothing"
    );
    run(&mut connection, "UPDATE webhook_endpoints SET enabled = 1").await;
    run(&mut connection, &event(3)).await;
    assert_eq!(outbox(&mut connection).await, 1);
    run(
        &mut connection,
        "INSERT INTO webhook_endpoints (id, url, event_types, enabled, secret, created_at, \
           updated_at) VALUES (unhex('000000000000700080000000000000f2'), 'https://f.test', \
           '[\"payment.*\"]', 1, 'whsec_y', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')",
    )
    .await;
    run(&mut connection, &event(4)).await;
    assert_eq!(
        outbox(&mut connection).await,
        3,
        "a row for each enabled endpoint, whatever it subscribes to"
    );
    // The outbox rows go with their endpoint, and with their event.
    run(
        &mut connection,
        "DELETE FROM webhook_endpoints WHERE id = unhex('000000000000700080000000000000f2')",
    )
    .await;
    assert_eq!(outbox(&mut connection).await, 2);
    run(
        &mut connection,
        "DELETE FROM events WHERE id = unhex('00000000000070008000000000000004')",
    )
    .await;
    assert_eq!(outbox(&mut connection).await, 1);

    run(
        &mut connection,
        "INSERT INTO webhook_deliveries VALUES (unhex('000000000000700080000000000000d1'), \
           unhex('000000000000700080000000000000f1'), unhex('00000000000070008000000000000001'), \
           'pending', 0, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')",
    )
    .await;
    let delivery = "UPDATE webhook_deliveries SET ";
    let attempt =
        "INSERT INTO webhook_attempts VALUES (unhex('000000000000700080000000000000d1'), ";
    let now = "'2026-12-01T00:00:01Z'";
    let cases = [
        (
            format!("{delivery} next_attempt_at = NULL"),
            "webhook_deliveries_next_check",
        ),
        (
            format!("{delivery} status = 'failed'"),
            "webhook_deliveries_next_check",
        ),
        (
            format!("{delivery} status = 'succeeded', next_attempt_at = NULL"),
            "webhook_deliveries_attempts_check",
        ),
        (
            format!("{delivery} attempts = -1"),
            "webhook_deliveries_attempts_check",
        ),
        (
            format!("{delivery} status = 'lost', next_attempt_at = NULL"),
            "webhook_deliveries_status_check",
        ),
        (
            format!("{attempt} 0, {now}, 200, NULL, 1, NULL)"),
            "webhook_attempts_number_check",
        ),
        (
            format!("{attempt} 1, {now}, 200, NULL, -1, NULL)"),
            "webhook_attempts_duration_check",
        ),
        (
            format!("{attempt} 1, {now}, NULL, NULL, 1, NULL)"),
            "webhook_attempts_answer_check",
        ),
        (
            format!("{attempt} 1, {now}, 500, 'timed_out', 1, NULL)"),
            "webhook_attempts_answer_check",
        ),
        (
            format!("{attempt} 1, {now}, 99, NULL, 1, NULL)"),
            "webhook_attempts_code_check",
        ),
        (
            format!("{attempt} 1, {now}, NULL, 'lost', 1, NULL)"),
            "webhook_attempts_error_check",
        ),
        (
            format!("{attempt} 1, {now}, NULL, 'timed_out', 1, 'body')"),
            "webhook_attempts_body_check",
        ),
        (
            format!("{attempt} 1, {now}, 200, NULL, 1, printf('%.4097c', 'x'))"),
            "webhook_attempts_body_check",
        ),
        (
            "UPDATE webhook_endpoints SET lease_id = unhex('00000000000070008000000000000001')"
                .to_owned(),
            "webhook_endpoints_lease_check",
        ),
    ];
    for (sql, constraint) in cases {
        let message = refused(&mut connection, &sql).await;
        assert!(message.contains(constraint), "{sql}: {message}");
    }
    run(
        &mut connection,
        &format!("{attempt} 1, {now}, 200, NULL, 1, printf('%.4096c', 'x'))"),
    )
    .await;
    // An event's deletion (the retention purge) takes its deliveries and their attempts.
    run(
        &mut connection,
        "DELETE FROM events WHERE id = unhex('00000000000070008000000000000001')",
    )
    .await;
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM webhook_deliveries) + (SELECT count(*) FROM webhook_attempts)",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert_eq!(left, 0);
}
