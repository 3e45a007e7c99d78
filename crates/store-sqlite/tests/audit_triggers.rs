//! The database file itself refuses to change the audit log, for any connection; and when a
//! row is changed anyway, behind the triggers, verification names it.

// Helpers shared by the tests below fail the test the same way the tests do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffre_domain::audit::{AuditAction, AuditContext, NewAuditEvent, ResourceType};
use coffre_store::{AuditFilter, PageLimit, Store};
use coffre_store_sqlite::SqliteStore;
use coffre_store_sqlite::testing::{TempDir, fresh_database};
use serde_json::json;
use sqlx::{Connection, SqliteConnection};

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

/// The store, a raw connection of its own to the same file, and the file's directory.
async fn store_with_five_events() -> (SqliteStore, SqliteConnection, TempDir) {
    let (store, url, dir) = fresh_database().await;
    store
        .record_audit((1..=5).map(deposit).collect())
        .await
        .unwrap();
    let connection = SqliteConnection::connect(&url).await.unwrap();
    (store, connection, dir)
}

async fn refused(connection: &mut SqliteConnection, sql: &'static str) -> String {
    let error = sqlx::raw_sql(sql)
        .execute(&mut *connection)
        .await
        .expect_err(sql);
    error.to_string()
}

#[tokio::test]
async fn update_delete_and_overwrite_are_refused() {
    let (store, mut connection, _dir) = store_with_five_events().await;
    let cases = [
        (
            "UPDATE audit_events SET resource_id = 'x' WHERE seq = 3",
            "refuses UPDATE",
        ),
        ("DELETE FROM audit_events WHERE seq = 5", "refuses DELETE"),
        ("DELETE FROM audit_events", "refuses DELETE"),
        (
            "INSERT OR REPLACE INTO audit_events SELECT * FROM audit_events WHERE seq = 2",
            "refuses to overwrite an event",
        ),
        (
            "INSERT INTO audit_events SELECT * FROM audit_events WHERE seq = 1 \
             ON CONFLICT (seq) DO UPDATE SET resource_id = 'x'",
            "refuses to overwrite an event",
        ),
        ("DELETE FROM audit_chain_head", "refuses DELETE"),
    ];
    for (sql, expected) in cases {
        let message = refused(&mut connection, sql).await;
        assert!(
            message.contains(expected) && message.contains("the audit log is append-only"),
            "{sql}: {message}"
        );
    }

    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events_checked, 5);
}

async fn tamper(connection: &mut SqliteConnection, sql: &'static str) {
    // Dropping the triggers is open to anyone who can write the file; the hash chain is what
    // still catches the edit.
    sqlx::raw_sql(
        "DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete; \
         DROP TRIGGER IF EXISTS audit_events_no_replace",
    )
    .execute(&mut *connection)
    .await
    .unwrap();
    sqlx::raw_sql(sql).execute(&mut *connection).await.unwrap();
}

#[tokio::test]
async fn verify_names_the_first_edited_event() {
    let (store, mut connection, _dir) = store_with_five_events().await;
    tamper(
        &mut connection,
        r#"UPDATE audit_events SET new_value = '{"amount":"1000.00","n":3}' WHERE seq = 3"#,
    )
    .await;
    let report = store.verify_audit_chain().await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, Some(3));
    assert_eq!(report.events_checked, 3);
}

#[tokio::test]
async fn verify_names_a_deleted_event() {
    let (store, mut connection, _dir) = store_with_five_events().await;
    tamper(&mut connection, "DELETE FROM audit_events WHERE seq = 2").await;
    let report = store.verify_audit_chain().await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, Some(2));
}

#[tokio::test]
async fn verify_names_an_event_the_domain_cannot_read() {
    let (store, mut connection, _dir) = store_with_five_events().await;
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
    let (store, mut connection, _dir) = store_with_five_events().await;
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
    let (store, mut connection, _dir) = store_with_five_events().await;
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
    let (store, mut connection, _dir) = store_with_five_events().await;
    // Renumbered past a hole, hashes untouched.
    tamper(
        &mut connection,
        "UPDATE audit_events SET seq = seq + 10 WHERE seq = 5",
    )
    .await;
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!((report.ok, report.first_bad_seq), (false, Some(5)));
}
