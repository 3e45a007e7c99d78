//! Webhook deliveries (API.md "Webhook deliveries"): which endpoint wants which event, how an
//! attempt is signed (Standard Webhooks), which addresses an attempt may reach, and what an
//! attempt's result makes of its delivery and its endpoint. The worker that sends them and the
//! store that keeps them follow these decisions; none is taken twice.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::audit::{AuditAction, AuditContext, NewAuditEvent, ResourceType};
use crate::event::{EventId, EventType};
use crate::ids::{WebhookDeliveryId, WebhookEndpointId};
use crate::time::Timestamp;
use crate::webhook::{WebhookEndpoint, WebhookSecret};

/// The waits between attempts when no setting says otherwise: about 5 s, 5 min, 30 min, 2 h,
/// 5 h, 10 h, 14 h, 20 h and 24 h, so a delivery is tried ten times over about three days.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,14h,20h,24h";

/// The most waits a schedule may name (so the most attempts is one more).
pub const MAX_RETRIES: usize = 20;

/// The longest single wait a schedule may name, and the longest `Retry-After` honoured.
pub const MAX_WAIT: TimeDelta = TimeDelta::days(7);

/// How far each wait is stretched or shortened at random, in thousandths (±10 %): endpoints
/// that failed together are not retried together.
pub const JITTER_PERMILLE: i64 = 100;

/// The waits between a delivery's attempts: the first retry comes `waits[0]` after the first
/// attempt, and so on; when they run out the delivery has failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<TimeDelta>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a retry schedule is 1 to {MAX_RETRIES} waits separated by commas, each a whole number \
     with ms, s, m or h (5s,5m,30m), above zero and at most 7 days"
)]
pub struct BadRetrySchedule;

impl RetrySchedule {
    /// The most attempts a delivery gets: the first and one per wait.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.0.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The wait after attempt `number` (1-based) failed, stretched by `jitter_permille`
    /// (clamped to ±[`JITTER_PERMILLE`]); `None` when that was the last attempt.
    pub fn wait_after(&self, number: u32, jitter_permille: i64) -> Option<TimeDelta> {
        let index = usize::try_from(number.checked_sub(1)?).ok()?;
        let wait = *self.0.get(index)?;
        let jitter = jitter_permille.clamp(-JITTER_PERMILLE, JITTER_PERMILLE);
        let millis = wait.num_milliseconds();
        let stretch = millis.checked_mul(jitter)?.checked_div(1000)?;
        Some(TimeDelta::milliseconds(millis.checked_add(stretch)?))
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        DEFAULT_RETRY_SCHEDULE
            .parse()
            .unwrap_or_else(|_| Self(vec![TimeDelta::seconds(5)]))
    }
}

impl FromStr for RetrySchedule {
    type Err = BadRetrySchedule;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let waits = text
            .split(',')
            .map(|part| parse_wait(part.trim()))
            .collect::<Option<Vec<_>>>()
            .ok_or(BadRetrySchedule)?;
        if waits.is_empty() || waits.len() > MAX_RETRIES {
            return Err(BadRetrySchedule);
        }
        Ok(Self(waits))
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|wait| format!("{}ms", wait.num_milliseconds()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

fn parse_wait(text: &str) -> Option<TimeDelta> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits);
    let number: i64 = number.parse().ok()?;
    let wait = match unit {
        "ms" => TimeDelta::try_milliseconds(number),
        "s" => TimeDelta::try_seconds(number),
        "m" => TimeDelta::try_minutes(number),
        "h" => TimeDelta::try_hours(number),
        _ => None,
    }?;
    (wait > TimeDelta::zero() && wait <= MAX_WAIT).then_some(wait)
}

impl WebhookEndpoint {
    /// Whether this endpoint is to be sent an event of `event_type` created at `created_at`:
    /// enabled, subscribed to the type, and in existence when the event happened.
    pub fn wants(&self, event_type: EventType, created_at: Timestamp) -> bool {
        self.enabled && self.event_types.matches(event_type) && created_at >= self.created_at
    }
}

/// WEBHOOK_REDELIVERY_QUEUED: an admin queued `event` again for `endpoint`, as `delivery`.
pub fn redelivery_queued(
    endpoint: WebhookEndpointId,
    event: EventId,
    delivery: WebhookDeliveryId,
    context: &AuditContext,
) -> NewAuditEvent {
    NewAuditEvent {
        action: AuditAction::WebhookRedeliveryQueued,
        resource_type: ResourceType::WebhookEndpoint,
        resource_id: Some(endpoint.to_string()),
        old_value: None,
        new_value: Some(serde_json::json!({
            "event_id": event.to_string(),
            "delivery_id": delivery.to_string(),
        })),
        context: context.clone(),
    }
}

/// The `webhook-signature` header for one attempt: `v1,<base64 HMAC-SHA256>` of
/// `"{id}.{timestamp}.{body}"` under each secret, space-separated (Standard Webhooks). A secret
/// is `whsec_` and the base64 of its key; one that is not is skipped, and if none is left the
/// attempt cannot be signed.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    id: &str,
    timestamp: i64,
    body: &str,
) -> Option<String> {
    let signed = format!("{id}.{timestamp}.{body}");
    let signatures: Vec<String> = secrets
        .iter()
        .filter_map(|secret| {
            let key = STANDARD
                .decode(secret.expose().strip_prefix("whsec_")?)
                .ok()?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
            mac.update(signed.as_bytes());
            Some(format!(
                "v1,{}",
                STANDARD.encode(mac.finalize().into_bytes())
            ))
        })
        .collect();
    (!signatures.is_empty()).then(|| signatures.join(" "))
}

/// Whether an attempt may connect to `ip` when private addresses are not allowed: not
/// loopback, private, link-local (which holds the cloud metadata address 169.254.169.254),
/// shared (carrier-grade NAT), "this network" (0/8, unspecified among them), reserved (240/4,
/// broadcast among them), multicast, documentation or unique local. An IPv4 address mapped
/// into IPv6 is judged as itself.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b);
            let this_network = a == 0;
            let reserved = a >= 240;
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_documentation()
                || shared
                || this_network
                || reserved)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_address(IpAddr::V4(v4)),
            None => {
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local())
            }
        },
    }
}

/// Why an attempt got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAnswer {
    /// No answer within the attempt's deadline.
    TimedOut,
    /// The host could not be resolved or reached, or the connection broke.
    Unreachable,
    /// The host resolves only to addresses an attempt may not reach.
    AddressRefused,
}

impl NoAnswer {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TimedOut => "timed_out",
            Self::Unreachable => "unreachable",
            Self::AddressRefused => "address_refused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::TimedOut, Self::Unreachable, Self::AddressRefused]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// What one attempt got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// An HTTP answer: its status, and its `Retry-After` when it gave one.
    Answered {
        status: u16,
        retry_after: Option<TimeDelta>,
    },
    NoAnswer(NoAnswer),
}

impl AttemptResult {
    /// A 2xx answer: the endpoint has the event.
    pub fn delivered(&self) -> bool {
        matches!(self, Self::Answered { status, .. } if (200..300).contains(status))
    }
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Its next attempt is due at this instant.
    Pending {
        next_attempt_at: Timestamp,
    },
    Succeeded,
    /// Its attempts ran out, or the endpoint is gone.
    Failed,
}

impl DeliveryStatus {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Pending { .. } => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub const fn next_attempt_at(&self) -> Option<Timestamp> {
        match self {
            Self::Pending { next_attempt_at } => Some(*next_attempt_at),
            Self::Succeeded | Self::Failed => None,
        }
    }
}

/// What an attempt makes of its endpoint for the rest of the worker's round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointVerdict {
    /// It answered 2xx: the next delivery may follow at once.
    Healthy,
    /// It failed: no more attempts this round, so one broken endpoint is not hammered.
    Unhealthy,
    /// It asked (`Retry-After`) to be left alone until then.
    PausedUntil(Timestamp),
    /// It answered 410 Gone: it is disabled, and gets nothing more until an admin enables it.
    Gone,
}

/// What attempt `number` (1-based) of a delivery, made at `now`, decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptDecision {
    pub delivery: DeliveryStatus,
    pub endpoint: EndpointVerdict,
}

/// Decides attempt `number`'s consequences: delivered on 2xx; on 410 failed and the endpoint
/// disabled; otherwise retried after the schedule's next wait (jittered by `jitter_permille`),
/// or later if the answer's `Retry-After` says so, until the schedule runs out.
pub fn decide_attempt(
    number: u32,
    result: AttemptResult,
    now: Timestamp,
    schedule: &RetrySchedule,
    jitter_permille: i64,
) -> AttemptDecision {
    if result.delivered() {
        return AttemptDecision {
            delivery: DeliveryStatus::Succeeded,
            endpoint: EndpointVerdict::Healthy,
        };
    }
    let (gone, retry_after) = match result {
        AttemptResult::Answered {
            status,
            retry_after,
        } => (status == 410, retry_after.map(|wait| wait.min(MAX_WAIT))),
        AttemptResult::NoAnswer(_) => (false, None),
    };
    if gone {
        return AttemptDecision {
            delivery: DeliveryStatus::Failed,
            endpoint: EndpointVerdict::Gone,
        };
    }
    let endpoint = match retry_after {
        Some(wait) => EndpointVerdict::PausedUntil(now.deadline_after(wait)),
        None => EndpointVerdict::Unhealthy,
    };
    let delivery = match schedule.wait_after(number, jitter_permille) {
        Some(wait) => DeliveryStatus::Pending {
            next_attempt_at: now.deadline_after(retry_after.map_or(wait, |asked| wait.max(asked))),
        },
        None => DeliveryStatus::Failed,
    };
    AttemptDecision { delivery, endpoint }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_the_documented_one() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule, DEFAULT_RETRY_SCHEDULE.parse().unwrap());
        assert_eq!(schedule.max_attempts(), 10);
        assert_eq!(schedule.wait_after(1, 0), Some(TimeDelta::seconds(5)));
        assert_eq!(schedule.wait_after(9, 0), Some(TimeDelta::hours(24)));
        assert_eq!(schedule.wait_after(10, 0), None);
        assert_eq!(schedule.wait_after(0, 0), None);
    }
}
