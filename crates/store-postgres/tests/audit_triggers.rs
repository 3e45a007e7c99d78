//! The database itself refuses to change the audit log, even for the table's owner (a superuser
//! here); and when a row is changed anyway, behind the triggers, verification names it.

// Helpers shared by the tests below fail the test the same way the tests do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffre_domain::audit::{AuditAction, AuditContext, NewAuditEvent, ResourceType};
use coffre_store::{AuditFilter, PageLimit, Store};
use coffre_store_postgres::PgStore;
use coffre_store_postgres::testing::fresh_database;
use serde_json::json;
use sqlx::{Connection, PgConnection};

fn deposit(n: u32) -> NewAuditEvent {
    NewAuditEvent {
        action: AuditAction::Deposit,
        resource_type: ResourceType::Account,
        resource_id: Some(format!("a-{n}")),
        old_value: None,
        new_value: Some(json!({"amount": "10.00", "n": n})),
        context: AuditContext::default(),
    }
}

async fn store_with_five_events() -> (PgStore, PgConnection) {
    let (store, url) = fresh_database().await;
    store
        .record_audit((1..=5).map(deposit).collect())
        .await
        .unwrap();
    let connection = PgConnection::connect(&url).await.unwrap();
    (store, connection)
}

async fn refused(connection: &mut PgConnection, sql: &'static str) -> String {
    let error = sqlx::raw_sql(sql)
        .execute(&mut *connection)
        .await
        .expect_err(sql);
    error.to_string()
}

#[tokio::test]
async fn update_delete_and_truncate_are_refused_even_for_a_superuser() {
    let (store, mut connection) = store_with_five_events().await;
    let is_superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut connection)
            .await
            .unwrap();
    assert!(
        is_superuser,
        "this test means to show the triggers bind a superuser"
    );

    let cases = [
        (
            "UPDATE audit_events SET resource_id = 'x' WHERE seq = 3",
            "UPDATE",
        ),
        (
            "UPDATE audit_events SET action = 'LOGIN' WHERE false",
            "UPDATE",
        ),
        ("DELETE FROM audit_events WHERE seq = 5", "DELETE"),
        ("DELETE FROM audit_events", "DELETE"),
        ("TRUNCATE audit_events", "TRUNCATE"),
        ("TRUNCATE audit_events, audit_chain_head", "TRUNCATE"),
        (
            "INSERT INTO audit_events SELECT * FROM audit_events WHERE seq = 1 \
             ON CONFLICT (seq) DO UPDATE SET resource_id = 'x'",
            "UPDATE",
        ),
        ("DELETE FROM audit_chain_head", "DELETE"),
    ];
    for (sql, operation) in cases {
        let message = refused(&mut connection, sql).await;
        assert!(
            message.contains(&format!(
                "refuses {operation}: the audit log is append-only"
            )),
            "{sql}: {message}"
        );
    }

    // Replication mode silences ordinary triggers, not these.
    sqlx::raw_sql("SET session_replication_role = replica")
        .execute(&mut connection)
        .await
        .unwrap();
    let message = refused(&mut connection, "DELETE FROM audit_events").await;
    assert!(message.contains("append-only"), "{message}");

    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events_checked, 5);
}

async fn tamper(connection: &mut PgConnection, sql: &'static str) {
    // Only a superuser can switch the trigger off; this test plays one to show that the hash
    // chain still catches what the trigger would have refused.
    sqlx::raw_sql("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        .execute(&mut *connection)
        .await
        .unwrap();
    sqlx::raw_sql(sql).execute(&mut *connection).await.unwrap();
    sqlx::raw_sql("ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_append_only")
        .execute(&mut *connection)
        .await
        .unwrap();
}

#[tokio::test]
async fn verify_names_the_first_edited_event() {
    let (store, mut connection) = store_with_five_events().await;
    tamper(
        &mut connection,
        r#"UPDATE audit_events SET new_value = '{"amount": "1000.00", "n": 3}' WHERE seq = 3"#,
    )
    .await;
    let report = store.verify_audit_chain().await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, Some(3));
    assert_eq!(report.events_checked, 3);
}

#[tokio::test]
async fn verify_names_a_deleted_event() {
    let (store, mut connection) = store_with_five_events().await;
    tamper(&mut connection, "DELETE FROM audit_events WHERE seq = 2").await;
    let report = store.verify_audit_chain().await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, Some(2));
}

#[tokio::test]
async fn verify_names_an_event_the_domain_cannot_read() {
    let (store, mut connection) = store_with_five_events().await;
    tamper(
        &mut connection,
        "UPDATE audit_events SET action = 'MINT' WHERE seq = 4",
    )
    .await;
    let report = store.verify_audit_chain().await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, Some(4));
    assert_eq!(report.events_checked, 4);

    // Listing it is a server fault, not a panic.
    let listed = store
        .list_audit_events(&AuditFilter::default(), PageLimit::default(), None)
        .await;
    assert!(listed.is_err());
}

#[tokio::test]
async fn a_reordered_json_value_still_verifies() {
    let (store, mut connection) = store_with_five_events().await;
    // The same JSON with its keys in another order and other white space: the hash covers the
    // canonical form, so this is not an edit.
    tamper(
        &mut connection,
        r#"UPDATE audit_events SET new_value = '{ "n": 2,  "amount": "10.00" }' WHERE seq = 2"#,
    )
    .await;
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn verify_names_the_first_of_the_newest_events_deleted() {
    let (store, mut connection) = store_with_five_events().await;
    // What remains still links: only the head row shows the chain stops short.
    tamper(&mut connection, "DELETE FROM audit_events WHERE seq >= 4").await;
    let report = store.verify_audit_chain().await.unwrap();
    assert!(!report.ok, "{report:?}");
    assert_eq!(report.first_bad_seq, Some(4));

    tamper(&mut connection, "DELETE FROM audit_events").await;
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!((report.ok, report.first_bad_seq), (false, Some(1)));
}

#[tokio::test]
async fn verify_names_a_gap_in_seq() {
    let (store, mut connection) = store_with_five_events().await;
    // Renumbered past a hole, hashes untouched.
    tamper(
        &mut connection,
        "UPDATE audit_events SET seq = seq + 10 WHERE seq = 5",
    )
    .await;
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!((report.ok, report.first_bad_seq), (false, Some(5)));
}
