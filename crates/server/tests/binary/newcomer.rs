//! `coffre` with no settings at all, in an empty directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::support::{coffre, run, send, start};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_newcomer_runs_it_with_no_settings() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("coffre-data");
    // Port 0 rather than the default 8080, which a parallel test run may hold.
    let mut command = coffre(dir.path());
    command.args(["--listen", "127.0.0.1:0"]);
    let server = start(command).await;

    let secret = fs::read_to_string(data.join("jwt-secret")).unwrap();
    assert_eq!(secret.len(), 64, "32 random bytes, hex-encoded");
    assert_eq!(mode(&data.join("jwt-secret")), 0o600);
    assert_eq!(mode(&data), 0o700);
    assert!(data.join("coffre.db").is_file());
    let log = server.log.join("\n");
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("generated a JWT signing secret"), "{log}");
    assert!(log.contains("coffre-data/jwt-secret"), "{log}");
    assert!(!log.contains(&secret), "the secret was logged");
    let port = server.addr.strip_prefix("127.0.0.1:").unwrap();
    assert_ne!(port.parse::<u16>().unwrap(), 0, "{}", server.addr);
    assert!(
        server
            .log
            .last()
            .unwrap()
            .contains("listening on 127.0.0.1:"),
        "{log}"
    );

    let (status, body) = server.get("/healthz").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 200, "{body}");

    let stopping = Instant::now();
    let status = server.stop_with("TERM").await;
    assert!(status.success(), "{status:?}");
    assert!(stopping.elapsed() < Duration::from_secs(5));

    // A second start keeps the key rather than invalidating every token, and says nothing
    // about generating one.
    let mut command = coffre(dir.path());
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = start(command).await;
    assert!(
        !server.log.join("\n").contains("generated"),
        "{:?}",
        server.log
    );
    assert_eq!(server.get("/healthz").await.0, 200);
    assert!(server.stop_with("INT").await.success());
    assert_eq!(fs::read_to_string(data.join("jwt-secret")).unwrap(), secret);
}

#[tokio::test]
async fn flags_win_over_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = coffre(dir.path());
    command
        .env("COFFRE_LISTEN", "not an address")
        .env("COFFRE_DATA_DIR", "from-env")
        .args(["--listen", "127.0.0.1:0", "--data-dir", "from-flag"]);
    let server = start(command).await;
    assert_eq!(server.get("/healthz").await.0, 200);
    assert!(server.stop_with("TERM").await.success());
    assert!(dir.path().join("from-flag/coffre.db").is_file());
    assert!(!dir.path().join("from-env").exists());
}

#[test]
fn settings_read_before_or_after_the_subcommand_and_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    for (args, env) in [
        (&["--data-dir", "before", "migrate"][..], None),
        (&["migrate", "--data-dir", "after"][..], None),
        (&["migrate"][..], Some("from-env")),
    ] {
        let mut command = coffre(dir.path());
        command.args(args);
        if let Some(data_dir) = env {
            command.env("COFFRE_DATA_DIR", data_dir);
        }
        let output = run(&mut command);
        assert!(output.status.success(), "{args:?}: {output:?}");
    }
    for data_dir in ["before", "after", "from-env"] {
        assert!(
            dir.path().join(data_dir).join("coffre.db").is_file(),
            "{data_dir}"
        );
    }
    // migrate signs nothing, so it generates no key.
    assert!(!dir.path().join("before/jwt-secret").exists());
}

#[tokio::test]
async fn metrics_are_served_apart_from_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = coffre(dir.path());
    command.args(["--listen", "127.0.0.1:0"]);
    let server = start(command).await;
    let metrics = server.metrics_addr().expect("a `metrics served on` line");
    assert!(metrics.starts_with("127.0.0.1:"), "{metrics}");
    assert_ne!(metrics, server.addr);

    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);
    let (status, _) = server.get("/metrics").await;
    assert_eq!(status, 404, "the API's clients must not read the metrics");
    let (status, body) = send(&metrics, "GET", "/metrics", &[], None).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#"coffre_http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "{body}"
    );
    let (status, _) = send(&metrics, "GET", "/healthz", &[], None).await.unwrap();
    assert_eq!(status, 404, "the metrics listener serves nothing else");
    server.stop_with("TERM").await;

    let mut command = coffre(dir.path());
    command.args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"]);
    let server = start(command).await;
    assert_eq!(server.metrics_addr(), None);
    assert!(server.log.join("\n").contains("metrics are off"));
}

#[tokio::test]
async fn a_term_as_soon_as_it_listens_stops_it_cleanly() {
    // The handler must be in place before the `listening on` line, or the signal kills the
    // process instead of draining it.
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let mut command = coffre(dir.path());
        command.args(["--listen", "127.0.0.1:0"]);
        let server = start(command).await;
        let status = server.stop_with("TERM").await;
        assert!(status.success(), "{status:?}");
    }
}
