//! The binary on PostgreSQL, as an operator starts it: an empty database, a secret, JSON logs.

use coffre_store_postgres::testing::{TEST_DATABASE_PREFIX, server_url};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};

use crate::support::{coffre, run, run_with_stdin, start};

pub(crate) const SECRET: &str = "a-secret-of-at-least-thirty-two-bytes";

/// A new database with nothing in it, named so the postgres backend's test support drops it
/// once it is old. Returns its URL.
pub(crate) async fn empty_database() -> String {
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
    // With PostgreSQL the data directory holds only the audit checkpoints and their key.
    let mut kept: Vec<String> = std::fs::read_dir(dir.path().join("coffre-data"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept, ["checkpoint-key", "checkpoints.jsonl"]);

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

/// Two `coffre serve` processes on one PostgreSQL database and one Redis behave as one service:
/// they share one rate-limit budget, and a storm of transfers split across both conserves money
/// (checked through the API and by `coffre verify`). The client's address arrives through a
/// trusted proxy's `X-Forwarded-For`, fresh each run so budgets left in Redis by earlier runs
/// do not count.
#[tokio::test]
async fn two_instances_share_limits_and_conserve_money() {
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
    let instance = || {
        let mut command = coffre(dir.path());
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", &url)
            .env("COFFRE_JWT_SECRET", SECRET)
            .env("REDIS_URL", "redis://127.0.0.1:6379")
            .env("COFFRE_RATE_LIMIT_AUTH", "4/min")
            .env("COFFRE_TRUSTED_PROXIES", "127.0.0.1/32");
        start(command)
    };
    let (a, b) = (instance().await, instance().await);
    let id = uuid::Uuid::now_v7().into_bytes();
    let client = format!("198.18.{}.{}", id[14], id[15]);
    let forwarded = [("X-Forwarded-For", client.as_str())];
    let login = r#"{"email": "ops@coffre.test", "password": "a long enough password"}"#;

    let mut token = String::new();
    for server in [&a, &b, &a, &b] {
        let (status, body) = server
            .request("POST", "/v1/auth/login", &forwarded, Some(login))
            .await;
        assert_eq!(status, 200, "{body}");
        let pair: serde_json::Value = serde_json::from_str(&body).unwrap();
        token = pair["access_token"].as_str().unwrap().to_owned();
    }
    for server in [&a, &b] {
        let (status, body) = server
            .request("POST", "/v1/auth/login", &forwarded, Some(login))
            .await;
        assert_eq!(status, 429, "one budget across both instances: {body}");
    }

    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let mut accounts = Vec::new();
    for server in [&a, &b] {
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
        accounts.push(account["id"].as_str().unwrap().to_owned());
    }
    let keyed = |key: &'static str| [auth[0], ("Idempotency-Key", key)];
    let deposit = format!(
        r#"{{"account_id": "{}", "amount": "100.00", "currency": "EUR"}}"#,
        accounts[0]
    );
    let (status, body) = a
        .request(
            "POST",
            "/v1/deposits",
            &keyed("storm-deposit"),
            Some(&deposit),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // One key sent to both instances at once, ten times: each key moves money once, and both
    // instances answer it with the same transfer (the later insert of the key's record waits
    // for the earlier commit, and its batch retries into a replay).
    let twin = format!(
        r#"{{"from_account_id": "{}", "to_account_id": "{}", "amount": "0.01", "currency": "EUR"}}"#,
        accounts[0], accounts[1]
    );
    for n in 0..10 {
        let key = format!("twin-{n}");
        let headers = [auth[0], ("Idempotency-Key", key.as_str())];
        let ((first, one), (second, other)) = tokio::join!(
            a.request("POST", "/v1/transfers", &headers, Some(&twin)),
            b.request("POST", "/v1/transfers", &headers, Some(&twin)),
        );
        assert_eq!((first, second), (201, 201), "{one} / {other}");
        assert_eq!(one, other);
    }
    let (status, body) = b
        .request("GET", &format!("/v1/accounts/{}", accounts[1]), &auth, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""balance":"0.10""#), "{body}");

    let transfers: Vec<(usize, String, String)> = (0..40_usize)
        .map(|n| {
            let (from, to) = if n % 3 == 0 { (1, 0) } else { (0, 1) };
            let body = format!(
                r#"{{"from_account_id": "{}", "to_account_id": "{}", "amount": "7.00", "currency": "EUR"}}"#,
                accounts[from], accounts[to]
            );
            (n, body, format!("storm-{n}"))
        })
        .collect();
    let responses = futures_util::future::join_all(transfers.iter().map(|(n, body, key)| {
        let server = if n % 2 == 0 { &a } else { &b };
        let headers = [auth[0], ("Idempotency-Key", key.as_str())];
        async move {
            server
                .request("POST", "/v1/transfers", &headers, Some(body))
                .await
        }
    }))
    .await;
    let mut moved = 0;
    for (status, body) in &responses {
        match status {
            201 => moved += 1,
            422 => assert!(body.contains("INSUFFICIENT_FUNDS"), "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert!(moved > 0);
    let mut total = 0_i64;
    for (server, account) in [(&a, &accounts[0]), (&b, &accounts[1])] {
        let (status, body) = server
            .request("GET", &format!("/v1/accounts/{account}"), &auth, None)
            .await;
        assert_eq!(status, 200, "{body}");
        let account: serde_json::Value = serde_json::from_str(&body).unwrap();
        total += account["balance"]
            .as_str()
            .unwrap()
            .replace('.', "")
            .parse::<i64>()
            .unwrap();
    }
    assert_eq!(total, 10_000, "100.00 EUR, all of it, across both accounts");
    assert!(a.stop_with("TERM").await.success());
    assert!(b.stop_with("TERM").await.success());

    let output = run(coffre(dir.path()).arg("verify").env("DATABASE_URL", &url));
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.ends_with("ledger: ok (3 accounts checked, EUR sums to 0.00)\n"),
        "{stdout}"
    );
}
