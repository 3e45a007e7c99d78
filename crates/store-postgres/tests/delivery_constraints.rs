//! The webhook delivery tables refuse what the types forbid (a pending delivery without its next
//! attempt, a finished one with one, a success never attempted, an attempt with both or neither
//! of a status and a reason, an oversized body), and the outbox trigger queues each event
//! written while endpoints are enabled once for each of them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffre_store_postgres::testing::fresh_database;
use sqlx::{Connection, PgConnection};

async fn refused(connection: &mut PgConnection, sql: &str) -> String {
    let error = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
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

async fn outbox(connection: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM webhook_outbox")
        .fetch_one(&mut *connection)
        .await
        .unwrap()
}

const EVENT: &str = "INSERT INTO events VALUES ('00000000-0000-7000-8000-0000000000e{N}', \
                     'account.created', '{}', now())";

#[tokio::test]
async fn delivery_rows_hold_only_what_the_types_allow() {
    let (_store, url) = fresh_database().await;
    let mut connection = PgConnection::connect(&url).await.unwrap();
    let event = |n: u8| EVENT.replace("{N}", &n.to_string());

    sqlx::raw_sql(sqlx::AssertSqlSafe(event(1)))
        .execute(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        outbox(&mut connection).await,
        0,
        "no endpoint, nothing queued"
    );
    sqlx::raw_sql(
        "INSERT INTO webhook_endpoints (id, url, event_types, enabled, secret, created_at, \
           updated_at) VALUES ('00000000-0000-7000-8000-0000000000f1', 'https://e.test', \
           '[\"*\"]', false, 'whsec_x', now(), now())",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(event(2)))
        .execute(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        outbox(&mut connection).await,
        0,
        "a disabled endpoint wants nothing"
    );
    sqlx::raw_sql("UPDATE webhook_endpoints SET enabled = true")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(event(3)))
        .execute(&mut connection)
        .await
        .unwrap();
    assert_eq!(outbox(&mut connection).await, 1);
    sqlx::raw_sql(
        "INSERT INTO webhook_endpoints (id, url, event_types, enabled, secret, created_at, \
           updated_at) VALUES ('00000000-0000-7000-8000-0000000000f2', 'https://f.test', \
           '[\"payment.*\"]', true, 'whsec_y', now(), now())",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(event(4)))
        .execute(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        outbox(&mut connection).await,
        3,
        "a row for each enabled endpoint, whatever it subscribes to"
    );
    // The outbox rows go with their endpoint, and with their event.
    sqlx::raw_sql(
        "DELETE FROM webhook_endpoints WHERE id = '00000000-0000-7000-8000-0000000000f2'",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    assert_eq!(outbox(&mut connection).await, 2);
    sqlx::raw_sql("DELETE FROM events WHERE id = '00000000-0000-7000-8000-0000000000e4'")
        .execute(&mut connection)
        .await
        .unwrap();
    assert_eq!(outbox(&mut connection).await, 1);

    sqlx::raw_sql(
        "INSERT INTO webhook_deliveries VALUES ('00000000-0000-7000-8000-0000000000d1', \
           '00000000-0000-7000-8000-0000000000f1', '00000000-0000-7000-8000-0000000000e1', \
           'pending', 0, now(), now(), now())",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let delivery = "UPDATE webhook_deliveries SET ";
    let attempt = "INSERT INTO webhook_attempts VALUES ('00000000-0000-7000-8000-0000000000d1', ";
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
            format!("{attempt} 0, now(), 200, NULL, 1, NULL)"),
            "webhook_attempts_number_check",
        ),
        (
            format!("{attempt} 1, now(), 200, NULL, -1, NULL)"),
            "webhook_attempts_duration_check",
        ),
        (
            format!("{attempt} 1, now(), NULL, NULL, 1, NULL)"),
            "webhook_attempts_answer_check",
        ),
        (
            format!("{attempt} 1, now(), 500, 'timed_out', 1, NULL)"),
            "webhook_attempts_answer_check",
        ),
        (
            format!("{attempt} 1, now(), 99, NULL, 1, NULL)"),
            "webhook_attempts_code_check",
        ),
        (
            format!("{attempt} 1, now(), NULL, 'lost', 1, NULL)"),
            "webhook_attempts_error_check",
        ),
        (
            format!("{attempt} 1, now(), NULL, 'timed_out', 1, 'body')"),
            "webhook_attempts_body_check",
        ),
        (
            format!("{attempt} 1, now(), 200, NULL, 1, repeat('x', 4097))"),
            "webhook_attempts_body_check",
        ),
        (
            "UPDATE webhook_endpoints SET lease_id = '00000000-0000-7000-8000-000000000001'"
                .to_owned(),
            "webhook_endpoints_lease_check",
        ),
    ];
    for (sql, constraint) in cases {
        assert_eq!(refused(&mut connection, &sql).await, constraint, "{sql}");
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "{attempt} 1, now(), 200, NULL, 1, repeat('x', 4096))"
    )))
    .execute(&mut connection)
    .await
    .unwrap();
    // An event's deletion (the retention purge) takes its deliveries and their attempts.
    sqlx::raw_sql("DELETE FROM events WHERE id = '00000000-0000-7000-8000-0000000000e1'")
        .execute(&mut connection)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM webhook_deliveries) + (SELECT count(*) FROM webhook_attempts)",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert_eq!(left, 0);
}
