//! `migrate`, `verify` and `admin` on the embedded database.

use crate::support::{coffre, refusal, run};

#[test]
fn migrate_then_verify_on_a_fresh_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(coffre(dir.path()).arg("migrate"));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "migrations applied\n"
    );
    assert!(dir.path().join("coffre-data/coffre.db").is_file());

    // Twice: migrations that already ran are not run again.
    assert!(run(coffre(dir.path()).arg("migrate")).status.success());

    let output = run(coffre(dir.path()).arg("verify"));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "audit chain: ok (0 events)\n"
    );
}

#[test]
fn verify_alone_on_a_fresh_data_dir_holds() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(coffre(dir.path()).arg("verify"));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "audit chain: ok (0 events)\n"
    );
}

#[test]
fn an_unreachable_database_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    // Side by side: each waits out the pool's connect timeout.
    std::thread::scope(|scope| {
        for command in ["migrate", "verify", "serve"] {
            let dir = dir.path();
            scope.spawn(move || {
                let output = run(coffre(dir)
                    .args([command, "--listen", "127.0.0.1:0"])
                    .env("COFFRE_JWT_SECRET", "0123456789abcdef0123456789abcdef")
                    .env("DATABASE_URL", "postgres://postgres:pw@127.0.0.1:1/none"));
                let line = refusal(&output, 1);
                assert!(
                    line.contains("cannot open the database"),
                    "{command}: {line}"
                );
                assert!(!line.contains("pw"), "{command}: {line}");
            });
        }
    });
}

#[test]
fn an_unusable_generated_secret_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("coffre-data");
    std::fs::create_dir(&data).unwrap();
    let secret = data.join("jwt-secret");
    std::fs::write(&secret, "x".repeat(64)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = run(coffre(dir.path()).args(["--listen", "127.0.0.1:0"]));
    let line = refusal(&output, 1);
    assert!(line.contains("jwt-secret is unusable"), "{line}");
    assert!(line.contains("0600"), "{line}");
    assert!(!line.contains("xxxx"), "{line}");
}

#[test]
fn admin_create_says_it_is_not_there_yet() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(coffre(dir.path()).args([
        "admin",
        "create",
        "--email",
        "root@example.com",
        "--password-stdin",
    ]));
    let line = refusal(&output, 1);
    assert!(line.contains("identity issue"), "{line}");
    assert!(output.stdout.is_empty(), "{output:?}");
}
