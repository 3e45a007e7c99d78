//! The binary on PostgreSQL, as an operator starts it: an empty database, a secret, JSON logs.

use coffre_store_postgres::testing::{TEST_DATABASE_PREFIX, server_url};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};

use crate::support::{coffre, run, start};

const SECRET: &str = "a-secret-of-at-least-thirty-two-bytes";

/// A new database with nothing in it, named so the postgres backend's test support drops it
/// once it is old. Returns its URL.
async fn empty_database() -> String {
    let server: PgConnectOptions = server_url().parse().unwrap();
    let mut admin = PgConnection::connect_with(&server).await.unwrap();
    let name = format!("{TEST_DATABASE_PREFIX}{}", uuid::Uuid::now_v7().simple());
    sqlx::raw_sql(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    server.database(&name).to_url_lossy().to_string()
}

#[tokio::test]
async fn it_serves_an_empty_postgres_database_with_json_logs() {
    let url = empty_database().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = coffre(dir.path());
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .env("COFFRE_JWT_SECRET", SECRET)
        .env("COFFRE_LOG_FORMAT", "json");
    let server = start(command).await;
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.get("/healthz").await.0, 200);
    for line in &server.log {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
        assert!(event.is_object(), "{line}");
        assert!(!line.contains(SECRET), "{line}");
    }
    assert!(server.stop_with("TERM").await.success());
    assert!(
        !dir.path().join("coffre-data").exists(),
        "PostgreSQL needs no data directory"
    );

    // The server migrated it: migrate finds nothing to do, verify finds an empty chain, and
    // neither needs the secret.
    let output = run(coffre(dir.path())
        .arg("migrate")
        .args(["--database-url", &url]));
    assert!(output.status.success(), "{output:?}");
    let output = run(coffre(dir.path()).arg("verify").env("DATABASE_URL", &url));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "audit chain: ok (0 events)\n"
    );
}
