//! A private PostgreSQL cluster a test may crash and start again: its own data directory under
//! a temporary directory, its own port and its own socket directory. The shared server at
//! `TEST_DATABASE_URL` is never touched: other tests run against it.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Where Debian and Ubuntu install each PostgreSQL version's server binaries.
const INSTALLS: &str = "/usr/lib/postgresql";

/// How long `pg_ctl` waits for the server to start or stop, in seconds.
const PG_CTL_WAIT_SECS: &str = "30";

/// PostgreSQL refuses to run as root, and the tests may.
const SERVER_USER: &str = "postgres";

pub struct Cluster {
    dir: TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl Cluster {
    /// Creates the cluster (trust authentication, user `postgres`) and starts it.
    pub fn start() -> Self {
        let bin = server_binaries();
        let dir = tempfile::tempdir().unwrap();
        if running_as_root() {
            // The server's user creates the data directory and its socket in here.
            let chown = Command::new("chown")
                .arg(format!("{SERVER_USER}:"))
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(chown.status.success(), "chown: {chown:?}");
        }
        let cluster = Self {
            port: super::free_port(),
            bin,
            dir,
        };
        cluster.run(
            "initdb",
            &[
                "--pgdata",
                &cluster.data(),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
        );
        cluster.start_again();
        cluster
    }

    /// The URL of its `postgres` database, over TCP.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Crashes the server: every backend is killed at once, with no checkpoint, as a power cut
    /// of the database host would (the next start replays the WAL).
    pub fn crash(&self) {
        self.pg_ctl(&["stop", "--mode", "immediate"]);
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-c port={} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c max_connections=50 -c fsync=off",
            self.port,
            self.dir.path().display(),
        );
        let log = self.dir.path().join("server.log");
        self.pg_ctl(&[
            "start",
            "--options",
            &options,
            "--log",
            &log.to_string_lossy(),
        ]);
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data();
        let mut all = vec!["--pgdata", &data, "--wait", "--timeout", PG_CTL_WAIT_SECS];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let output = self.command(program, args).output().unwrap();
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {output:?}\nserver log:\n{log}"
        );
        output
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVER_USER, "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.args(args).current_dir(self.dir.path());
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Stopped even when the test failed; an already stopped server makes this fail, which
        // is fine.
        let data = self.data();
        let _ = self
            .command(
                "pg_ctl",
                &["--pgdata", &data, "stop", "--mode", "immediate"],
            )
            .output();
    }
}

/// The binaries of the newest PostgreSQL installed; a test that needs them fails, with the
/// reason, when there are none.
fn server_binaries() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(INSTALLS)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            let complete = ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|program| bin.join(program).is_file());
            complete.then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "this test runs a private PostgreSQL cluster and needs initdb, pg_ctl and postgres \
             under {INSTALLS}/<version>/bin (apt-get install postgresql); none found"
        ),
    }
}

/// Whether this process runs as root (the owner of `/proc/self` is the effective user).
pub fn running_as_root() -> bool {
    std::fs::metadata(Path::new("/proc/self")).unwrap().uid() == 0
}
