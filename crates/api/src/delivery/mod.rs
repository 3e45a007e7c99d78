//! The webhook delivery worker `serve` runs (API.md "Webhook deliveries"): it claims endpoints
//! with work due (outbox rows, or pending deliveries due) under a lease, and sends each
//! endpoint's deliveries one after another, in creation order, on a task of its own, so a slow
//! or dead endpoint holds up nobody else and never the money path. What an attempt means is
//! decided in `coffre_domain::delivery`; every attempt is recorded.

mod sender;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use coffre_domain::audit::AuditContext;
use coffre_domain::delivery::{
    AttemptDecision, DeliveryStatus, EndpointVerdict, JITTER_PERMILLE, RetrySchedule,
    decide_attempt, signature_header,
};
use coffre_domain::time::Timestamp;
use coffre_domain::webhook::EndpointChange;
use coffre_store::deliveries::{Answer, Attempt, AttemptMade, DueDelivery, queue_age};
use coffre_store::{Claim, RoundMade, Store};
use tokio::task::JoinSet;

pub use sender::ATTEMPT_TIMEOUT;
use sender::{Sender, Signed};

use crate::routes::event_json;

/// How often the worker looks for work when it found none.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Endpoints one instance sends to at once, each on its own task.
pub const MAX_ENDPOINTS_IN_FLIGHT: usize = 8;

/// The most deliveries one round sends to one endpoint before it lets the endpoint go.
pub const ROUND_DELIVERIES: u32 = 500;

/// How long an endpoint rests after a round that did not leave it more to send at once (it
/// emptied what was due, or an attempt failed): a steady stream then goes out in rounds of
/// hundreds rather than of a few, each claimed and recorded once, and a broken endpoint is not
/// tried again the moment its round ends.
pub const ROUND_PAUSE: TimeDelta = TimeDelta::milliseconds(250);

/// No attempt of a round starts later than this after the round began.
pub const ROUND_BUDGET: Duration = Duration::from_secs(10);

/// How long a claim holds an endpoint: longer than a round can last (its budget, then one last
/// attempt), so no other instance takes it while its round runs; after a crash, how long until
/// another instance sends what the crashed one had not recorded.
pub const LEASE: TimeDelta = TimeDelta::seconds(60);

/// How often the queue's age is measured for `/metrics`.
const QUEUE_AGE_EVERY: Duration = Duration::from_secs(5);

/// What the worker needs besides the store.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Let attempts reach loopback, private and link-local addresses (tests, private networks).
    pub allow_private: bool,
    /// The waits between attempts.
    pub retry_schedule: RetrySchedule,
}

/// The HTTP client could not be built (no TLS roots, say).
#[derive(Debug, thiserror::Error)]
#[error("the webhook HTTP client could not be built: {0}")]
pub struct DeliveryStartError(#[from] reqwest::Error);

/// The worker; [`Deliverer::run`] goes on until its task is aborted. A round cut short by the
/// abort is sent again by whichever instance claims the endpoint after the lease: at least once.
pub struct Deliverer {
    store: Arc<dyn Store>,
    sender: Sender,
    schedule: Arc<RetrySchedule>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").finish_non_exhaustive()
    }
}

impl Deliverer {
    pub fn new(
        store: Arc<dyn Store>,
        settings: DeliverySettings,
    ) -> Result<Self, DeliveryStartError> {
        Ok(Self {
            store,
            sender: Sender::new(settings.allow_private)?,
            schedule: Arc::new(settings.retry_schedule),
        })
    }

    pub async fn run(self) {
        let mut rounds = JoinSet::new();
        let mut age_measured: Option<tokio::time::Instant> = None;
        loop {
            while rounds.len() < MAX_ENDPOINTS_IN_FLIGHT {
                let now = Timestamp::now();
                match self
                    .store
                    .claim_deliveries(now, now.deadline_after(LEASE), ROUND_DELIVERIES)
                    .await
                {
                    Ok(Some(claim)) => {
                        rounds.spawn(round(
                            self.store.clone(),
                            self.sender.clone(),
                            self.schedule.clone(),
                            claim,
                        ));
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "could not claim webhook deliveries");
                        break;
                    }
                }
            }
            if age_measured.is_none_or(|at| at.elapsed() >= QUEUE_AGE_EVERY) {
                self.measure_queue_age().await;
                age_measured = Some(tokio::time::Instant::now());
            }
            // A round that ends frees a slot, and may leave more due: look again at once.
            tokio::select! {
                Some(_) = rounds.join_next(), if !rounds.is_empty() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    async fn measure_queue_age(&self) {
        let now = Timestamp::now();
        match self.store.oldest_due_delivery(now).await {
            Ok(oldest) => {
                let age = queue_age(now, oldest).to_std().unwrap_or_default();
                metrics::gauge!("coffre_webhook_queue_age_seconds").set(age.as_secs_f64());
            }
            Err(error) => tracing::warn!(%error, "could not measure the webhook queue"),
        }
    }
}

/// Sends a claimed endpoint's due deliveries in order until one fails, the budget is spent, or
/// they are done; records them and lets the endpoint go.
async fn round(store: Arc<dyn Store>, sender: Sender, schedule: Arc<RetrySchedule>, claim: Claim) {
    let started = tokio::time::Instant::now();
    let endpoint = &claim.endpoint;
    let mut attempts = Vec::new();
    let mut claimable_from = None;
    let mut gone = false;
    let mut failed = false;
    for due in &claim.due {
        if started.elapsed() >= ROUND_BUDGET {
            break;
        }
        let Some((made, decision)) = attempt(&sender, endpoint, due, &schedule).await else {
            // Corrupt data that a retry cannot mend: look again after a lease, not at once.
            claimable_from = Some(Timestamp::now().deadline_after(LEASE));
            break;
        };
        metrics::counter!("coffre_webhook_attempts_total", "outcome" => outcome(&made.status_after))
            .increment(1);
        attempts.push(made);
        match decision.endpoint {
            EndpointVerdict::Healthy => {}
            EndpointVerdict::Unhealthy => {
                failed = true;
                break;
            }
            EndpointVerdict::PausedUntil(until) => {
                claimable_from = Some(until);
                break;
            }
            EndpointVerdict::Gone => {
                gone = true;
                break;
            }
        }
    }
    // Cut short by the budget, or as many as a round takes: there may be more to send now.
    let more_due = !failed
        && (attempts.len() < claim.due.len()
            || claim.due.len() >= usize::try_from(ROUND_DELIVERIES).unwrap_or(usize::MAX));
    let now = Timestamp::now();
    let recorded = store
        .record_round(RoundMade {
            lease: claim.lease,
            endpoint_id: endpoint.id,
            attempts,
            claimable_from: claimable_from.unwrap_or_else(|| {
                if more_due {
                    now
                } else {
                    now.deadline_after(ROUND_PAUSE)
                }
            }),
            now,
        })
        .await;
    if let Err(error) = recorded {
        tracing::warn!(%error, endpoint = %endpoint.id, "could not record webhook attempts");
    }
    if gone {
        tracing::warn!(endpoint = %endpoint.id, "webhook endpoint answered 410 Gone: disabled");
        let disable = EndpointChange::Update {
            url: None,
            event_types: None,
            enabled: Some(false),
        };
        if let Err(error) = store
            .change_webhook_endpoint(endpoint.id, disable, &AuditContext::default())
            .await
        {
            tracing::warn!(%error, endpoint = %endpoint.id, "could not disable a gone endpoint");
        }
    }
}

/// One attempt of `due`, signed with every secret live now; `None` if it cannot be rendered or
/// signed (logged: a stored event or secret is corrupt).
async fn attempt(
    sender: &Sender,
    endpoint: &coffre_domain::webhook::WebhookEndpoint,
    due: &DueDelivery,
    schedule: &RetrySchedule,
) -> Option<(AttemptMade, AttemptDecision)> {
    let id = due.event.id.to_string();
    let body = match event_json(due.event.clone()) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, event = %id, "a stored event cannot be rendered");
            return None;
        }
    };
    let attempted_at = Timestamp::now();
    let timestamp = attempted_at.as_datetime().timestamp();
    let Some(signature) = signature_header(
        &endpoint.signing_secrets(attempted_at),
        &id,
        timestamp,
        &body,
    ) else {
        tracing::error!(endpoint = %endpoint.id, "a webhook endpoint has no usable secret");
        return None;
    };
    let signed = Signed {
        id: &id,
        timestamp,
        signature: &signature,
    };
    let sent = sender.send(endpoint.url.as_str(), &signed, body).await;
    let number = due.due.next_attempt();
    let jitter = rand::random_range(-JITTER_PERMILLE..=JITTER_PERMILLE);
    let decision = decide_attempt(number, sent.result, Timestamp::now(), schedule, jitter);
    let made = AttemptMade {
        delivery_id: due.id,
        event_id: due.event.id,
        due: due.due,
        attempt: Attempt {
            number,
            attempted_at,
            answer: Answer::of(sent.result),
            duration_ms: sent.duration_ms,
            response_body: sent.response_body,
        },
        status_after: decision.delivery,
    };
    Some((made, decision))
}

fn outcome(status: &DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Succeeded => "succeeded",
        DeliveryStatus::Pending { .. } => "retrying",
        DeliveryStatus::Failed => "failed",
    }
}
