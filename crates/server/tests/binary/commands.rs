//! `migrate`, `verify` and `admin` on the embedded database.

use crate::support::{coffre, refusal, run, run_with_stdin};

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
        "audit chain: ok (0 events)\nledger: ok (0 accounts checked)\n"
    );
}

#[test]
fn verify_alone_on_a_fresh_data_dir_holds() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(coffre(dir.path()).arg("verify"));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "audit chain: ok (0 events)\nledger: ok (0 accounts checked)\n"
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

fn admin_create(dir: &std::path::Path, email: &str, password: &str) -> std::process::Output {
    run_with_stdin(
        coffre(dir).args(["admin", "create", "--email", email, "--password-stdin"]),
        password,
    )
}

#[test]
fn admin_create_prints_the_id_then_promotes_the_same_user_and_audits_both() {
    let dir = tempfile::tempdir().unwrap();
    let output = admin_create(dir.path(), " Root@Example.com ", "a long admin password\n");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let id = uuid::Uuid::parse_str(stdout.trim_end()).unwrap();
    assert_eq!(stdout, format!("{id}\n"));

    // Again, for the same (normalized) email: the same user, still one admin.
    let again = admin_create(dir.path(), "root@example.com", "another long password");
    assert!(again.status.success(), "{again:?}");
    assert_eq!(String::from_utf8(again.stdout).unwrap(), stdout);

    // REGISTER for the creation, PASSWORD_RESET for the second run.
    let verify = run(coffre(dir.path()).arg("verify"));
    assert!(verify.status.success(), "{verify:?}");
    assert_eq!(
        String::from_utf8_lossy(&verify.stdout),
        "audit chain: ok (2 events)\nledger: ok (0 accounts checked)\n"
    );
}

#[test]
fn admin_create_refuses_a_bad_email_or_password_without_touching_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let line = refusal(
        &admin_create(dir.path(), "not-an-email", "a long admin password"),
        2,
    );
    assert!(line.contains("--email"), "{line}");
    let line = refusal(&admin_create(dir.path(), "root@example.com", "short\n"), 2);
    assert!(line.contains("at least 12 characters"), "{line}");
    let line = refusal(&admin_create(dir.path(), "root@example.com", ""), 2);
    assert!(line.contains("password"), "{line}");
    assert!(!dir.path().join("coffre-data").exists());
}
