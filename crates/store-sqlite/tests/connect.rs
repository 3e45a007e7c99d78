//! Opening the database file: created where it is missing, refused where it cannot be.

use coffre_store::{AuditFilter, PageLimit, Store, StoreError};
use coffre_store_sqlite::SqliteStore;

#[tokio::test]
async fn a_missing_file_and_its_directories_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nested/data/coffre.db");
    let url = format!("sqlite://{}", file.display());

    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    assert!(file.is_file());
    store
        .record_audit(vec![coffre_domain::audit::NewAuditEvent {
            action: coffre_domain::audit::AuditAction::Login,
            resource_type: coffre_domain::audit::ResourceType::Session,
            resource_id: None,
            old_value: None,
            new_value: None,
            context: Default::default(),
        }])
        .await
        .unwrap();
    store.close().await;

    // Reopened, the database still holds what was committed.
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let page = store
        .list_audit_events(&AuditFilter::default(), PageLimit::default(), None)
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    assert!(store.verify_audit_chain().await.unwrap().ok);
}

#[tokio::test]
async fn a_path_that_cannot_hold_a_database_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_directory = dir.path().join("file");
    std::fs::write(&not_a_directory, b"not a directory").unwrap();
    let url = format!("sqlite://{}/coffre.db", not_a_directory.display());
    let error = SqliteStore::connect(&url).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("coffre.db");
    std::fs::write(&file, vec![b'x'; 4096]).unwrap();
    let error = SqliteStore::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap_err();
    assert!(!matches!(error, StoreError::Constraint { .. }), "{error:?}");
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let (store, _dir) = coffre_store_sqlite::testing::fresh_store().await;
    store.ping().await.unwrap();
    store.close().await;
    let error = store.ping().await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}
