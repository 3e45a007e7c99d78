//! A private PostgreSQL cluster a test may crash and start again: its own data directory under
//! a temporary directory, its own port and its own socket directory. The shared server at
//! `TEST_DATABASE_URL` is never touched: other tests run against it. A primary may have a
//! synchronous standby streaming from it, which a test may promote once it killed the primary.

use std::cell::Cell;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Where Debian and Ubuntu install each PostgreSQL version's server binaries.
const INSTALLS: &str = "/usr/lib/postgresql";

/// How long `pg_ctl` waits for the server to start or stop, in seconds.
const PG_CTL_WAIT_SECS: &str = "30";

/// PostgreSQL refuses to run as root, and the tests may.
const SERVER_USER: &str = "postgres";

/// How long a killed server's processes may take to be gone, and a standby to report itself
/// synchronous.
const SETTLE_BOUND: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

pub struct Cluster {
    dir: TempDir,
    bin: PathBuf,
    pub port: u16,
    /// `-c name=value` settings beyond the common ones.
    settings: Vec<String>,
    /// Killed with SIGKILL: its shared memory outlives it and is removed on drop.
    killed: Cell<bool>,
}

impl Cluster {
    /// Creates the cluster (trust authentication, user `postgres`) and starts it.
    pub fn start() -> Self {
        let cluster = Self::empty(Vec::new());
        cluster.init();
        cluster.start_again();
        cluster
    }

    /// A primary that waits, at each commit, for the standby named `standby` to have the commit
    /// on disk (see [`Cluster::standby_of`]).
    pub fn primary_with_synchronous_standby(standby: &str) -> Self {
        let cluster = Self::empty(vec![
            format!("synchronous_standby_names={standby}"),
            "synchronous_commit=on".to_owned(),
        ]);
        cluster.init();
        cluster.start_again();
        cluster
    }

    /// A hot standby named `name`, cloned from `primary` with `pg_basebackup`, streaming from
    /// it; returns once the primary counts it as its synchronous standby.
    pub fn standby_of(primary: &Self, name: &str) -> Self {
        let cluster = Self::empty(vec![format!("cluster_name={name}")]);
        let port = primary.port.to_string();
        cluster.run(
            "pg_basebackup",
            &[
                "--pgdata",
                &cluster.data(),
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--username",
                "postgres",
                "--write-recovery-conf",
                "--wal-method",
                "stream",
                "--checkpoint",
                "fast",
                "--no-sync",
            ],
        );
        cluster.start_again();
        let deadline = Instant::now() + SETTLE_BOUND;
        let query =
            format!("SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}'");
        while primary.sql(&query) != "sync" {
            assert!(
                Instant::now() < deadline,
                "{name} is not the primary's synchronous standby after {SETTLE_BOUND:?}"
            );
            std::thread::sleep(POLL);
        }
        cluster
    }

    /// A cluster not yet initialised, on a free port, in a directory the server's user owns.
    fn empty(settings: Vec<String>) -> Self {
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
        Self {
            port: super::free_port(),
            bin,
            dir,
            settings,
            killed: Cell::new(false),
        }
    }

    fn init(&self) {
        self.run(
            "initdb",
            &[
                "--pgdata",
                &self.data(),
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

    /// Kills the postmaster and every backend at once with SIGKILL, as the death of the
    /// database host would (`pg_ctl start` makes the postmaster lead a process group of its
    /// own); returns once none of them runs.
    pub fn kill(&self) {
        let pid = self.postmaster_pid();
        let sent = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -KILL -{pid}");
        self.killed.set(true);
        let deadline = Instant::now() + SETTLE_BOUND;
        while group_alive(pid) {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL's processes outlived SIGKILL by {SETTLE_BOUND:?}"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    pub fn promote(&self) {
        self.pg_ctl(&["promote"]);
    }

    /// One value from a query run with `psql` as `postgres`; empty when there is no row.
    pub fn sql(&self, query: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--username", "postgres", "--no-psqlrc", "--tuples-only"])
            .args(["--no-align", "--command", query])
            .output()
            .unwrap();
        assert!(output.status.success(), "psql {query}: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The first line of `postmaster.pid`.
    fn postmaster_pid(&self) -> u32 {
        let pid_file = Path::new(&self.data()).join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file).unwrap();
        text.lines().next().unwrap().trim().parse().unwrap()
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_again(&self) {
        let mut options = format!(
            "-c port={} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c max_connections=50 -c fsync=off",
            self.port,
            self.dir.path().display(),
        );
        for setting in &self.settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
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
        if self.killed.get() {
            remove_shared_memory(&self.data());
        }
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

/// Whether a process of process group `group` still runs (a zombie no longer does).
fn group_alive(group: u32) -> bool {
    let group = group.to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .any(|stat| {
            // After the command's name, in parentheses: state, parent, process group.
            let Some((_, fields)) = stat.rsplit_once(") ") else {
                return false;
            };
            let fields: Vec<&str> = fields.split(' ').collect();
            fields.get(2) == Some(&group.as_str()) && fields.first() != Some(&"Z")
        })
}

/// A server killed with SIGKILL leaves its System V shared memory segment, whose id is on the
/// seventh line of its `postmaster.pid`; the next start in that directory would remove it, but
/// the directory is going.
fn remove_shared_memory(data: &str) {
    let pid_file = Path::new(data).join("postmaster.pid");
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return;
    };
    if let Some(id) = text
        .lines()
        .nth(6)
        .and_then(|line| line.split_whitespace().nth(1))
    {
        let _ = Command::new("ipcrm").args(["-m", id]).output();
    }
}

/// Whether this process runs as root (the owner of `/proc/self` is the effective user).
pub fn running_as_root() -> bool {
    std::fs::metadata(Path::new("/proc/self")).unwrap().uid() == 0
}
