//! `--webhooks N`: N webhook receivers in this process, each answering every delivery 200 and
//! noting its event, subscribed to every event while a workload runs again, so the run shows
//! what delivering costs the money path.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::json;
use tokio::net::TcpListener;

use crate::Bank;

/// How long, after a run, the deliveries it caused may take to arrive before the count is
/// printed as it stands.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

pub struct Sinks {
    urls: Vec<String>,
    received: Arc<AtomicU64>,
    /// The events each sink got.
    seen: Vec<Arc<Mutex<HashSet<String>>>>,
}

#[derive(Clone)]
struct Sink {
    received: Arc<AtomicU64>,
    seen: Arc<Mutex<HashSet<String>>>,
}

async fn receive(State(sink): State<Sink>, headers: HeaderMap) -> &'static str {
    sink.received.fetch_add(1, Ordering::Relaxed);
    if let Some(id) = headers.get("webhook-id").and_then(|id| id.to_str().ok()) {
        sink.seen.lock().unwrap().insert(id.to_owned());
    }
    "ok"
}

impl Sinks {
    pub async fn start(count: usize) -> Self {
        let received = Arc::new(AtomicU64::new(0));
        let mut urls = Vec::new();
        let mut seen = Vec::new();
        for _ in 0..count {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.push(format!("http://{}/hook", listener.local_addr().unwrap()));
            let sink = Sink {
                received: received.clone(),
                seen: Arc::default(),
            };
            seen.push(sink.seen.clone());
            let app = Router::new().route("/hook", post(receive)).with_state(sink);
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        }
        Self {
            urls,
            received,
            seen,
        }
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Subscribes every sink to every event; the endpoints' ids.
    pub async fn subscribe(&self, bank: &Bank) -> Vec<String> {
        let mut ids = Vec::new();
        for url in &self.urls {
            let (status, body) = bank
                .http
                .call(
                    "POST",
                    "/v1/webhook-endpoints",
                    Some(&bank.admin),
                    None,
                    Some(json!({"url": url, "event_types": ["*"]})),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            ids.push(body["id"].as_str().unwrap().to_owned());
        }
        ids
    }

    /// Waits (at most [`DRAIN_LIMIT`]) until every sink got the newest event, then removes the
    /// endpoints; how long the last deliveries took to arrive after the run.
    pub async fn drain_and_unsubscribe(&self, bank: &Bank, ids: &[String]) -> Duration {
        let started = Instant::now();
        let (status, page) = bank
            .http
            .call("GET", "/v1/events?limit=1", Some(&bank.admin), None, None)
            .await;
        assert_eq!(status, 200, "{page}");
        if let Some(newest) = page["data"][0]["id"].as_str() {
            while started.elapsed() < DRAIN_LIMIT
                && !self
                    .seen
                    .iter()
                    .all(|seen| seen.lock().unwrap().contains(newest))
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let drained = started.elapsed();
        for id in ids {
            let (status, _) = bank
                .http
                .call(
                    "DELETE",
                    &format!("/v1/webhook-endpoints/{id}"),
                    Some(&bank.admin),
                    None,
                    None,
                )
                .await;
            assert_eq!(status, 204);
        }
        drained
    }
}
