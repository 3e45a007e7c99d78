//! Bad settings stop the process before it touches anything, with one line naming the setting.

use crate::support::{coffre, refusal, run};

const SHORT_SECRET: &str = "not-32-bytes-long";

/// A start that must be refused.
struct Case {
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    /// Part of the one line the refusal prints.
    says: &'static str,
}

#[test]
fn each_bad_setting_stops_it_with_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[Case] = &[
        Case {
            args: &["--listen", "abc"],
            env: &[],
            says: "invalid COFFRE_LISTEN (--listen) \"abc\"",
        },
        Case {
            args: &[],
            env: &[("COFFRE_LISTEN", "abc")],
            says: "invalid COFFRE_LISTEN (--listen) \"abc\"",
        },
        Case {
            args: &["migrate", "--listen", "127.0.0.1:99999"],
            env: &[],
            says: "invalid COFFRE_LISTEN (--listen)",
        },
        Case {
            args: &[],
            env: &[("COFFRE_ACCESS_TOKEN_TTL_SECS", "0")],
            says: "invalid COFFRE_ACCESS_TOKEN_TTL_SECS (--access-token-ttl-secs) \"0\"",
        },
        Case {
            args: &["--authorization-ttl-secs", "2592001"],
            env: &[],
            says: "invalid COFFRE_AUTHORIZATION_TTL_SECS (--authorization-ttl-secs)",
        },
        Case {
            args: &[],
            env: &[("DATABASE_URL", "mysql://root:pw@db/coffre")],
            says: "invalid DATABASE_URL (--database-url) \"mysql:…\"",
        },
        Case {
            args: &[],
            env: &[("COFFRE_RATE_LIMIT_AUTH", "lots")],
            says: "invalid COFFRE_RATE_LIMIT_AUTH (--rate-limit-auth) \"lots\"",
        },
        Case {
            args: &["--rate-limit-api", "0/s"],
            env: &[],
            says: "invalid COFFRE_RATE_LIMIT_API (--rate-limit-api) \"0/s\"",
        },
        Case {
            args: &[],
            env: &[("COFFRE_TRUSTED_PROXIES", "10.0.0.0/8,10.0.0.0/33")],
            says: "invalid COFFRE_TRUSTED_PROXIES (--trusted-proxies) \"10.0.0.0/33\"",
        },
        Case {
            args: &[],
            env: &[("REDIS_URL", "http://:pw@cache")],
            says: "invalid REDIS_URL (--redis-url)",
        },
        Case {
            args: &[],
            env: &[("COFFRE_DB_MAX_CONNECTIONS", "0")],
            says: "invalid COFFRE_DB_MAX_CONNECTIONS (--db-max-connections) \"0\"",
        },
        Case {
            args: &[],
            env: &[("RUST_LOG", "info,[=")],
            says: "invalid RUST_LOG (--log-filter)",
        },
        Case {
            args: &[],
            env: &[("COFFRE_LOG_FORMAT", "xml")],
            says: "invalid COFFRE_LOG_FORMAT (--log-format) \"xml\"",
        },
        Case {
            args: &[],
            env: &[("COFFRE_JWT_SECRET", SHORT_SECRET)],
            says: "invalid COFFRE_JWT_SECRET: it is 17 bytes long",
        },
        Case {
            args: &[],
            env: &[("COFFRE_CHECKPOINT_KEY", SHORT_SECRET)],
            says: "invalid COFFRE_CHECKPOINT_KEY: expected 64 hex characters",
        },
        Case {
            args: &["migrate"],
            env: &[("COFFRE_JWT_SECRET", SHORT_SECRET)],
            says: "invalid COFFRE_JWT_SECRET",
        },
        // Refused before any attempt to connect: nothing answers on port 1.
        Case {
            args: &[],
            env: &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/coffre")],
            says: "COFFRE_JWT_SECRET is required with PostgreSQL",
        },
        Case {
            args: &["--no-such-flag"],
            env: &[],
            says: "unexpected argument '--no-such-flag'",
        },
        Case {
            args: &["launch"],
            env: &[],
            says: "unrecognized subcommand 'launch'",
        },
        Case {
            args: &["admin", "create"],
            env: &[],
            says: "--email",
        },
    ];
    for Case { args, env, says } in cases {
        let mut command = coffre(dir.path());
        // Were a bad setting accepted, the server would start: on a free port, not 8080.
        command
            .env("COFFRE_LISTEN", "127.0.0.1:0")
            .envs(env.iter().copied())
            .args(*args);
        let output = run(&mut command);
        let line = refusal(&output, 2);
        assert!(line.contains(says), "{args:?} {env:?}: {line}");
        for hidden in [SHORT_SECRET, "pw@"] {
            assert!(!line.contains(hidden), "{hidden} printed: {line}");
        }
    }
    assert!(
        !dir.path().join("coffre-data").exists(),
        "a refused start wrote to the data directory"
    );
}

#[test]
fn help_lists_every_setting_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(coffre(dir.path()).arg("--help"));
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    for setting in [
        "--listen",
        "COFFRE_LISTEN",
        "--database-url",
        "DATABASE_URL",
        "--data-dir",
        "COFFRE_DATA_DIR",
        "COFFRE_JWT_SECRET",
        "--access-token-ttl-secs",
        "--authorization-ttl-secs",
        "--rate-limit-auth",
        "--rate-limit-api",
        "--trusted-proxies",
        "--redis-url",
        "--db-max-connections",
        "--log-format",
        "--log-filter",
        "RUST_LOG",
        "serve",
        "migrate",
        "admin",
        "verify",
    ] {
        assert!(
            help.contains(setting),
            "{setting} missing from --help:\n{help}"
        );
    }

    let output = run(coffre(dir.path()).arg("--version"));
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("coffre "));
}
