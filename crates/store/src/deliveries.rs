//! Webhook deliveries as both backends keep them (API.md "Webhook deliveries"). Each event
//! written while an endpoint is enabled also lands, by a trigger in the event's own
//! transaction, in the outbox, a row for each enabled endpoint; the worker claims an endpoint
//! under a lease, reads its outbox rows and due pending deliveries ([`sort_due`]), sends them,
//! and records each attempt with what it decided. A delivery is written once, with its first
//! attempt, unless that attempt failed.

use chrono::TimeDelta;
use coffre_domain::delivery::{AttemptResult, DeliveryStatus, NoAnswer};
use coffre_domain::event::{EventId, EventType};
use coffre_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use coffre_domain::time::Timestamp;
use coffre_domain::webhook::WebhookEndpoint;

use crate::StoreError;
use crate::events::{EventRecord, EventRow};
use crate::ledger_rows::CorruptLedgerRow;

/// The most bytes of an endpoint's answer kept with its attempt.
pub const MAX_RESPONSE_BODY_BYTES: usize = 4096;

/// A delivery to create: pending, due at once (a redelivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewDelivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    pub event_id: EventId,
}

impl NewDelivery {
    /// The delivery as it stands when written: pending, due at `now`, no attempt yet.
    pub fn queued(self, event_type: EventType, now: Timestamp) -> Delivery {
        Delivery {
            id: self.id,
            endpoint_id: self.endpoint_id,
            event_id: self.event_id,
            event_type,
            status: DeliveryStatus::Pending {
                next_attempt_at: now,
            },
            attempts: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// What redelivering an event queues: one fresh delivery for every endpoint enabled and
/// subscribed to its type now, whenever it was created.
pub fn plan_redelivery(
    event_id: EventId,
    event_type: EventType,
    endpoints: &[WebhookEndpoint],
) -> Vec<NewDelivery> {
    endpoints
        .iter()
        .filter(|endpoint| endpoint.enabled && endpoint.event_types.matches(event_type))
        .map(|endpoint| NewDelivery {
            id: WebhookDeliveryId::new(),
            endpoint_id: endpoint.id,
            event_id,
        })
        .collect()
}

/// What one attempt got, as stored: an HTTP status, or why there was none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    None(NoAnswer),
}

impl Answer {
    pub fn of(result: AttemptResult) -> Self {
        match result {
            AttemptResult::Answered { status, .. } => Self::Status(status),
            AttemptResult::NoAnswer(reason) => Self::None(reason),
        }
    }
}

/// One attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first.
    pub number: u32,
    pub attempted_at: Timestamp,
    pub answer: Answer,
    pub duration_ms: u32,
    /// The start of the answer's body (at most [`MAX_RESPONSE_BODY_BYTES`]), when it had one.
    pub response_body: Option<String>,
}

/// A delivery with its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which deliveries of an endpoint a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeliveryFilter {
    #[default]
    All,
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryFilter {
    /// The status to bind, if any.
    /// `?status=` as a client spells it.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|filter| filter.status() == Some(text))
    }

    pub const fn status(self) -> Option<&'static str> {
        match self {
            Self::All => None,
            Self::Pending => Some("pending"),
            Self::Succeeded => Some("succeeded"),
            Self::Failed => Some("failed"),
        }
    }
}

/// The lease an instance holds on an endpoint while it sends the endpoint's deliveries: no
/// other instance claims the endpoint until the lease is released or runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseId(pub uuid::Uuid);

/// Where a due delivery stands in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Its event waits in the endpoint's outbox: the delivery is written with its first
    /// attempt.
    Outbox,
    /// A pending delivery (a retry, or a redelivery), after this many attempts.
    Stored { attempts_made: u32 },
}

impl Due {
    /// The number of the attempt to make now: 1 for the first.
    pub const fn next_attempt(self) -> u32 {
        match self {
            Self::Outbox => 1,
            Self::Stored { attempts_made } => attempts_made.saturating_add(1),
        }
    }
}

/// A delivery due now, with its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// Made up by the claim when the delivery is not stored yet.
    pub id: WebhookDeliveryId,
    pub due: Due,
    pub event: EventRecord,
}

/// A row of a claim's read: its event, and the stored pending delivery it is (its id and
/// attempt count), or none for an event in the endpoint's outbox.
#[derive(Debug)]
pub struct DueRow {
    pub stored: Option<(uuid::Uuid, i64)>,
    pub event: EventRow,
}

/// A claim's rows sorted: what to send, in the order read, and the outbox events the endpoint
/// does not want ([`WebhookEndpoint::wants`]), to delete unsent. A stored delivery is sent
/// whatever the endpoint subscribes to now (a redelivery was asked for).
pub fn sort_due(
    endpoint: &WebhookEndpoint,
    rows: Vec<DueRow>,
) -> Result<(Vec<DueDelivery>, Vec<EventId>), StoreError> {
    let mut due = Vec::with_capacity(rows.len());
    let mut unwanted = Vec::new();
    for row in rows {
        let event = row
            .event
            .into_record()
            .map_err(|error| StoreError::Internal(error.into()))?;
        match row.stored {
            None if !endpoint.wants(event.event_type, event.created_at) => unwanted.push(event.id),
            None => due.push(DueDelivery {
                id: WebhookDeliveryId::new(),
                due: Due::Outbox,
                event,
            }),
            Some((id, attempts)) => due.push(DueDelivery {
                id: WebhookDeliveryId::from_uuid(id),
                due: Due::Stored {
                    attempts_made: u32::try_from(attempts).map_err(|_| {
                        StoreError::Internal(format!("delivery {id} has a negative count").into())
                    })?,
                },
                event,
            }),
        }
    }
    Ok((due, unwanted))
}

/// An endpoint claimed under a lease, with its due deliveries in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub lease: LeaseId,
    pub endpoint: WebhookEndpoint,
    pub due: Vec<DueDelivery>,
}

/// An attempt made, to record with what it decided of its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptMade {
    pub delivery_id: WebhookDeliveryId,
    pub event_id: EventId,
    pub due: Due,
    pub attempt: Attempt,
    pub status_after: DeliveryStatus,
}

/// What a round of deliveries recorded: its attempts, and until when nobody is to claim the
/// endpoint again (now, or later if it asked to be left alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundMade {
    pub lease: LeaseId,
    pub endpoint_id: WebhookEndpointId,
    pub attempts: Vec<AttemptMade>,
    pub claimable_from: Timestamp,
    pub now: Timestamp,
}

/// A delivery's row, read back.
#[derive(Debug)]
pub struct DeliveryRow {
    pub id: uuid::Uuid,
    pub endpoint_id: uuid::Uuid,
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub status: String,
    pub next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// An attempt's row, read back.
#[derive(Debug)]
pub struct AttemptRow {
    pub delivery_id: uuid::Uuid,
    pub number: i64,
    pub attempted_at: chrono::DateTime<chrono::Utc>,
    pub response_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub response_body: Option<String>,
}

impl AttemptRow {
    fn into_attempt(self) -> Result<Attempt, CorruptLedgerRow> {
        let bad = |column| CorruptLedgerRow {
            table: "webhook_attempts",
            id: self.delivery_id,
            column,
        };
        let answer = match (self.response_code, self.error.as_deref()) {
            (Some(code), None) => {
                Answer::Status(u16::try_from(code).map_err(|_| bad("response_code"))?)
            }
            (None, Some(error)) => {
                Answer::None(NoAnswer::parse(error).ok_or_else(|| bad("error"))?)
            }
            _ => return Err(bad("response_code")),
        };
        Ok(Attempt {
            number: u32::try_from(self.number).map_err(|_| bad("number"))?,
            attempted_at: Timestamp::from_datetime(self.attempted_at),
            answer,
            duration_ms: u32::try_from(self.duration_ms).map_err(|_| bad("duration_ms"))?,
            response_body: self.response_body,
        })
    }
}

/// Deliveries and their attempts (every attempt of these deliveries, in any order), joined.
pub fn join_attempts(
    deliveries: Vec<DeliveryRow>,
    attempts: Vec<AttemptRow>,
) -> Result<Vec<Delivery>, CorruptLedgerRow> {
    let mut attempts = attempts
        .into_iter()
        .map(|row| Ok((row.delivery_id, row.into_attempt()?)))
        .collect::<Result<Vec<_>, CorruptLedgerRow>>()?;
    attempts.sort_by_key(|(delivery, attempt)| (*delivery, attempt.number));
    deliveries
        .into_iter()
        .map(|row| {
            let bad = |column| CorruptLedgerRow {
                table: "webhook_deliveries",
                id: row.id,
                column,
            };
            let status = match (row.status.as_str(), row.next_attempt_at) {
                ("pending", Some(at)) => DeliveryStatus::Pending {
                    next_attempt_at: Timestamp::from_datetime(at),
                },
                ("succeeded", None) => DeliveryStatus::Succeeded,
                ("failed", None) => DeliveryStatus::Failed,
                _ => return Err(bad("status")),
            };
            Ok(Delivery {
                id: WebhookDeliveryId::from_uuid(row.id),
                endpoint_id: WebhookEndpointId::from_uuid(row.endpoint_id),
                event_id: EventId::from_uuid(row.event_id),
                event_type: EventType::parse(&row.event_type).ok_or_else(|| bad("event_type"))?,
                status,
                attempts: attempts
                    .iter()
                    .filter(|(delivery, _)| *delivery == row.id)
                    .map(|(_, attempt)| attempt.clone())
                    .collect(),
                created_at: Timestamp::from_datetime(row.created_at),
                updated_at: Timestamp::from_datetime(row.updated_at),
            })
        })
        .collect()
}

/// An attempt's answer as the columns `response_code` and `error`.
pub fn answer_columns(answer: Answer) -> (Option<i32>, Option<&'static str>) {
    match answer {
        Answer::Status(code) => (Some(i32::from(code)), None),
        Answer::None(reason) => (None, Some(reason.as_str())),
    }
}

/// The attempt count a delivery has after `attempt` (its number), as a column.
pub fn attempts_column(attempt: &Attempt) -> i32 {
    i32::try_from(attempt.number).unwrap_or(i32::MAX)
}

/// How long the oldest due work has waited: the oldest event in an enabled endpoint's outbox,
/// or the oldest due delivery of an enabled endpoint.
pub fn queue_age(now: Timestamp, oldest: Option<chrono::DateTime<chrono::Utc>>) -> TimeDelta {
    oldest.map_or(TimeDelta::zero(), |oldest| {
        now.as_datetime()
            .signed_duration_since(oldest)
            .max(TimeDelta::zero())
    })
}
