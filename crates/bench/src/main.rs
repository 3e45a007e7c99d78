//! `coffre-bench`: starts Coffre on a fresh PostgreSQL database (or, with `--backend sqlite`,
//! a fresh SQLite file), creates its users and accounts, drives workloads at a chosen
//! concurrency for a chosen time, and in the same run measures a baseline: the same durable
//! writes issued straight to PostgreSQL.
//!
//! ```text
//! cargo build --release -p coffre -p coffre-bench
//! target/release/coffre-bench --concurrency 32 --seconds 20 [--backend sqlite]
//! ```
//!
//! Workloads: `uniform` (random transfers among all accounts), `hot` (every transfer pays one
//! merchant account), `payments` (create, authorize, capture), `transactions` (one transaction
//! of three postings: payer to merchant, merchant to the platform's fee account, merchant to
//! the tax account). It prints transfers (or payments, or transactions) per second, latency percentiles, outcomes by status, the server's peak memory and
//! the ledger check, then Coffre/baseline per workload.

// A measuring tool, not the server: it may stop at the first broken assumption.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

mod baseline;
mod client;
mod open_loop;
mod profile;
mod sinks;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use client::Http;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    Uniform,
    Hot,
    Payments,
    Transactions,
}

impl Workload {
    /// What one completed iteration is.
    fn unit(self) -> &'static str {
        match self {
            Self::Uniform | Self::Hot => "transfers",
            Self::Payments => "payments",
            Self::Transactions => "transactions",
        }
    }
}

#[derive(Debug, Parser)]
struct Args {
    /// The coffre binary to start.
    #[arg(long, default_value = "target/release/coffre")]
    coffre: PathBuf,
    /// Coffre's database: a fresh PostgreSQL database on `--server-url`, or a fresh SQLite file.
    /// The baseline always runs on PostgreSQL.
    #[arg(long, value_enum, default_value = "postgres")]
    backend: Backend,
    /// A PostgreSQL server whose role may create databases.
    #[arg(
        long,
        env = "TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    server_url: String,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 1_000)]
    accounts: usize,
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "uniform,hot,payments,transactions"
    )]
    workloads: Vec<Workload>,
    /// Runs each workload again with this many webhook endpoints (receivers in this process)
    /// subscribed to every event, and prints the throughput beside the run without.
    #[arg(long, default_value_t = 0)]
    webhooks: usize,
    /// With `--webhooks`: how many times to run the workload without, then with, the
    /// endpoints, so a drift of the machine's speed during the run moves both sides alike.
    #[arg(long, default_value_t = 1, requires = "webhooks")]
    webhook_pairs: usize,
    /// Open loop: iterations arrive at this constant rate per second instead of from
    /// `--concurrency` clients in a closed loop (at most `--concurrency` in flight; latency from
    /// each one's scheduled time).
    #[arg(long)]
    rate: Option<f64>,
    /// Open loop: search each workload's saturation (the highest rate whose p99 stays under
    /// 100 ms, runs of `--search-seconds`), then run `--seconds` at 80% of it.
    #[arg(long, conflicts_with = "rate")]
    saturation: bool,
    #[arg(long, default_value_t = 5)]
    search_seconds: u64,
    /// Where each iteration's time goes (PostgreSQL only): CPU of Coffre, of its PostgreSQL
    /// backends and of the generator, commits, rows and index entries written per iteration.
    #[arg(long, conflicts_with = "saturation")]
    profile: bool,
}

const SECRET: &str = "bench-secret-bench-secret-bench-secret";
const PASSWORD: &str = "a long enough password";

/// What one run of a workload saw.
#[derive(Debug)]
pub struct Outcome {
    pub completed: u64,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    pub statuses: BTreeMap<String, u64>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index]
    }
}

/// The server under test, started on a fresh database.
struct Server {
    child: Child,
    base: String,
}

async fn start_server(args: &Args, database_url: &str) -> Server {
    let admin = Command::new(&args.coffre)
        .args([
            "admin",
            "create",
            "--email",
            "bench@coffre.test",
            "--password-stdin",
        ])
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the coffre binary starts (cargo build --release -p coffre)");
    let mut admin = admin;
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = admin.stdin.take().unwrap();
        stdin.write_all(PASSWORD.as_bytes()).await.unwrap();
    }
    assert!(admin.wait().await.unwrap().success(), "admin create failed");

    let mut child = Command::new(&args.coffre)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("COFFRE_JWT_SECRET", SECRET)
        .env("COFFRE_RATE_LIMIT_AUTH", "off")
        .env("COFFRE_RATE_LIMIT_API", "off")
        .env("COFFRE_DB_MAX_CONNECTIONS", "32")
        // The bench reads no metrics; the default port may belong to another server here.
        .env("COFFRE_METRICS_LISTEN", "off")
        .env("COFFRE_WEBHOOK_ALLOW_INSECURE", "true")
        .env("COFFRE_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("RUST_LOG", "warn,coffre=info")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the server printed its address");
        if let Some((_, rest)) = line.split_once("listening on ") {
            let addr = rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('"');
            break format!("http://{addr}");
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, base }
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// The server's peak resident memory (VmHWM), in MiB.
    fn peak_memory_mib(&self) -> f64 {
        let pid = self.child.id().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| {
                value
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

/// One client of the run: a user with its own accounts.
pub(crate) struct Customer {
    token: String,
    accounts: Vec<String>,
}

pub(crate) struct Bank {
    http: Http,
    admin: String,
    customers: Vec<Customer>,
    all_accounts: Vec<String>,
    merchant: String,
    /// The admin's accounts a transaction's fee and tax go to.
    platform: String,
    tax: String,
}

async fn login(http: &Http, email: &str) -> String {
    let (status, body) = http
        .call(
            "POST",
            "/v1/auth/login",
            None,
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn open_account(http: &Http, token: &str) -> String {
    let (status, body) = http
        .call(
            "POST",
            "/v1/accounts",
            Some(token),
            None,
            Some(json!({"currency": "EUR"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Logins in flight at once during setup. The login throttle charges every attempt to the
/// client IP before its password is checked (and refunds it on success), so more than its 20
/// free failures in flight at once from one IP are refused with 429, as parallel guesses are.
const SETUP_LOGINS_IN_FLIGHT: usize = 8;

async fn setup(http: Http, customers: usize, accounts: usize) -> Bank {
    let admin = login(&http, "bench@coffre.test").await;
    let logins = Arc::new(tokio::sync::Semaphore::new(SETUP_LOGINS_IN_FLIGHT));
    let per_customer = accounts.div_ceil(customers).max(1);
    let mut handles = Vec::new();
    for n in 0..customers {
        let (http, admin, logins) = (http.clone(), admin.clone(), Arc::clone(&logins));
        handles.push(tokio::spawn(async move {
            let email = format!("customer{n}@bench.test");
            let (status, body) = http
                .call("POST", "/v1/auth/register", None, None, Some(json!({"email": email, "password": PASSWORD})))
                .await;
            assert_eq!(status, 201, "{body}");
            let token = {
                let _slot = logins.acquire().await.unwrap();
                login(&http, &email).await
            };
            let mut accounts = Vec::new();
            for _ in 0..per_customer {
                let account = open_account(&http, &token).await;
                let (status, body) = http
                    .call(
                        "POST",
                        "/v1/deposits",
                        Some(&admin),
                        Some(&uuid::Uuid::now_v7().to_string()),
                        Some(json!({"account_id": account, "amount": "1000000.00", "currency": "EUR"})),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
                accounts.push(account);
            }
            Customer { token, accounts }
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.push(handle.await.unwrap());
    }
    let (status, body) = http
        .call(
            "POST",
            "/v1/auth/register",
            None,
            None,
            Some(json!({"email": "merchant@bench.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let merchant_token = login(&http, "merchant@bench.test").await;
    let merchant = open_account(&http, &merchant_token).await;
    let platform = open_account(&http, &admin).await;
    let tax = open_account(&http, &admin).await;
    let all_accounts = all.iter().flat_map(|c| c.accounts.clone()).collect();
    Bank {
        http,
        admin,
        customers: all,
        all_accounts,
        merchant,
        platform,
        tax,
    }
}

fn cents() -> String {
    let cents: u32 = rand::random_range(1..=100);
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// One iteration of `workload` by customer `worker`: a transfer, a payment (three requests) or
/// a transaction; returns the last answer.
pub(crate) async fn iteration(bank: &Bank, worker: usize, workload: Workload) -> (u16, Value) {
    let me = &bank.customers[worker];
    let from = me.accounts[rand::random_range(0..me.accounts.len())].clone();
    let to = match workload {
        Workload::Uniform => loop {
            let to = &bank.all_accounts[rand::random_range(0..bank.all_accounts.len())];
            if *to != from {
                break to.clone();
            }
        },
        Workload::Hot | Workload::Payments | Workload::Transactions => bank.merchant.clone(),
    };
    match workload {
        Workload::Uniform | Workload::Hot => {
            bank.http
                .call(
                    "POST",
                    "/v1/transfers",
                    Some(&me.token),
                    Some(&uuid::Uuid::now_v7().to_string()),
                    Some(json!({"from_account_id": from, "to_account_id": to, "amount": cents(), "currency": "EUR"})),
                )
                .await
        }
        Workload::Payments => pay(bank, me, &from, &to).await,
        Workload::Transactions => settle(bank, &from, &to).await,
    }
}

/// How an answer is counted: its status, and its error code if any.
pub(crate) fn outcome_key(status: u16, body: &Value) -> String {
    match body["error"]["code"].as_str() {
        Some(code) => format!("{status} {code}"),
        None => status.to_string(),
    }
}

async fn run_workload(bank: Arc<Bank>, workload: Workload, seconds: u64) -> Outcome {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    for worker in 0..bank.customers.len() {
        let bank = bank.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
            let mut completed = 0_u64;
            while Instant::now() < deadline {
                let began = Instant::now();
                let (status, body) = iteration(&bank, worker, workload).await;
                latencies.push(began.elapsed());
                let key = outcome_key(status, &body);
                if (200..300).contains(&status) {
                    completed += 1;
                }
                *statuses.entry(key).or_default() += 1;
            }
            (completed, latencies, statuses)
        }));
    }
    let mut outcome = Outcome {
        completed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        statuses: BTreeMap::new(),
    };
    for handle in handles {
        let (completed, latencies, statuses) = handle.await.unwrap();
        outcome.completed += completed;
        outcome.latencies.extend(latencies);
        for (key, count) in statuses {
            *outcome.statuses.entry(key).or_default() += count;
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// Create, authorize (payer), capture (admin): one payment, three requests.
async fn pay(bank: &Bank, me: &Customer, from: &str, to: &str) -> (u16, Value) {
    let (status, body) = bank
        .http
        .call(
            "POST",
            "/v1/payments",
            Some(&me.token),
            Some(&uuid::Uuid::now_v7().to_string()),
            Some(json!({"payer_account_id": from, "payee_account_id": to, "amount": cents(), "currency": "EUR"})),
        )
        .await;
    if status != 201 {
        return (status, body);
    }
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, body) = bank
        .http
        .call(
            "POST",
            &format!("/v1/payments/{id}/authorize"),
            Some(&me.token),
            None,
            None,
        )
        .await;
    if status != 200 {
        return (status, body);
    }
    bank.http
        .call(
            "POST",
            &format!("/v1/payments/{id}/capture"),
            Some(&bank.admin),
            None,
            None,
        )
        .await
}

/// A sale's amount in cents and what the merchant pays out of it: a 3% platform fee and a 20%
/// tax, each at least a cent (the smallest sale is ten cents).
pub fn sale_cents() -> (u32, u32, u32) {
    let amount: u32 = rand::random_range(10..=1_000);
    (amount, (amount * 3 / 100).max(1), (amount / 5).max(1))
}

fn euros(cents: u32) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// One transaction, posted by the admin (who may spend from any customer account): the payer
/// pays the merchant, who pays the fee and the tax out of it, in that order.
async fn settle(bank: &Bank, payer: &str, merchant: &str) -> (u16, Value) {
    let (amount, fee, tax) = sale_cents();
    let leg = |from: &str, to: &str, cents| {
        json!({"from_account_id": from, "to_account_id": to, "amount": euros(cents),
               "currency": "EUR"})
    };
    bank.http
        .call(
            "POST",
            "/v1/transactions",
            Some(&bank.admin),
            Some(&uuid::Uuid::now_v7().to_string()),
            Some(json!({"postings": [
                leg(payer, merchant, amount),
                leg(merchant, &bank.platform, fee),
                leg(merchant, &bank.tax, tax),
            ]})),
        )
        .await
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

async fn create_database(server_url: &str, prefix: &str) -> String {
    use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};
    let options: sqlx::postgres::PgConnectOptions = server_url.parse().unwrap();
    let mut connection = PgConnection::connect_with(&options).await.unwrap();
    let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    sqlx::raw_sql(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    options.database(&name).to_url_lossy().to_string()
}

async fn drop_database(server_url: &str, url: &str) {
    use sqlx::{AssertSqlSafe, Connection, PgConnection};
    let name = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut connection = PgConnection::connect(server_url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
    )))
    .execute(&mut connection)
    .await
    .unwrap();
}

/// Coffre's fresh database for this run, removed when dropped.
enum CoffreDatabase {
    Postgres { server_url: String, url: String },
    Sqlite { dir: tempfile::TempDir, url: String },
}

impl CoffreDatabase {
    async fn create(backend: Backend, server_url: &str) -> Self {
        match backend {
            Backend::Postgres => Self::Postgres {
                server_url: server_url.to_owned(),
                url: create_database(server_url, "coffre_bench").await,
            },
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/coffre.db", dir.path().display());
                Self::Sqlite { dir, url }
            }
        }
    }

    fn url(&self) -> &str {
        match self {
            Self::Postgres { url, .. } | Self::Sqlite { url, .. } => url,
        }
    }

    async fn remove(self) {
        match self {
            Self::Postgres { server_url, url } => drop_database(&server_url, &url).await,
            Self::Sqlite { dir, .. } => drop(dir),
        }
    }
}

/// Runs `workload` as the arguments ask (closed loop, open loop at `--rate`, or the
/// saturation search and a run at 80% of it); returns the run to report and the throughput to
/// compare with the baselines (the saturation, when searched).
async fn measure(args: &Args, bank: Arc<Bank>, workload: Workload) -> (Outcome, f64) {
    let connections = args.concurrency;
    if args.saturation {
        println!(
            "\n{workload:?}: saturation search (p99 ≤ {:?})",
            open_loop::P99_TARGET
        );
        let saturation =
            open_loop::saturation(bank.clone(), workload, args.search_seconds, connections).await;
        let steady = saturation * open_loop::STEADY_SHARE;
        let outcome = open_loop::run(bank, workload, steady, args.seconds, connections).await;
        println!(
            "{workload:?}: saturation {saturation:.0}/s; at {:.0}%: {}",
            open_loop::STEADY_SHARE * 100.0,
            open_loop::report(workload, steady, &outcome)
        );
        return (outcome, saturation);
    }
    if let Some(rate) = args.rate {
        let outcome = open_loop::run(bank, workload, rate, args.seconds, connections).await;
        println!(
            "\nopen loop: {}",
            open_loop::report(workload, rate, &outcome)
        );
        let throughput = outcome.rate();
        return (outcome, throughput);
    }
    let outcome = run_workload(bank, workload, args.seconds).await;
    let throughput = outcome.rate();
    (outcome, throughput)
}

/// The batched limit of `workload` beside its per-transfer baseline: each way of writing a
/// batch with one writer and with two; the best is the limit.
async fn batched_limit(args: &Args, url: &str, workload: Workload, coffre: f64, per_transfer: f64) {
    let mut limit: f64 = 0.0;
    for how in [baseline::Batched::Function, baseline::Batched::Unnest] {
        for writers in [1, 2] {
            let outcome =
                baseline::run_batched(url, workload, how, writers, args.accounts, args.seconds)
                    .await;
            println!(
                "    batched limit ({} per transaction, {how:?}, {writers} writer{}): {:.0} \
                 transfers/s (p99 {:.1} ms)",
                baseline::BATCH,
                if writers == 1 { "" } else { "s" },
                outcome.rate(),
                millis(outcome.percentile(0.99)),
            );
            limit = limit.max(outcome.rate());
        }
    }
    println!(
        "    {workload:?}: limit {limit:.0}/s = {:.2}× the per-transfer baseline; Coffre/limit = {:.2}",
        limit / per_transfer,
        coffre / limit
    );
}

/// One run of `workload` with the sinks' endpoints subscribed to every event, printed (the
/// caller compares it with the runs without); profiled when given Coffre's PostgreSQL
/// database. Returns its rate.
async fn run_with_webhooks(
    args: &Args,
    bank: &Arc<Bank>,
    sinks: &sinks::Sinks,
    workload: Workload,
    profiled: Option<&CoffreDatabase>,
    coffre_pid: u32,
) -> f64 {
    let endpoints = sinks.subscribe(bank).await;
    let profiled = match profiled {
        Some(CoffreDatabase::Postgres { url, .. }) if args.profile => {
            tokio::time::sleep(profile::SETTLE).await;
            Some((url.clone(), profile::snapshot(url, coffre_pid).await))
        }
        _ => None,
    };
    let before = sinks.received();
    let with = run_workload(bank.clone(), workload, args.seconds).await;
    let during = sinks.received() - before;
    if let Some((url, start)) = profiled {
        // The deliveries keep pace with the run (the drain below says how far behind the last
        // one was), so the CPU read as it ends holds nearly all of theirs.
        let after = profile::snapshot(&url, coffre_pid).await;
        tokio::time::sleep(profile::SETTLE).await;
        let settled = profile::snapshot(&url, coffre_pid).await;
        println!(
            "  with {} webhook endpoints:\n{}",
            args.webhooks,
            profile::report(&start, &after, &settled, with.completed, with.elapsed)
        );
    }
    let drained = sinks.drain_and_unsubscribe(bank, &endpoints).await;
    println!(
        "  with {} webhook endpoints: {:.0} {}/s; p50 {:.1} ms, p99 {:.1} ms; {during} deliveries during the run, {} in all, the last {:.1} s after it",
        args.webhooks,
        with.rate(),
        workload.unit(),
        millis(with.percentile(0.50)),
        millis(with.percentile(0.99)),
        sinks.received() - before,
        drained.as_secs_f64(),
    );
    with.rate()
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    println!(
        "coffre-bench: Coffre on {:?}, {} clients, {} s per workload, {} accounts",
        args.backend, args.concurrency, args.seconds, args.accounts
    );
    let coffre_db = CoffreDatabase::create(args.backend, &args.server_url).await;
    let mut server = start_server(&args, coffre_db.url()).await;
    let http = Http::new(&server.base, args.concurrency);
    let bank = Arc::new(setup(http, args.concurrency, args.accounts).await);
    println!(
        "setup done: {} customer accounts and a merchant",
        bank.all_accounts.len()
    );

    let sinks = match args.webhooks {
        0 => None,
        count => Some(sinks::Sinks::start(count).await),
    };
    let mut rows = Vec::new();
    for workload in &args.workloads {
        let profiled = match (args.profile, &coffre_db) {
            (true, CoffreDatabase::Postgres { url, .. }) => {
                tokio::time::sleep(profile::SETTLE).await;
                Some((url.clone(), profile::snapshot(url, server.pid()).await))
            }
            _ => None,
        };
        let (outcome, throughput) = measure(&args, bank.clone(), *workload).await;
        if let Some((url, before)) = profiled {
            let after = profile::snapshot(&url, server.pid()).await;
            tokio::time::sleep(profile::SETTLE).await;
            let settled = profile::snapshot(&url, server.pid()).await;
            let report = profile::report(
                &before,
                &after,
                &settled,
                outcome.completed,
                outcome.elapsed,
            );
            println!("{report}");
        }
        let (status, report) = bank
            .http
            .call("GET", "/v1/ledger/verify", Some(&bank.admin), None, None)
            .await;
        assert_eq!(status, 200);
        let unit = workload.unit();
        println!(
            "\n{workload:?}: {:.0} {unit}/s ({} in {:.1} s); p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms",
            outcome.rate(),
            outcome.completed,
            outcome.elapsed.as_secs_f64(),
            millis(outcome.percentile(0.50)),
            millis(outcome.percentile(0.99)),
            millis(outcome.percentile(0.999)),
        );
        println!("  outcomes: {:?}", outcome.statuses);
        println!(
            "  ledger/verify: ok={} currencies={}",
            report["ok"], report["currencies"]
        );
        assert_eq!(report["ok"], true, "conservation broken: {report}");
        if let Some(sinks) = &sinks {
            let mut pairs = Vec::new();
            for pair in 0..args.webhook_pairs.max(1) {
                let without = if pair == 0 {
                    outcome.rate()
                } else {
                    run_workload(bank.clone(), *workload, args.seconds)
                        .await
                        .rate()
                };
                let with = run_with_webhooks(
                    &args,
                    &bank,
                    sinks,
                    *workload,
                    // The CPU of the first pair's run with endpoints.
                    (pair == 0).then_some(&coffre_db),
                    server.pid(),
                )
                .await;
                pairs.push((without, with));
            }
            let (without, with) = pairs.iter().fold((0.0, 0.0), |(a, b), (without, with)| {
                (a + without, b + with)
            });
            let each: Vec<String> = pairs
                .iter()
                .map(|(without, with)| format!("{:.2}", with / without))
                .collect();
            println!(
                "  webhooks' cost, {} pair(s) of runs: {:.0} {unit}/s without, {:.0} with: {:.2} of the throughput without (each pair: {})",
                pairs.len(),
                without / pairs.len() as f64,
                with / pairs.len() as f64,
                with / without,
                each.join(", "),
            );
        }
        rows.push((*workload, throughput));
    }
    println!("\nserver peak memory: {:.1} MiB", server.peak_memory_mib());
    server.child.kill().await.ok();
    coffre_db.remove().await;

    let baseline_db = create_database(&args.server_url, "coffre_baseline").await;
    println!(
        "\nbaseline: the same durable writes straight to PostgreSQL (Coffre on {:?})",
        args.backend
    );
    for (workload, throughput) in &rows {
        let base = baseline::run(
            &baseline_db,
            *workload,
            args.concurrency,
            args.accounts,
            args.seconds,
        )
        .await;
        let unit = workload.unit();
        println!(
            "  {workload:?}: baseline {:.0} {unit}/s (p99 {:.1} ms); Coffre/baseline = {:.2}",
            base.rate(),
            millis(base.percentile(0.99)),
            throughput / base.rate()
        );
        if matches!(workload, Workload::Uniform | Workload::Hot) {
            batched_limit(&args, &baseline_db, *workload, *throughput, base.rate()).await;
        }
    }
    drop_database(&args.server_url, &baseline_db).await;
}
