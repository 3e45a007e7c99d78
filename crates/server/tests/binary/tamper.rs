//! Tampering with the audit log as a database superuser would (triggers off), on both
//! backends: `coffre verify`, `/v1/audit-events/verify` and the signed checkpoints catch it;
//! `coffre audit export` writes every event.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use coffre_domain::audit::{
    AuditAction, AuditContext, AuditEvent, ChainHead, NewAuditEvent, ResourceType,
};
use coffre_domain::time::Timestamp;
use coffre_store_postgres::testing::{TEST_DATABASE_PREFIX, server_url};
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection, SqliteConnection};

use crate::support::{coffre, run, run_with_stdin, start};

const SECRET: &str = "a-secret-of-at-least-thirty-two-bytes";
const EMAIL: &str = "ops@coffre.test";
const PASSWORD: &str = "a long enough password";

#[derive(Debug, Clone, Copy)]
enum Kind {
    Sqlite,
    Postgres,
}

/// One backend's database in a temporary directory that also holds the data directory.
struct Setup {
    kind: Kind,
    dir: tempfile::TempDir,
    url: String,
}

impl Setup {
    async fn new(kind: Kind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = match kind {
            Kind::Sqlite => format!("sqlite://{}/coffre-data/coffre.db", dir.path().display()),
            Kind::Postgres => empty_postgres_database().await,
        };
        Self { kind, dir, url }
    }

    fn command(&self) -> Command {
        let mut command = coffre(self.dir.path());
        command
            .env("DATABASE_URL", &self.url)
            .env("COFFRE_JWT_SECRET", SECRET);
        command
    }

    fn checkpoints(&self) -> PathBuf {
        self.dir.path().join("coffre-data/checkpoints.jsonl")
    }

    fn verify(&self, checkpoints: Option<&Path>) -> (bool, String) {
        let mut command = self.command();
        command.arg("verify");
        if let Some(path) = checkpoints {
            command.arg("--checkpoints").arg(path);
        }
        let output = run(&mut command);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(matches!(output.status.code(), Some(0 | 1)), "{output:?}");
        (output.status.success(), stdout)
    }

    /// Runs `statements` with the audit table's triggers out of the way, as a superuser (or
    /// anyone who can write the SQLite file) can.
    async fn tamper(&self, statements: &[&str]) {
        match self.kind {
            Kind::Sqlite => {
                let mut connection = SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(
                    "DROP TRIGGER IF EXISTS audit_events_no_update; \
                     DROP TRIGGER IF EXISTS audit_events_no_delete; \
                     DROP TRIGGER IF EXISTS audit_events_no_replace",
                )
                .execute(&mut connection)
                .await
                .unwrap();
                for sql in statements {
                    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                        .execute(&mut connection)
                        .await
                        .unwrap();
                }
                connection.close().await.unwrap();
            }
            Kind::Postgres => {
                let mut connection = PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql("ALTER TABLE audit_events DISABLE TRIGGER ALL")
                    .execute(&mut connection)
                    .await
                    .unwrap();
                for sql in statements {
                    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                        .execute(&mut connection)
                        .await
                        .unwrap();
                }
                sqlx::raw_sql(
                    "ALTER TABLE audit_events ENABLE TRIGGER ALL; \
                     ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_append_only",
                )
                .execute(&mut connection)
                .await
                .unwrap();
                connection.close().await.unwrap();
            }
        }
    }

    /// Replaces the whole chain with `count` forged events, correctly linked and hashed, and
    /// moves the head to match: the database alone cannot tell.
    async fn forge_chain(&self, count: usize) {
        let forged = (0..count)
            .map(|n| NewAuditEvent {
                action: AuditAction::Deposit,
                resource_type: ResourceType::Account,
                resource_id: Some(format!("forged-{n}")),
                old_value: None,
                new_value: None,
                context: AuditContext::default(),
            })
            .collect();
        let (events, head) = AuditEvent::chain(ChainHead::EMPTY, forged, Timestamp::now()).unwrap();
        self.tamper(&["DELETE FROM audit_events"]).await;
        match self.kind {
            Kind::Sqlite => {
                let mut connection = SqliteConnection::connect(&self.url).await.unwrap();
                for event in &events {
                    sqlx::query(
                        "INSERT INTO audit_events (seq, id, occurred_at, action, resource_type, \
                         resource_id, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(event.seq)
                    .bind(event.id.as_uuid())
                    .bind(event.occurred_at.as_datetime())
                    .bind(event.action.as_str())
                    .bind(event.resource_type.as_str())
                    .bind(&event.resource_id)
                    .bind(event.prev_hash.0.to_vec())
                    .bind(event.hash.0.to_vec())
                    .execute(&mut connection)
                    .await
                    .unwrap();
                }
                sqlx::query("UPDATE audit_chain_head SET seq = ?, hash = ?")
                    .bind(head.seq)
                    .bind(head.hash.0.to_vec())
                    .execute(&mut connection)
                    .await
                    .unwrap();
                connection.close().await.unwrap();
            }
            Kind::Postgres => {
                let mut connection = PgConnection::connect(&self.url).await.unwrap();
                for event in &events {
                    sqlx::query(
                        "INSERT INTO audit_events (seq, id, occurred_at, action, resource_type, \
                         resource_id, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(event.seq)
                    .bind(event.id.as_uuid())
                    .bind(event.occurred_at.as_datetime())
                    .bind(event.action.as_str())
                    .bind(event.resource_type.as_str())
                    .bind(&event.resource_id)
                    .bind(event.prev_hash.0.to_vec())
                    .bind(event.hash.0.to_vec())
                    .execute(&mut connection)
                    .await
                    .unwrap();
                }
                sqlx::query("UPDATE audit_chain_head SET seq = $1, hash = $2")
                    .bind(head.seq)
                    .bind(head.hash.0.to_vec())
                    .execute(&mut connection)
                    .await
                    .unwrap();
                connection.close().await.unwrap();
            }
        }
    }
}

async fn empty_postgres_database() -> String {
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

/// Money moved through a live server; returns the audit events it listed (newest first) and
/// the number of events in the chain once it stopped.
async fn some_history(setup: &Setup) -> (Vec<Value>, i64) {
    let created = run_with_stdin(
        setup
            .command()
            .args(["admin", "create", "--email", EMAIL, "--password-stdin"]),
        PASSWORD,
    );
    assert!(created.status.success(), "{created:?}");
    let mut command = setup.command();
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = start(command).await;
    let bearer = login(&server).await;
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
    let account: Value = serde_json::from_str(&body).unwrap();
    let deposit = format!(
        r#"{{"account_id": "{}", "amount": "12.34", "currency": "EUR"}}"#,
        account["id"].as_str().unwrap()
    );
    let keyed = [auth[0], ("Idempotency-Key", "first-deposit")];
    let (status, body) = server
        .request("POST", "/v1/deposits", &keyed, Some(&deposit))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server
        .request("GET", "/v1/audit-events?limit=100", &auth, None)
        .await;
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).unwrap();
    let listed = listed["data"].as_array().unwrap().clone();
    assert!(server.stop_with("TERM").await.success());
    let (holds, stdout) = setup.verify(None);
    assert!(holds, "{stdout}");
    let events = stdout
        .strip_prefix("audit chain: ok (")
        .and_then(|rest| rest.split_once(' '))
        .and_then(|(count, _)| count.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    (listed, events)
}

async fn login(server: &crate::support::Server) -> String {
    let credentials = format!(r#"{{"email": "{EMAIL}", "password": "{PASSWORD}"}}"#);
    let (status, body) = server
        .request("POST", "/v1/auth/login", &[], Some(&credentials))
        .await;
    assert_eq!(status, 200, "{body}");
    let login: Value = serde_json::from_str(&body).unwrap();
    format!("Bearer {}", login["access_token"].as_str().unwrap())
}

/// `/v1/audit-events/verify` on a server started on the (tampered) database.
async fn http_verify(setup: &Setup) -> Value {
    let mut command = setup.command();
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = start(command).await;
    let bearer = login(&server).await;
    let (status, body) = server
        .request(
            "GET",
            "/v1/audit-events/verify",
            &[("Authorization", bearer.as_str())],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(server.stop_with("TERM").await.success());
    serde_json::from_str(&body).unwrap()
}

fn export(setup: &Setup) -> Vec<Value> {
    let out = setup.dir.path().join("export.jsonl");
    let output: Output = run(setup
        .command()
        .args(["audit", "export", "--output"])
        .arg(&out));
    assert!(output.status.success(), "{output:?}");
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn deleting_the_newest_events_is_caught(kind: Kind) {
    let setup = Setup::new(kind).await;
    let (_, events) = some_history(&setup).await;
    let (holds, stdout) = setup.verify(Some(&setup.checkpoints()));
    assert!(holds, "{stdout}");
    assert!(stdout.contains("audit checkpoints: ok ("), "{stdout}");

    let cut = events - 1;
    setup
        .tamper(&[&format!("DELETE FROM audit_events WHERE seq >= {cut}")])
        .await;
    let (holds, stdout) = setup.verify(None);
    assert!(!holds, "{stdout}");
    assert!(
        stdout.contains(&format!("audit chain: BROKEN at seq {cut}")),
        "{stdout}"
    );
    let (holds, stdout) = setup.verify(Some(&setup.checkpoints()));
    assert!(!holds, "{stdout}");
    assert!(stdout.contains("audit checkpoints: BROKEN"), "{stdout}");

    // Served again: the login's event lands after the head, past the hole.
    let report = http_verify(&setup).await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_bad_seq"], cut, "{report}");
}

async fn a_gap_in_seq_is_caught(kind: Kind) {
    let setup = Setup::new(kind).await;
    some_history(&setup).await;
    setup
        .tamper(&["DELETE FROM audit_events WHERE seq = 2"])
        .await;
    let (holds, stdout) = setup.verify(None);
    assert!(!holds, "{stdout}");
    assert!(stdout.contains("audit chain: BROKEN at seq 2"), "{stdout}");
}

async fn a_rewritten_and_rehashed_chain_fails_its_checkpoints(kind: Kind) {
    let setup = Setup::new(kind).await;
    let (_, events) = some_history(&setup).await;
    setup.forge_chain(usize::try_from(events).unwrap()).await;
    // The database alone is consistent again...
    let (holds, stdout) = setup.verify(None);
    assert!(holds, "{stdout}");
    // ...but not with what was signed before.
    let (holds, stdout) = setup.verify(Some(&setup.checkpoints()));
    assert!(!holds, "{stdout}");
    assert!(
        stdout.contains("audit checkpoints: BROKEN (the chain no longer holds"),
        "{stdout}"
    );
}

async fn a_checkpoint_with_a_bad_signature_fails(kind: Kind) {
    let setup = Setup::new(kind).await;
    some_history(&setup).await;
    let text = std::fs::read_to_string(setup.checkpoints()).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(!lines.is_empty(), "serve wrote no checkpoint");
    let line = lines.last_mut().unwrap();
    let signature = line["signature"].as_str().unwrap();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    line["signature"] = Value::String(format!("{flipped}{}", &signature[1..]));
    let edited = setup.dir.path().join("edited.jsonl");
    let body: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&edited, body).unwrap();
    let (holds, stdout) = setup.verify(Some(&edited));
    assert!(!holds, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "audit checkpoints: BROKEN (line {}: its signature does not verify)",
            lines.len()
        )),
        "{stdout}"
    );

    // Pinned to another key, even the genuine file fails.
    let other = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let output = run(setup
        .command()
        .arg("verify")
        .arg("--checkpoints")
        .arg(setup.checkpoints())
        .args(["--checkpoint-public-key", other]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stdout.contains("not pinned"), "{stdout}");
}

async fn export_round_trips_every_event(kind: Kind) {
    let setup = Setup::new(kind).await;
    let (listed, events) = some_history(&setup).await;
    let exported = export(&setup);
    let seqs: Vec<i64> = exported
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=events).collect::<Vec<_>>());
    // Exactly what the API showed, field for field.
    assert!(!listed.is_empty());
    for event in &listed {
        let seq = usize::try_from(event["seq"].as_i64().unwrap()).unwrap();
        assert_eq!(&exported[seq - 1], event);
    }
    // Linked: each prev_hash is the hash before it.
    for pair in exported.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    // To standard output as well, and the same bytes.
    let output = run(setup.command().args(["audit", "export"]));
    assert!(output.status.success(), "{output:?}");
    let file = std::fs::read(setup.dir.path().join("export.jsonl")).unwrap();
    assert_eq!(output.stdout, file);
}

macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Kind::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Kind::Postgres).await;
                }
            )+
        }
    };
}

on_both_backends!(
    deleting_the_newest_events_is_caught,
    a_gap_in_seq_is_caught,
    a_rewritten_and_rehashed_chain_fails_its_checkpoints,
    a_checkpoint_with_a_bad_signature_fails,
    export_round_trips_every_event,
);
