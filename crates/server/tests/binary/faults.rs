//! Fault drills: real `coffre serve` processes under load ([`load::CLIENTS`] clients sending
//! keyed transfers, each key retried until it has a definitive answer) meet a fault: every
//! database connection reset, the process killed, PostgreSQL crashed, its primary killed and
//! the standby promoted, the disk full. Each drill
//! then holds the books (see [`load::check_books`]: no 5xx but 503, exactly one effect per key,
//! balances, `GET /v1/ledger/verify`) and `coffre verify`, and requires the service to accept
//! transfers again by itself, without a restart (the kill drills restart it, once).
//!
//! Each prints how long the money path was unavailable (run with `-- --nocapture` to see it):
//! from the fault, or from its end when it lasts, to the first transfer sent after that moment
//! and accepted. Only a generous bound ([`RECOVERY_BOUND`]) is asserted on time.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;
use tempfile::TempDir;

use crate::postgres::{SECRET, empty_database};
use crate::support::cluster::Cluster;
use crate::support::load::{self, Bank, Load};
use crate::support::proxy::{Cut, Proxy};
use crate::support::tmpfs::Tmpfs;
use crate::support::{Server, coffre, free_port, run, run_with_stdin, start};

const EMAIL: &str = "ops@coffre.test";
const PASSWORD: &str = "a long enough password";

/// Transfers accepted before a fault strikes, and after it before the drill ends.
const WARM_UP: usize = 100;
const AFTER: usize = 50;
/// How long the service may take to accept transfers again once a fault is over.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);
/// The connection drill's cuts, in order.
const CUTS: [Cut; 4] = [Cut::Reset, Cut::StateLost, Cut::Reset, Cut::StateLost];
/// How long PostgreSQL stays down: as long as a failover may take, and well past the pool's
/// 5 s acquire timeout, so requests waiting for a connection have had to answer.
const DOWN: Duration = Duration::from_secs(12);
/// The full-disk drill's filesystem: room for SQLite's WAL (up to 4 MiB before a checkpoint)
/// and the database a drill writes, so only the filler fills it.
const DISK: &str = "24m";
/// How long the failover drill leaves the pair without a primary before promoting the standby:
/// what a failover manager takes to decide the primary is dead.
const FAILOVER_DECISION: Duration = Duration::from_secs(2);
/// The failover drill's standby, as the primary's `synchronous_standby_names` names it.
const STANDBY: &str = "standby";
/// 503s the full disk must answer before space comes back.
const FULL_ANSWERS: usize = 5;

/// One deployment of the binary: a working directory, a fixed address (a restarted server
/// comes back on it, so clients keep their address), and its database.
struct Deployment {
    dir: TempDir,
    port: u16,
    env: Vec<(&'static str, String)>,
    /// `serve`'s database when it differs from the one the commands use (through a proxy).
    serve_database: Option<String>,
}

impl Deployment {
    /// The embedded database, in `data_dir` or the default under the working directory.
    fn sqlite(data_dir: Option<PathBuf>) -> Self {
        let env = data_dir
            .map(|dir| ("COFFRE_DATA_DIR", dir.to_string_lossy().into_owned()))
            .into_iter()
            .collect();
        Self::new(env)
    }

    fn postgres(url: &str) -> Self {
        Self::new(vec![
            ("DATABASE_URL", url.to_owned()),
            ("COFFRE_JWT_SECRET", SECRET.to_owned()),
        ])
    }

    fn new(env: Vec<(&'static str, String)>) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            env,
            serve_database: None,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = coffre(self.dir.path());
        command.args(args).envs(self.env.iter().cloned());
        command
    }

    /// Creates the admin whose token the clients use.
    fn admin(&self) {
        let created = run_with_stdin(
            &mut self.command(&["admin", "create", "--email", EMAIL, "--password-stdin"]),
            PASSWORD,
        );
        assert!(created.status.success(), "{created:?}");
    }

    /// Starts `serve` on the deployment's address, with no rate limits (one admin sends
    /// everything).
    async fn serve(&self) -> Server {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut command = self.command(&["serve", "--listen", &listen]);
        command
            .env("COFFRE_RATE_LIMIT_AUTH", "off")
            .env("COFFRE_RATE_LIMIT_API", "off");
        if let Some(url) = &self.serve_database {
            command.env("DATABASE_URL", url);
        }
        start(command).await
    }

    /// Runs `coffre verify`, which must hold; off the runtime's threads, so the load goes on.
    fn verify(&self) {
        let output = tokio::task::block_in_place(|| run(&mut self.command(&["verify"])));
        assert!(output.status.success(), "coffre verify: {output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("audit chain: ok"), "{stdout}");
        assert!(stdout.contains("EUR sums to 0.00"), "{stdout}");
    }
}

/// The admin, a server, its accounts, and the load running against it.
async fn under_load(deployment: &Deployment, name: &str) -> (Server, Load) {
    deployment.admin();
    let server = deployment.serve().await;
    let bank = Bank::open(&server.addr, EMAIL, PASSWORD).await;
    let load = Load::start(bank, name);
    load.accepted_since(Instant::now(), WARM_UP, RECOVERY_BOUND)
        .await;
    (server, load)
}

/// Stops the load, checks the books on the live server, stops it and runs `coffre verify`.
async fn close_books(deployment: &Deployment, server: Server, load: Load) {
    let (bank, answers, settled) = load.finish().await;
    load::check_books(&bank, &answers, &settled).await;
    eprintln!(
        "  {} keys, {} attempts, every key accepted once",
        settled.len(),
        answers.len()
    );
    assert!(server.stop_with("TERM").await.success());
    deployment.verify();
}

fn millis(duration: Duration) -> u128 {
    duration.as_millis()
}

/// A proxy between `coffre serve` and PostgreSQL breaks every open connection while twelve
/// clients send transfers: reset both ways, or its state lost in between (the database resets,
/// `coffre` hears nothing), twice each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_postgres_connections_cut_under_load() {
    let direct = empty_database().await;
    let options: PgConnectOptions = direct.parse().unwrap();
    let upstream = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    let mut deployment = Deployment::postgres(&direct);
    deployment.serve_database = Some(
        options
            .host("127.0.0.1")
            .port(proxy.addr.port())
            .to_url_lossy()
            .to_string(),
    );
    let (server, load) = under_load(&deployment, "cut").await;

    eprintln!("drill: every PostgreSQL connection cut under load");
    for how in CUTS {
        let cut_at = Instant::now();
        let cut = proxy.cut(how);
        assert!(cut > 0, "no connection was open to cut");
        let first = load.accepted_since(cut_at, AFTER, RECOVERY_BOUND).await;
        eprintln!(
            "  {how:?}: {cut} connections cut; money path unavailable {} ms (answers \
             meanwhile: {:?})",
            millis(first - cut_at),
            load.tally(cut_at, first),
        );
    }
    close_books(&deployment, server, load).await;
}

/// `coffre serve` on PostgreSQL, killed with SIGKILL under load and started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_postgres_serve_killed_under_load() {
    let url = empty_database().await;
    killed_under_load(Deployment::postgres(&url), "postgres").await;
}

/// `coffre serve` on its embedded SQLite, killed with SIGKILL mid-batch and started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_sqlite_serve_killed_under_load() {
    killed_under_load(Deployment::sqlite(None), "sqlite").await;
}

/// The kill drill: the database the kill leaves verifies before the restart; after it, every
/// acknowledged transfer is there, and the keys the kill interrupted, retried, took effect
/// once.
async fn killed_under_load(deployment: Deployment, backend: &str) {
    let (server, load) = under_load(&deployment, "kill").await;

    eprintln!("drill: coffre serve on {backend} killed under load");
    let killed = Instant::now();
    server.kill().await;
    deployment.verify();
    let restarting = Instant::now();
    let server = deployment.serve().await;
    let listening = Instant::now();
    let first = load.accepted_since(killed, AFTER, RECOVERY_BOUND).await;
    let in_flight = load
        .answers()
        .iter()
        .filter(|answer| {
            answer.sent < killed && answer.answered >= killed && answer.status.is_none()
        })
        .count();
    assert!(in_flight > 0, "the kill interrupted no request");
    eprintln!(
        "  {in_flight} requests cut by the kill; money path unavailable {} ms from the kill \
         (verify {} ms, start {} ms, first transfer {} ms after listening; answers meanwhile: \
         {:?})",
        millis(first - killed),
        millis(restarting - killed),
        millis(listening - restarting),
        millis(first.saturating_duration_since(listening)),
        load.tally(killed, first),
    );
    close_books(&deployment, server, load).await;
}

/// A private PostgreSQL cluster crashed (`pg_ctl stop -m immediate`) under load, kept down,
/// then started again: transfers answer 503 while it is down, and the same `coffre serve`
/// accepts them again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_postgres_crashed_and_restarted_under_load() {
    let cluster = tokio::task::block_in_place(Cluster::start);
    let deployment = Deployment::postgres(&cluster.url());
    let (server, load) = under_load(&deployment, "crash").await;

    eprintln!("drill: PostgreSQL crashed under load, down {DOWN:?}, then started again");
    let crashed = Instant::now();
    tokio::task::block_in_place(|| cluster.crash());
    let down = Instant::now();
    tokio::time::sleep(DOWN).await;
    let restarting = Instant::now();
    let answers = load.answers();
    // Answered while it was down: 503, but for a transfer committed just before the crash
    // whose answer was still on its way.
    let while_down: Vec<&load::Answer> = answers
        .iter()
        .filter(|answer| answer.answered >= down && answer.answered < restarting)
        .collect();
    let refused: Vec<Duration> = while_down
        .iter()
        .filter(|answer| answer.status == Some(503) && answer.sent >= crashed)
        .map(|answer| answer.answered - answer.sent)
        .collect();
    assert!(
        !refused.is_empty()
            && while_down.iter().all(|answer| {
                answer.status == Some(503) || (answer.status == Some(201) && answer.sent < crashed)
            }),
        "while PostgreSQL was down, transfers sent since the crash must answer 503:\n{}",
        load.timeline(crashed),
    );
    tokio::task::block_in_place(|| cluster.start_again());
    let back = Instant::now();
    let first = load.accepted_since(back, AFTER, RECOVERY_BOUND).await;
    eprintln!(
        "  while down: {} answers 503, each after {} ms at most; money path unavailable {} ms \
         after PostgreSQL was back ({} ms from the crash; PostgreSQL took {} ms to start)",
        refused.len(),
        millis(refused.iter().copied().max().unwrap()),
        millis(first - back),
        millis(first - crashed),
        millis(back - restarting),
    );
    close_books(&deployment, server, load).await;
}

/// A primary with a synchronous standby; `coffre serve` on both through the libpq multi-host
/// URL with `target_session_attrs=read-write`. The primary is killed with SIGKILL under load and
/// the standby promoted: no acknowledged transfer is lost, each key took effect once, and the
/// same `coffre serve` moves to the new primary by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_postgres_failover_to_a_synchronous_standby_under_load() {
    let (primary, standby) = tokio::task::block_in_place(|| {
        let primary = Cluster::primary_with_synchronous_standby(STANDBY);
        let standby = Cluster::standby_of(&primary, STANDBY);
        (primary, standby)
    });
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        primary.port, standby.port
    );
    let deployment = Deployment::postgres(&url);
    let (server, load) = under_load(&deployment, "failover").await;

    eprintln!(
        "drill: the PostgreSQL primary killed under load, its synchronous standby promoted \
         {FAILOVER_DECISION:?} later"
    );
    let killed = Instant::now();
    tokio::task::block_in_place(|| primary.kill());
    tokio::time::sleep(FAILOVER_DECISION).await;
    let promoting = Instant::now();
    tokio::task::block_in_place(|| standby.promote());
    let promoted = Instant::now();
    let first = load.accepted_since(promoted, AFTER, RECOVERY_BOUND).await;
    assert_eq!(standby.sql("SELECT pg_is_in_recovery()"), "f");
    eprintln!(
        "  money path unavailable {} ms after the promotion ({} ms from the kill; promoting \
         took {} ms; answers meanwhile: {:?})",
        millis(first.saturating_duration_since(promoted)),
        millis(first - killed),
        millis(promoted - promoting),
        load.tally(killed, first),
    );
    close_books(&deployment, server, load).await;
}

/// SQLite on a small filesystem filled up under load: transfers answer 503 while it is full,
/// and the service accepts them again by itself once space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_sqlite_disk_full_under_load() {
    let disk = Tmpfs::mount(DISK);
    let deployment = Deployment::sqlite(Some(disk.path().join("coffre-data")));
    let (server, load) = under_load(&deployment, "full").await;

    eprintln!("drill: SQLite's filesystem full under load, then space freed");
    let filled = Instant::now();
    let filler = disk.fill();
    let first_refusal = load
        .answered(filled, Some(503), FULL_ANSWERS, RECOVERY_BOUND)
        .await;
    let freed = Instant::now();
    std::fs::remove_file(filler).unwrap();
    let first = load.accepted_since(freed, AFTER, RECOVERY_BOUND).await;
    eprintln!(
        "  first 503 {} ms after the disk filled (answers while full: {:?}); money path \
         unavailable {} ms after space was freed",
        millis(first_refusal - filled),
        load.tally(filled, freed),
        millis(first - freed),
    );
    close_books(&deployment, server, load).await;
}
