//! Webhook deliveries (API.md "Webhook deliveries") through a real receiver on loopback: every
//! event of a storm delivered exactly as stored, each signature checked with the independent
//! `standardwebhooks` crate; every attempt a JSON POST from `Coffre-Webhooks/<version>`;
//! retries on the schedule; redirects recorded as answers, never followed; an attempt cut off
//! after 15 s; a receiver killed and restarted; 410 and Retry-After, which holds back every
//! delivery of the endpoint; a disabled endpoint sent nothing, its pending deliveries waiting
//! until it is enabled again; private addresses refused; two workers never sending one attempt
//! twice; redelivery; the deliveries list; metrics.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use coffre_api::delivery::{Deliverer, DeliverySettings, ROUND_PAUSE};
use coffre_domain::time::Timestamp;
use coffre_store::Store;
use futures_util::future::join_all;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::bank::{Bank, bank};
use crate::support::{app_and_metrics, call, get};

on_both_backends!(
    multi_thread: a_storm_of_transfers_is_delivered_exactly_as_stored,
    two_workers_never_send_one_attempt_twice,
    a_failing_receiver_gets_the_event_on_the_fourth_attempt,
    a_receiver_killed_and_restarted_gets_what_it_missed,
    a_failing_endpoint_rests_between_rounds,
    gone_disables_the_endpoint_and_retry_after_is_honoured,
    private_addresses_are_refused_unless_allowed,
    a_rotated_secret_signs_beside_the_new_one,
    events_are_redelivered_and_deliveries_listed_for_admins,
    every_attempt_is_a_json_post_from_coffre_webhooks,
    redirects_are_answers_not_followed,
    an_attempt_unanswered_for_15_seconds_times_out,
    retry_after_pauses_every_delivery_of_the_endpoint,
    a_disabled_endpoint_is_sent_nothing_until_enabled_again,
);

/// How long a test waits for deliveries before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Checks the signature with the Standard Webhooks reference library.
    fn verify(&self, secret: &str) {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &self.headers)
            .unwrap_or_else(|error| panic!("{error:?}: {:?}", self.headers));
    }
}

/// An answer the receiver gives.
#[derive(Debug, Clone, Copy)]
enum Reply {
    /// A status and, maybe, a Retry-After.
    Status(u16, Option<&'static str>),
    /// A redirect (302, 307…) to the receiver listening there.
    Redirect(u16, SocketAddr),
    /// None: the request is read and never answered, however long the sender waits.
    Silence,
}

#[derive(Debug, Default)]
struct Inbox {
    got: Mutex<Vec<Received>>,
    /// Answers to give, in order; 200 once they run out.
    script: Mutex<VecDeque<Reply>>,
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    inbox.got.lock().unwrap().push(Received {
        at: Instant::now(),
        method,
        headers,
        body,
    });
    let next = inbox.script.lock().unwrap().pop_front();
    let mut reply = HeaderMap::new();
    // No kept-alive connection outlives a killed receiver.
    reply.insert("connection", "close".parse().unwrap());
    let status = match next.unwrap_or(Reply::Status(200, None)) {
        Reply::Status(status, retry_after) => {
            if let Some(wait) = retry_after {
                reply.insert("retry-after", wait.parse().unwrap());
            }
            status
        }
        Reply::Redirect(status, to) => {
            reply.insert("location", format!("http://{to}/hook").parse().unwrap());
            status
        }
        Reply::Silence => std::future::pending().await,
    };
    (
        StatusCode::from_u16(status).unwrap(),
        reply,
        format!("answer {status}"),
    )
}

/// A webhook receiver on loopback: a real HTTP server in this process.
struct Receiver {
    addr: SocketAddr,
    inbox: Arc<Inbox>,
    server: JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Self {
        Self::on(SocketAddr::from(([127, 0, 0, 1], 0)), Arc::default()).await
    }

    async fn on(addr: SocketAddr, inbox: Arc<Inbox>) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            // Any method, so one that is not a POST (a redirect followed as a GET) is seen too.
            .route("/hook", axum::routing::any(receive))
            .with_state(inbox.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            inbox,
            server,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn script(&self, replies: &[Reply]) {
        self.inbox.script.lock().unwrap().extend(replies);
    }

    fn got(&self) -> Vec<Received> {
        self.inbox.got.lock().unwrap().clone()
    }

    /// Waits until it got `count` requests; all it got.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.got();
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "got {} of {count} deliveries",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops listening: connections are refused until it starts again on the same port.
    async fn kill(self) -> (SocketAddr, Arc<Inbox>) {
        self.server.abort();
        let _ = self.server.await;
        (self.addr, self.inbox)
    }
}

/// A running worker, stopped when dropped.
struct Worker(JoinHandle<()>);

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn worker_with(store: &Arc<dyn Store>, allow_private: bool, schedule: &str) -> Worker {
    let deliverer = Deliverer::new(
        store.clone(),
        DeliverySettings {
            allow_private,
            retry_schedule: schedule.parse().unwrap(),
        },
    )
    .unwrap();
    Worker(tokio::spawn(deliverer.run()))
}

fn worker(store: &Arc<dyn Store>) -> Worker {
    worker_with(store, true, "200ms,200ms,200ms,1h")
}

/// An endpoint for `types` at `url`: its id and secret.
async fn endpoint(bank: &Bank, url: &str, types: Value) -> (String, String) {
    let created = call(
        &bank.app,
        "POST",
        "/v1/webhook-endpoints",
        &bank.admin.token,
        Some(json!({"url": url, "event_types": types})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let body = created.json();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn event(bank: &Bank, id: &str) -> Value {
    let response = bank.get(&bank.admin, &format!("/v1/events/{id}")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()
}

/// Every event id since (and including) `first`, oldest first.
async fn events_since(bank: &Bank, created_gte: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = String::new();
    loop {
        let response = bank
            .get(
                &bank.admin,
                &format!("/v1/events?limit=100&created_gte={created_gte}{after}"),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let page = response.json();
        let data = page["data"].as_array().unwrap().clone();
        ids.extend(data.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        if page["has_more"] == false {
            break;
        }
        after = format!("&starting_after={}", ids.last().unwrap());
    }
    ids.reverse();
    ids
}

async fn deliveries(bank: &Bank, endpoint: &str, query: &str) -> Value {
    let response = bank
        .get(
            &bank.admin,
            &format!("/v1/webhook-endpoints/{endpoint}/deliveries{query}"),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()
}

/// Waits until the endpoint's newest delivery has no attempt due any more.
async fn settled(bank: &Bank, endpoint: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let page = deliveries(bank, endpoint, "").await;
        let newest = page["data"][0].clone();
        if newest["status"] != "pending" && !newest.is_null() {
            return newest;
        }
        assert!(Instant::now() < deadline, "still pending: {page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_storm_of_transfers_is_delivered_exactly_as_stored(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let everything = Receiver::start().await;
    let transfers_only = Receiver::start().await;
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (_, all_secret) = endpoint(&bank, &everything.url(), json!(["*"])).await;
    let (_, transfer_secret) =
        endpoint(&bank, &transfers_only.url(), json!(["transfer.created"])).await;
    let _worker = worker(&store);

    let alice = bank.funded(&bank.alice, "1000.00").await;
    let bob = bank.open(&bank.bob, "EUR").await;
    let storm = (0..40).map(|i| {
        let (from, to) = if i % 4 == 3 {
            (&bob, &alice)
        } else {
            (&alice, &bob)
        };
        let who = if i % 4 == 3 { &bank.bob } else { &bank.alice };
        bank.transfer(who, from, to, "1.00", "EUR")
    });
    let answers = join_all(storm).await;
    let made = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::CREATED)
        .count();
    assert!(made >= 30, "{made} transfers");

    let stored = events_since(&bank, &since).await;
    let got = everything.wait_for(stored.len()).await;
    // Nothing more comes: no event invented, none sent twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = everything.got();
    assert_eq!(got_after.len(), stored.len());
    let ids: Vec<String> = got.iter().map(Received::id).collect();
    assert_eq!(ids, stored, "every event, once, in creation order");
    for received in &got {
        received.verify(&all_secret);
        assert_eq!(received.json(), event(&bank, &received.id()).await);
        assert_eq!(received.headers["content-type"], "application/json");
        let timestamp: i64 = received.headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    }

    let transfers: Vec<Received> = transfers_only.wait_for(made.saturating_add(1)).await;
    for received in &transfers {
        received.verify(&transfer_secret);
        assert_eq!(received.json()["type"], "transfer.created");
    }
    let expected: Vec<&String> = stored
        .iter()
        .zip(got.iter())
        .filter(|(_, received)| received.json()["type"] == "transfer.created")
        .map(|(id, _)| id)
        .collect();
    let transfer_ids: Vec<String> = transfers.iter().map(Received::id).collect();
    assert_eq!(transfer_ids.iter().collect::<Vec<_>>(), expected);
    nothing_waits(&store).await;
}

/// Waits until no work is left (what an endpoint does not want left its outbox unsent).
async fn nothing_waits(store: &Arc<dyn Store>) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let oldest = store.oldest_due_delivery(Timestamp::now()).await.unwrap();
        if oldest.is_none() {
            return;
        }
        assert!(Instant::now() < deadline, "work waits since {oldest:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_failing_receiver_gets_the_event_on_the_fourth_attempt(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let receiver = Receiver::start().await;
    receiver.script(&[Reply::Status(500, None); 3]);
    let (endpoint_id, secret) = endpoint(&bank, &receiver.url(), json!(["account.created"])).await;
    let _worker = worker(&store);
    let account = bank.open(&bank.alice, "EUR").await;

    let got = receiver.wait_for(4).await;
    let delivery = settled(&bank, &endpoint_id).await;
    assert_eq!(got.len(), 4);
    let id = got[0].id();
    for received in &got {
        assert_eq!(received.id(), id, "one event, tried again");
        received.verify(&secret);
        assert_eq!(received.json()["data"]["object"]["id"], account.as_str());
    }
    // The schedule's 200 ms, less at most a tenth of jitter.
    for pair in got.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(180), "{gap:?}");
    }
    assert_eq!(delivery["status"], "succeeded");
    assert_eq!(delivery["event_id"], id.as_str());
    assert_eq!(delivery["event_type"], "account.created");
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    let attempts = delivery["attempts"].as_array().unwrap();
    let codes: Vec<&Value> = attempts.iter().map(|a| &a["response_code"]).collect();
    assert_eq!(codes, [&json!(500), &json!(500), &json!(500), &json!(200)]);
    let numbers: Vec<&Value> = attempts.iter().map(|a| &a["number"]).collect();
    assert_eq!(numbers, [&json!(1), &json!(2), &json!(3), &json!(4)]);
    assert_eq!(attempts[0]["response_body"], "answer 500");
    assert_eq!(attempts[3]["response_body"], "answer 200");
    assert_eq!(attempts[0]["error"], Value::Null);
    assert!(attempts[0]["duration_ms"].as_u64().unwrap() < 15_000);
}

async fn a_failing_endpoint_rests_between_rounds(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let receiver = Receiver::start().await;
    receiver.script(&[Reply::Status(500, None); 3]);
    endpoint(&bank, &receiver.url(), json!(["account.created"])).await;
    for _ in 0..3 {
        bank.open(&bank.alice, "EUR").await;
    }
    // Retries an hour away: each round tries the next event, fails, and stops there.
    let _worker = worker_with(&store, true, "1h");

    let got = receiver.wait_for(3).await;
    let pause = ROUND_PAUSE.to_std().unwrap();
    for pair in got.windows(2) {
        assert_ne!(pair[0].id(), pair[1].id(), "a new event each round");
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= pause, "a broken endpoint tried again after {gap:?}");
    }
}

async fn a_receiver_killed_and_restarted_gets_what_it_missed(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let receiver = Receiver::start().await;
    let (endpoint_id, secret) = endpoint(&bank, &receiver.url(), json!(["account.*"])).await;
    let _worker = worker_with(
        &store,
        true,
        "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,1h",
    );
    bank.open(&bank.alice, "EUR").await;
    receiver.wait_for(1).await;

    let (addr, inbox) = receiver.kill().await;
    bank.open(&bank.bob, "EUR").await;
    // Tried while the receiver is down, and refused.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let newest = deliveries(&bank, &endpoint_id, "").await["data"][0].clone();
        if newest["attempts"].as_array().unwrap().len() >= 2 {
            assert_eq!(newest["status"], "pending");
            assert_eq!(newest["attempts"][0]["error"], "unreachable");
            assert_eq!(newest["attempts"][0]["response_code"], Value::Null);
            break;
        }
        assert!(Instant::now() < deadline, "{newest}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let receiver = Receiver::on(addr, inbox).await;
    let got = receiver.wait_for(2).await;
    got[1].verify(&secret);
    assert_eq!(got[1].json()["type"], "account.created");
    assert_ne!(got[0].id(), got[1].id());
    let delivery = settled(&bank, &endpoint_id).await;
    assert_eq!(delivery["status"], "succeeded");
    assert_eq!(delivery["event_id"], got[1].id().as_str());
}

async fn gone_disables_the_endpoint_and_retry_after_is_honoured(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let patient = Receiver::start().await;
    patient.script(&[Reply::Status(429, Some("1"))]);
    let (patient_id, _) = endpoint(&bank, &patient.url(), json!(["account.created"])).await;
    let gone = Receiver::start().await;
    gone.script(&[Reply::Status(410, None)]);
    let (gone_id, _) = endpoint(&bank, &gone.url(), json!(["account.created"])).await;
    let _worker = worker(&store);
    bank.open(&bank.alice, "EUR").await;

    let got = patient.wait_for(2).await;
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 honoured, {gap:?}"
    );
    assert_eq!(settled(&bank, &patient_id).await["status"], "succeeded");

    let failed = settled(&bank, &gone_id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempts"][0]["response_code"], 410);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let read = bank
            .get(&bank.admin, &format!("/v1/webhook-endpoints/{gone_id}"))
            .await;
        if read.json()["enabled"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "{}", read.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let audit = bank
        .get(
            &bank.admin,
            &format!("/v1/audit-events?resource_id={gone_id}"),
        )
        .await
        .json();
    let disabled = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["action"] == "WEBHOOK_ENDPOINT_UPDATED")
        .unwrap_or_else(|| panic!("{audit}"))
        .clone();
    assert_eq!(disabled["new_value"]["enabled"], false);
    assert_eq!(disabled["actor_id"], Value::Null);
    // Nothing more reaches a disabled endpoint.
    bank.open(&bank.bob, "EUR").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(gone.got().len(), 1);
}

async fn private_addresses_are_refused_unless_allowed(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let receiver = Receiver::start().await;
    let (literal, _) = endpoint(&bank, &receiver.url(), json!(["account.created"])).await;
    let by_name = format!("http://localhost:{}/hook", receiver.addr.port());
    let (named, _) = endpoint(&bank, &by_name, json!(["account.created"])).await;
    let _worker = worker_with(&store, false, "1h");
    bank.open(&bank.alice, "EUR").await;

    for endpoint in [&literal, &named] {
        let refused = settled_or_attempted(&bank, endpoint).await;
        assert_eq!(
            refused["attempts"][0]["error"], "address_refused",
            "{refused}"
        );
        assert_eq!(refused["attempts"][0]["response_code"], Value::Null);
        assert_eq!(
            refused["status"], "pending",
            "retried later, per the schedule"
        );
    }
    assert!(
        receiver.got().is_empty(),
        "nothing reached the private address"
    );
}

/// The endpoint's newest delivery once it has an attempt.
async fn settled_or_attempted(bank: &Bank, endpoint: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let newest = deliveries(bank, endpoint, "").await["data"][0].clone();
        if !newest.is_null() && !newest["attempts"].as_array().unwrap().is_empty() {
            return newest;
        }
        assert!(Instant::now() < deadline, "no attempt: {newest}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_rotated_secret_signs_beside_the_new_one(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let receiver = Receiver::start().await;
    let (endpoint_id, old) = endpoint(&bank, &receiver.url(), json!(["account.created"])).await;
    let rotated = bank
        .post(
            &bank.admin,
            &format!("/v1/webhook-endpoints/{endpoint_id}/rotate-secret"),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text());
    let new = rotated.json()["secret"].as_str().unwrap().to_owned();
    let _worker = worker(&store);
    bank.open(&bank.alice, "EUR").await;

    let got = receiver.wait_for(1).await;
    let signature = got[0].headers["webhook-signature"].to_str().unwrap();
    assert_eq!(signature.split(' ').count(), 2, "{signature}");
    assert!(signature.split(' ').all(|part| part.starts_with("v1,")));
    got[0].verify(&new);
    got[0].verify(&old);
}

async fn two_workers_never_send_one_attempt_twice(store: Arc<dyn Store>) {
    two_instances_never_send_one_attempt_twice(store.clone(), store).await;
}

/// Two `serve` instances on one PostgreSQL database: a store (and a pool) each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_database_share_the_work() {
    let (first, url) = coffre_store_postgres::testing::fresh_database().await;
    let second = coffre_store_postgres::PgStore::connect(&url, 4)
        .await
        .unwrap();
    two_instances_never_send_one_attempt_twice(Arc::new(first), Arc::new(second)).await;
}

async fn two_instances_never_send_one_attempt_twice(store: Arc<dyn Store>, other: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let receivers = join_all((0..3).map(|_| Receiver::start())).await;
    for receiver in &receivers {
        endpoint(&bank, &receiver.url(), json!(["*"])).await;
    }
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let _one = worker(&store);
    let _two = worker(&other);
    let alice = bank.funded(&bank.alice, "100.00").await;
    let bob = bank.open(&bank.bob, "EUR").await;
    join_all((0..20).map(|_| bank.transfer(&bank.alice, &alice, &bob, "1.00", "EUR"))).await;

    let stored = events_since(&bank, &since).await;
    for receiver in &receivers {
        receiver.wait_for(stored.len()).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for receiver in &receivers {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for received in receiver.got() {
            *counts.entry(received.id()).or_default() += 1;
        }
        assert!(counts.values().all(|count| *count == 1), "{counts:?}");
        assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), {
            let mut sorted = stored.clone();
            sorted.sort();
            sorted
        });
        let ids: Vec<String> = receiver.got().iter().map(Received::id).collect();
        assert_eq!(ids, stored, "in creation order");
    }
}

async fn events_are_redelivered_and_deliveries_listed_for_admins(store: Arc<dyn Store>) {
    let (app, metrics) = app_and_metrics(store.clone());
    let bank = crate::bank::bank_on(store.clone(), app).await;
    let receiver = Receiver::start().await;
    let (endpoint_id, secret) = endpoint(&bank, &receiver.url(), json!(["account.created"])).await;
    let _worker = worker(&store);
    bank.open(&bank.alice, "EUR").await;
    bank.open(&bank.bob, "EUR").await;
    let first = receiver.wait_for(2).await;
    let event_id = first[0].id();

    let queued = bank
        .post(&bank.admin, &format!("/v1/events/{event_id}/redeliver"))
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text());
    let queued = queued.json();
    assert_eq!(queued["has_more"], false);
    assert_eq!(queued["data"].as_array().unwrap().len(), 1);
    let redelivery = queued["data"][0].clone();
    assert_eq!(redelivery["status"], "pending");
    assert_eq!(redelivery["event_id"], event_id.as_str());
    assert_eq!(redelivery["endpoint_id"], endpoint_id.as_str());
    assert_eq!(redelivery["attempts"], json!([]));
    let again = receiver.wait_for(3).await;
    assert_eq!(again[2].id(), event_id);
    assert_eq!(again[2].json(), first[0].json());
    again[2].verify(&secret);

    settled(&bank, &endpoint_id).await;
    let all = deliveries(&bank, &endpoint_id, "").await;
    let data = all["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["id"], redelivery["id"], "newest first");
    assert!(data.iter().all(|d| d["status"] == "succeeded"));
    let page = deliveries(&bank, &endpoint_id, "?limit=2").await;
    assert_eq!(page["has_more"], true);
    let rest = deliveries(
        &bank,
        &endpoint_id,
        &format!(
            "?limit=2&starting_after={}",
            page["data"][1]["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["has_more"], false);
    assert_eq!(
        deliveries(&bank, &endpoint_id, "?status=failed").await["data"],
        json!([])
    );
    assert_eq!(
        deliveries(&bank, &endpoint_id, "?status=succeeded").await["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let audit = bank
        .get(
            &bank.admin,
            &format!("/v1/audit-events?resource_id={endpoint_id}"),
        )
        .await
        .json();
    let queued_event = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["action"] == "WEBHOOK_REDELIVERY_QUEUED")
        .unwrap_or_else(|| panic!("{audit}"))
        .clone();
    assert_eq!(queued_event["new_value"]["event_id"], event_id.as_str());
    assert_eq!(queued_event["actor_id"], bank.admin.id.as_str());

    for (uri, code) in [
        (
            "/v1/events/evt_0193a5b0c1d27e3f8a9b0c1d2e3f4a5b/redeliver",
            "EVENT_NOT_FOUND",
        ),
        ("/v1/events/nonsense/redeliver", "EVENT_NOT_FOUND"),
    ] {
        let missing = bank.post(&bank.admin, uri).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.json()["error"]["code"], code);
    }
    let unknown = bank
        .get(
            &bank.admin,
            "/v1/webhook-endpoints/0193a5b0-c1d2-7e3f-8a9b-0c1d2e3f4a5b/deliveries",
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json()["error"]["code"],
        "WEBHOOK_ENDPOINT_NOT_FOUND"
    );
    let bad_filter = bank
        .get(
            &bank.admin,
            &format!("/v1/webhook-endpoints/{endpoint_id}/deliveries?status=lost"),
        )
        .await;
    assert_eq!(bad_filter.status, StatusCode::UNPROCESSABLE_ENTITY);
    for who in [&bank.manager, &bank.alice] {
        let refused = bank
            .post(who, &format!("/v1/events/{event_id}/redeliver"))
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let refused = bank
            .get(
                who,
                &format!("/v1/webhook-endpoints/{endpoint_id}/deliveries"),
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }

    let exposition = get(&metrics, "/metrics").await.text();
    assert!(
        exposition.contains("coffre_webhook_attempts_total{outcome=\"succeeded\"}"),
        "{exposition}"
    );
    assert!(
        exposition.contains("coffre_webhook_queue_age_seconds"),
        "{exposition}"
    );
}

/// The one value of the header `name` (sent twice would be two).
fn only<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    let values: Vec<_> = headers.get_all(name).iter().collect();
    assert_eq!(values.len(), 1, "{name}: {values:?}");
    values[0].to_str().unwrap()
}

async fn every_attempt_is_a_json_post_from_coffre_webhooks(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let receiver = Receiver::start().await;
    receiver.script(&[Reply::Status(500, None)]);
    endpoint(&bank, &receiver.url(), json!(["account.created"])).await;
    let _worker = worker(&store);
    bank.open(&bank.alice, "EUR").await;

    // The first attempt and a retry.
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].id(), got[0].id());
    // The test is built from the api crate, so this is the version the worker names.
    let agent = concat!("Coffre-Webhooks/", env!("CARGO_PKG_VERSION"));
    for received in &got {
        assert_eq!(received.method, Method::POST);
        assert_eq!(only(&received.headers, "user-agent"), agent);
        assert_eq!(only(&received.headers, "content-type"), "application/json");
    }
}

async fn redirects_are_answers_not_followed(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let elsewhere = Receiver::start().await;
    let mut redirecting = Vec::new();
    // 302 (which a client may follow as a GET) and 307 (which keeps the POST).
    for status in [302, 307] {
        let receiver = Receiver::start().await;
        receiver.script(&[Reply::Redirect(status, elsewhere.addr)]);
        let (id, _) = endpoint(&bank, &receiver.url(), json!(["account.created"])).await;
        redirecting.push((status, receiver, id));
    }
    let _worker = worker_with(&store, true, "1h");
    bank.open(&bank.alice, "EUR").await;

    for (status, receiver, endpoint_id) in &redirecting {
        let delivery = settled_or_attempted(&bank, endpoint_id).await;
        let attempt = &delivery["attempts"][0];
        assert_eq!(attempt["response_code"], *status, "{delivery}");
        assert_eq!(attempt["error"], Value::Null);
        assert_eq!(attempt["response_body"], format!("answer {status}"));
        assert_eq!(delivery["status"], "pending", "a redirect is retried");
        assert_eq!(receiver.got().len(), 1);
    }
    // A followed redirect would have reached it within the attempt, before it was recorded.
    assert!(elsewhere.got().is_empty(), "{:?}", elsewhere.got());
}

async fn an_attempt_unanswered_for_15_seconds_times_out(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let receiver = Receiver::start().await;
    receiver.script(&[Reply::Silence]);
    let (endpoint_id, _) = endpoint(&bank, &receiver.url(), json!(["account.created"])).await;
    let _worker = worker_with(&store, true, "1h");
    bank.open(&bank.alice, "EUR").await;

    // PATIENCE (30 s) outlasts the attempt's 15 s.
    let delivery = settled_or_attempted(&bank, &endpoint_id).await;
    let attempt = &delivery["attempts"][0];
    assert_eq!(attempt["error"], "timed_out", "{delivery}");
    assert_eq!(attempt["response_code"], Value::Null);
    assert_eq!(attempt["response_body"], Value::Null);
    let took = attempt["duration_ms"].as_u64().unwrap();
    assert!((14_000..20_000).contains(&took), "{took} ms");
    assert_eq!(delivery["status"], "pending", "a timeout is retried");
    assert_eq!(
        receiver.got().len(),
        1,
        "the request did reach the receiver"
    );
}

async fn retry_after_pauses_every_delivery_of_the_endpoint(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let receiver = Receiver::start().await;
    receiver.script(&[Reply::Status(429, Some("2"))]);
    let (endpoint_id, _) = endpoint(&bank, &receiver.url(), json!(["account.created"])).await;
    // A 200 ms schedule: without the pause, the others would follow within a round or two.
    let _worker = worker(&store);
    let mut accounts = vec![bank.open(&bank.alice, "EUR").await];
    let asked = receiver.wait_for(1).await[0].clone();
    // Written during the pause, and due at once but for it.
    accounts.push(bank.open(&bank.bob, "EUR").await);
    accounts.push(bank.open(&bank.alice, "EUR").await);

    let got = receiver.wait_for(4).await;
    assert_eq!(got.len(), 4);
    for received in &got[1..] {
        let gap = received.at - asked.at;
        assert!(
            gap >= Duration::from_millis(1950),
            "sent {gap:?} after Retry-After: 2"
        );
    }
    // Then all of them, the retry first, in creation order.
    let sent: Vec<Value> = got[1..]
        .iter()
        .map(|received| received.json()["data"]["object"]["id"].clone())
        .collect();
    assert_eq!(sent, accounts);
    assert_eq!(got[1].id(), asked.id());
    let all = settled(&bank, &endpoint_id).await;
    assert_eq!(all["status"], "succeeded");
    let listed = deliveries(&bank, &endpoint_id, "?status=succeeded").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3, "{listed}");
}

/// Enables or disables the endpoint, as an admin does.
async fn set_enabled(bank: &Bank, endpoint: &str, enabled: bool) {
    let changed = call(
        &bank.app,
        "PATCH",
        &format!("/v1/webhook-endpoints/{endpoint}"),
        &bank.admin.token,
        Some(json!({"enabled": enabled})),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    assert_eq!(changed.json()["enabled"], enabled);
}

/// Sleeps until a worker would have made an attempt due at `at` (RFC 3339): then and a few of
/// its polls later.
async fn past(at: &Value) {
    let at = chrono::DateTime::parse_from_rfc3339(at.as_str().unwrap()).unwrap();
    let left = (at.to_utc() - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(left + 3 * coffre_api::delivery::POLL_INTERVAL).await;
}

async fn a_disabled_endpoint_is_sent_nothing_until_enabled_again(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let receiver = Receiver::start().await;
    receiver.script(&[Reply::Status(500, None)]);
    let (endpoint_id, _) = endpoint(&bank, &receiver.url(), json!(["account.created"])).await;
    // A first wait long enough to disable the endpoint before the retry is due.
    let _worker = worker_with(&store, true, "1s,1h");
    let account = bank.open(&bank.alice, "EUR").await;
    let failed = settled_or_attempted(&bank, &endpoint_id).await;
    assert_eq!(failed["status"], "pending", "{failed}");

    set_enabled(&bank, &endpoint_id, false).await;
    // Nor is an event written while it is disabled sent, now or later.
    bank.open(&bank.bob, "EUR").await;
    past(&failed["next_attempt_at"]).await;
    assert_eq!(receiver.got().len(), 1, "sent to a disabled endpoint");
    let waiting = deliveries(&bank, &endpoint_id, "").await;
    assert_eq!(waiting["data"].as_array().unwrap().len(), 1, "{waiting}");
    assert_eq!(waiting["data"][0]["status"], "pending");
    assert_eq!(waiting["data"][0]["attempts"].as_array().unwrap().len(), 1);

    set_enabled(&bank, &endpoint_id, true).await;
    let got = receiver.wait_for(2).await;
    assert_eq!(
        got[1].id(),
        got[0].id(),
        "the waiting delivery, tried again"
    );
    assert_eq!(got[1].json()["data"]["object"]["id"], account.as_str());
    let delivery = settled(&bank, &endpoint_id).await;
    // Whatever else that round had due was sent before the round was recorded.
    assert_eq!(
        receiver.got().len(),
        2,
        "an event written while disabled was sent"
    );
    assert_eq!(delivery["event_id"], got[0].id().as_str());
    assert_eq!(delivery["status"], "succeeded", "{delivery}");
    assert_eq!(delivery["attempts"].as_array().unwrap().len(), 2);
}
