//! The binary on PostgreSQL, as an operator starts it: an empty database, a secret, JSON logs.

use coffre_store_postgres::testing::{TEST_DATABASE_PREFIX, server_url};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};

use crate::support::{coffre, run, run_with_stdin, start};

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
        "audit chain: ok (0 events)\nledger: ok (0 accounts checked)\n"
    );
}

/// The operator's view of the ledger: `coffre verify` holds after money moved through a live
/// server, and names the account whose balance was edited behind the ledger's back.
#[tokio::test]
async fn verify_checks_the_ledger_and_names_a_tampered_account() {
    let url = empty_database().await;
    let dir = tempfile::tempdir().unwrap();
    let created = run_with_stdin(
        coffre(dir.path())
            .args([
                "admin",
                "create",
                "--email",
                "ops@coffre.test",
                "--password-stdin",
            ])
            .env("DATABASE_URL", &url),
        "a long enough password\n",
    );
    assert!(created.status.success(), "{created:?}");
    let mut command = coffre(dir.path());
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .env("COFFRE_JWT_SECRET", SECRET);
    let server = start(command).await;
    let (status, body) = server
        .request(
            "POST",
            "/v1/auth/login",
            &[],
            Some(r#"{"email": "ops@coffre.test", "password": "a long enough password"}"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let login: serde_json::Value = serde_json::from_str(&body).unwrap();
    let bearer = format!("Bearer {}", login["access_token"].as_str().unwrap());
    let auth = [("Authorization", bearer.as_str())];
    let (status, body) = server
        .request(
            "POST",
            "/v1/accounts",
            &auth,
            Some(r#"{"currency": "EUR"}"#),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let account: serde_json::Value = serde_json::from_str(&body).unwrap();
    let account_id = account["id"].as_str().unwrap().to_owned();
    let deposit =
        format!(r#"{{"account_id": "{account_id}", "amount": "12.34", "currency": "EUR"}}"#);
    let keyed = [auth[0], ("Idempotency-Key", "first-deposit")];
    let (status, body) = server
        .request("POST", "/v1/deposits", &keyed, Some(&deposit))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(server.stop_with("TERM").await.success());

    let output = run(coffre(dir.path()).arg("verify").env("DATABASE_URL", &url));
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.ends_with("ledger: ok (2 accounts checked, EUR sums to 0.00)\n"),
        "{stdout}"
    );

    let mut connection = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "UPDATE accounts SET balance = balance + 100 WHERE id = '{account_id}'"
    )))
    .execute(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();
    let output = run(coffre(dir.path()).arg("verify").env("DATABASE_URL", &url));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(stdout.contains("ledger: BROKEN"), "{stdout}");
    assert!(stdout.contains("EUR sums to 1.00"), "{stdout}");
    assert!(
        stdout.contains(&format!("mismatched accounts: {account_id}")),
        "{stdout}"
    );
}
