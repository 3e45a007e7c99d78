//! Load for the fault drills, and the books it must leave: [`CLIENTS`] clients each send keyed
//! transfers from an account of their own to one shared account, one key after another, and
//! retry each key (same key, same body) until it has a definitive answer, as a careful client
//! would. Every answer is logged with when its request was sent, so a drill can tell what the
//! service answered while a fault lasted and when it accepted money again. Afterwards,
//! [`Load::check_books`] holds every key's final answer against the ledger.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::send;

/// Concurrent clients: enough that batches are always in flight when a fault strikes.
pub const CLIENTS: usize = 12;

/// Each client's account starts with this, far more than a drill moves.
const DEPOSIT: &str = "10000.00";
const DEPOSIT_CENTS: i64 = 1_000_000;
/// What each transfer moves.
const AMOUNT: &str = "1.00";
const AMOUNT_CENTS: i64 = 100;

/// How long one key may go without a definitive answer: past any fault a drill injects plus
/// the time it allows the service to recover.
const KEY_DEADLINE: Duration = Duration::from_secs(60);
/// Between two attempts of one key, and between two looks at the log.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
const POLL: Duration = Duration::from_millis(20);
/// Answers a failing drill lists at most.
const TIMELINE: usize = 60;
/// A page of a list, the most the API gives.
const PAGE: usize = 100;
/// Pages of transfers [`Load::check_books`] reads at most (far more than a drill writes).
const MAX_PAGES: usize = 1_000;

/// The accounts of a drill, owned by one admin whose token every client uses.
pub struct Bank {
    pub addr: String,
    bearer: String,
    sources: Vec<String>,
    sink: String,
}

impl Bank {
    /// Logs in as the admin at `addr`, opens the shared account and one account per client,
    /// and funds each client's.
    pub async fn open(addr: &str, email: &str, password: &str) -> Self {
        let login = format!(r#"{{"email": "{email}", "password": "{password}"}}"#);
        let (status, body) = send(addr, "POST", "/v1/auth/login", &[], Some(&login))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let token = json(&body)["access_token"].as_str().unwrap().to_owned();
        let mut bank = Self {
            addr: addr.to_owned(),
            bearer: format!("Bearer {token}"),
            sources: Vec::new(),
            sink: String::new(),
        };
        bank.sink = bank.open_account().await;
        for client in 0..CLIENTS {
            let account = bank.open_account().await;
            let deposit = format!(
                r#"{{"account_id": "{account}", "amount": "{DEPOSIT}", "currency": "EUR"}}"#
            );
            let key = format!("deposit-{client}");
            let (status, body) = bank.post("/v1/deposits", Some(&key), &deposit).await;
            assert_eq!(status, 201, "{body}");
            bank.sources.push(account);
        }
        bank
    }

    async fn open_account(&self) -> String {
        let (status, body) = self
            .post("/v1/accounts", None, r#"{"currency": "EUR"}"#)
            .await;
        assert_eq!(status, 201, "{body}");
        json(&body)["id"].as_str().unwrap().to_owned()
    }

    async fn post(&self, path: &str, key: Option<&str>, body: &str) -> (u16, String) {
        self.try_post(path, key, body).await.unwrap()
    }

    async fn try_post(
        &self,
        path: &str,
        key: Option<&str>,
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let mut headers = vec![("Authorization", self.bearer.as_str())];
        headers.extend(key.map(|key| ("Idempotency-Key", key)));
        send(&self.addr, "POST", path, &headers, Some(body)).await
    }

    async fn get(&self, path: &str) -> serde_json::Value {
        let headers = [("Authorization", self.bearer.as_str())];
        let (status, body) = send(&self.addr, "GET", path, &headers, None).await.unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        json(&body)
    }

    /// The one request client `client` sends under every one of its keys.
    fn transfer(&self, client: usize) -> String {
        format!(
            r#"{{"from_account_id": "{}", "to_account_id": "{}", "amount": "{AMOUNT}", "currency": "EUR"}}"#,
            self.sources[client], self.sink
        )
    }
}

/// One attempt of one key.
#[derive(Debug, Clone)]
pub struct Answer {
    pub key: String,
    pub sent: Instant,
    pub answered: Instant,
    /// `None`: no complete answer (connection refused or cut, or no answer in time).
    pub status: Option<u16>,
    pub body: String,
}

/// A key's definitive answer.
#[derive(Debug)]
pub struct Settled {
    client: usize,
    key: String,
    status: u16,
    body: String,
}

/// An answer the client may retry the same key after: the service was unavailable, the key
/// was still in use by an earlier attempt, or the request lost a race; or no answer at all.
/// Every other status is definitive (5xx other than 503 included: a drill fails on those).
fn retryable(status: Option<u16>) -> bool {
    matches!(status, None | Some(503 | 409 | 429))
}

pub struct Load {
    bank: Arc<Bank>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Answer>>>,
    clients: Vec<JoinHandle<Result<Vec<Settled>, String>>>,
}

impl Load {
    /// Starts the clients; keys are named `{name}-{client}-{n}`.
    pub fn start(bank: Bank, name: &str) -> Self {
        let bank = Arc::new(bank);
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let clients = (0..CLIENTS)
            .map(|client| {
                let (bank, stop, log) = (bank.clone(), stop.clone(), log.clone());
                let name = name.to_owned();
                tokio::spawn(async move {
                    let mut settled = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let key = format!("{name}-{client}-{}", settled.len());
                        settled.push(settle(&bank, client, key, &log).await?);
                    }
                    Ok(settled)
                })
            })
            .collect();
        Self {
            bank,
            stop,
            log,
            clients,
        }
    }

    /// Every answer so far.
    pub fn answers(&self) -> Vec<Answer> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `count` transfers sent at or after `since` were accepted (201), and returns
    /// when the first of them was answered; fails, saying what the service answered instead,
    /// if that takes longer than `bound`.
    pub async fn accepted_since(&self, since: Instant, count: usize, bound: Duration) -> Instant {
        self.answered(since, Some(201), count, bound).await
    }

    /// Waits until `count` requests sent at or after `since` were answered `status`, and
    /// returns when the first of them was; fails as [`Load::accepted_since`] does.
    pub async fn answered(
        &self,
        since: Instant,
        status: Option<u16>,
        count: usize,
        bound: Duration,
    ) -> Instant {
        let deadline = Instant::now() + bound;
        loop {
            let answers = self.answers();
            let failure = answers.iter().find(|answer| {
                answer
                    .status
                    .is_some_and(|status| status >= 500 && status != 503)
            });
            assert!(
                failure.is_none(),
                "a 5xx other than 503: {failure:?}\n{}",
                self.timeline(since)
            );
            let matching: Vec<Instant> = answers
                .iter()
                .filter(|answer| answer.sent >= since && answer.status == status)
                .map(|answer| answer.answered)
                .collect();
            if matching.len() >= count {
                return matching.into_iter().min().unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {count} requests sent since the fault answered {status:?} within \
                 {bound:?}; what was answered since, by whenever sent: {:?}\n{}",
                matching.len(),
                self.tally_by(|answer| answer.answered >= since),
                self.timeline(since),
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The answers given since `since`, one line each (ms since then), the latest
    /// [`TIMELINE`]: what a failing drill shows of what happened.
    pub fn timeline(&self, since: Instant) -> String {
        let answers: Vec<Answer> = self
            .answers()
            .into_iter()
            .filter(|answer| answer.answered >= since)
            .collect();
        let skipped = answers.len().saturating_sub(TIMELINE);
        let mut lines = format!("{skipped} earlier answers, then:\n");
        for answer in answers.iter().skip(skipped) {
            let sent = match answer.sent.checked_duration_since(since) {
                Some(after) => format!("+{}", after.as_millis()),
                None => format!("-{}", (since - answer.sent).as_millis()),
            };
            lines.push_str(&format!(
                "  {}: sent {sent} ms, answered +{} ms: {:?}\n",
                answer.key,
                (answer.answered - since).as_millis(),
                answer.status,
            ));
        }
        lines
    }

    /// How many requests sent in `[from, to)` got each answer, and one body of each status
    /// that is not 201 (with its key).
    pub fn tally(&self, from: Instant, to: Instant) -> BTreeMap<String, (usize, String)> {
        self.tally_by(|answer| answer.sent >= from && answer.sent < to)
    }

    /// How many of the answers `which` picks were each status, and one body of each that is
    /// not 201.
    pub fn tally_by(&self, which: impl Fn(&Answer) -> bool) -> BTreeMap<String, (usize, String)> {
        let mut tally = BTreeMap::<String, (usize, String)>::new();
        for answer in self.answers().into_iter().filter(which) {
            let name = answer
                .status
                .map_or_else(|| "no answer".to_owned(), |status| status.to_string());
            let entry = tally.entry(name).or_default();
            entry.0 += 1;
            if answer.status != Some(201) && entry.1.is_empty() {
                entry.1 = format!(
                    "{}: {}",
                    answer.key,
                    answer.body.chars().take(300).collect::<String>()
                );
            }
        }
        tally
    }

    /// Stops the clients once each has its current key's definitive answer, and returns every
    /// key's.
    pub async fn finish(self) -> (Arc<Bank>, Vec<Answer>, Vec<Settled>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut settled = Vec::new();
        for client in self.clients {
            let keys = tokio::time::timeout(KEY_DEADLINE + POLL, client)
                .await
                .expect("a client outlived its key deadline")
                .unwrap();
            settled.extend(keys.unwrap_or_else(|failure| panic!("{failure}")));
        }
        let answers = self.log.lock().unwrap().clone();
        (self.bank, answers, settled)
    }
}

/// Sends `key` until its answer is definitive.
async fn settle(
    bank: &Bank,
    client: usize,
    key: String,
    log: &Mutex<Vec<Answer>>,
) -> Result<Settled, String> {
    let body = bank.transfer(client);
    let started = Instant::now();
    loop {
        let sent = Instant::now();
        let (status, answer) = match bank.try_post("/v1/transfers", Some(&key), &body).await {
            Ok((status, answer)) => (Some(status), answer),
            Err(error) => (None, error.to_string()),
        };
        log.lock().unwrap().push(Answer {
            key: key.clone(),
            sent,
            answered: Instant::now(),
            status,
            body: answer.clone(),
        });
        if let (Some(status), false) = (status, retryable(status)) {
            return Ok(Settled {
                client,
                key,
                status,
                body: answer,
            });
        }
        if started.elapsed() > KEY_DEADLINE {
            return Err(format!(
                "{key} had no definitive answer within {KEY_DEADLINE:?}; the last: \
                 {status:?} {answer}"
            ));
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// The books after a drill, on the live service: no 5xx but 503 was ever answered; every key
/// was accepted; retrying any key now replays its answer byte for byte; the transfers in the
/// ledger are exactly the accepted ones, one per key; every balance is what the accepted
/// transfers make it; and `GET /v1/ledger/verify` holds.
pub async fn check_books(bank: &Bank, answers: &[Answer], settled: &[Settled]) {
    let failures: Vec<&Answer> = answers
        .iter()
        .filter(|answer| {
            answer
                .status
                .is_some_and(|status| status >= 500 && status != 503)
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} answers were 5xx other than 503, the first: {:?}",
        failures.len(),
        failures.first()
    );
    for key in settled {
        assert_eq!(key.status, 201, "{}: {}", key.key, key.body);
    }

    // Every key again: the first answer, not a second effect.
    let replays = futures_util::future::join_all(settled.chunks(settled.len() / CLIENTS + 1).map(
        |keys| async move {
            for key in keys {
                let body = bank.transfer(key.client);
                let (status, replay) = bank.post("/v1/transfers", Some(&key.key), &body).await;
                assert_eq!(
                    (status, replay.as_str()),
                    (key.status, key.body.as_str()),
                    "{} answered otherwise when retried",
                    key.key
                );
            }
        },
    ));
    replays.await;

    let accepted: HashSet<String> = settled
        .iter()
        .map(|key| json(&key.body)["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        accepted.len(),
        settled.len(),
        "two keys answered one transfer"
    );
    let mut ledger = Vec::new();
    let mut page = format!("/v1/transfers?account_id={}&limit={PAGE}", bank.sink);
    for _ in 0..MAX_PAGES {
        let list = bank.get(&page).await;
        let transfers = list["data"].as_array().unwrap();
        ledger.extend(
            transfers
                .iter()
                .map(|transfer| transfer["id"].as_str().unwrap().to_owned()),
        );
        match transfers.last() {
            Some(last) if list["has_more"] == true => {
                page = format!(
                    "/v1/transfers?account_id={}&limit={PAGE}&starting_after={}",
                    bank.sink,
                    last["id"].as_str().unwrap()
                );
            }
            _ => break,
        }
    }
    let in_ledger: HashSet<String> = ledger.iter().cloned().collect();
    assert_eq!(in_ledger.len(), ledger.len(), "a transfer listed twice");
    let lost: Vec<&String> = accepted.difference(&in_ledger).collect();
    let unanswered: Vec<&String> = in_ledger.difference(&accepted).collect();
    assert!(lost.is_empty(), "accepted but not in the ledger: {lost:?}");
    assert!(
        unanswered.is_empty(),
        "in the ledger but no key's answer (a second effect): {unanswered:?}"
    );

    let mut moved = 0;
    for (client, account) in bank.sources.iter().enumerate() {
        let keys = settled.iter().filter(|key| key.client == client).count();
        let keys = i64::try_from(keys).unwrap();
        assert_eq!(
            balance(&bank.get(&format!("/v1/accounts/{account}")).await),
            DEPOSIT_CENTS - keys * AMOUNT_CENTS,
            "client {client}'s account"
        );
        moved += keys * AMOUNT_CENTS;
    }
    assert_eq!(
        balance(&bank.get(&format!("/v1/accounts/{}", bank.sink)).await),
        moved,
        "the shared account"
    );
    let report = bank.get("/v1/ledger/verify").await;
    assert_eq!(report["ok"], true, "{report}");
}

/// An account's balance in cents.
fn balance(account: &serde_json::Value) -> i64 {
    account["balance"]
        .as_str()
        .unwrap()
        .replace('.', "")
        .parse()
        .unwrap()
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {body}"))
}
