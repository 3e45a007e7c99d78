//! The public events (API.md "Events"): what changed, in `noun.verb` form, with the resource as
//! it stood right after the change. The ledger decides which events a command emits, beside its
//! audit events, so a backend writes them in the change's own transaction: no event without its
//! change, no change without its event.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::hold::HoldView;
use crate::ledger::{Account, Transaction, Transfer};
use crate::payment::PaymentView;
use crate::time::Timestamp;

/// An event's id: a UUID v7 (ids sort by creation), printed `evt_` and 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(Uuid);

impl EventId {
    const PREFIX: &'static str = "evt_";

    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.0.simple())
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

/// The text is not `evt_` followed by a UUID's 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an event id is evt_ followed by 32 hex digits")]
pub struct BadEventId;

impl FromStr for EventId {
    type Err = BadEventId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hex = text.strip_prefix(Self::PREFIX).ok_or(BadEventId)?;
        if hex.len() != 32 {
            return Err(BadEventId);
        }
        Uuid::try_parse(hex).map(Self).map_err(|_| BadEventId)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What happened, `noun.verb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    AccountCreated,
    /// Frozen or unfrozen, limits or metadata changed (a balance moving is a transfer's event).
    AccountUpdated,
    /// Every transfer of every kind: transfers, deposits, withdrawals, captures, refunds, posts,
    /// a transaction's postings.
    TransferCreated,
    /// After its postings' `transfer.created`.
    TransactionCreated,
    PaymentCreated,
    PaymentAuthorized,
    PaymentCaptured,
    /// One per refund, partial or not.
    PaymentRefunded,
    PaymentCanceled,
    PaymentFailed,
    /// The authorization ran out: the payment is `canceled` (`expired`).
    PaymentExpired,
    /// A client's hold, or a payment's authorization.
    HoldCreated,
    /// One per post, whether it leaves something held or not.
    HoldPosted,
    HoldVoided,
    HoldExpired,
    /// Its metadata changed (`PATCH`); likewise the three below.
    TransferUpdated,
    TransactionUpdated,
    PaymentUpdated,
    HoldUpdated,
}

impl EventType {
    pub const ALL: [Self; 19] = [
        Self::AccountCreated,
        Self::AccountUpdated,
        Self::TransferCreated,
        Self::TransactionCreated,
        Self::PaymentCreated,
        Self::PaymentAuthorized,
        Self::PaymentCaptured,
        Self::PaymentRefunded,
        Self::PaymentCanceled,
        Self::PaymentFailed,
        Self::PaymentExpired,
        Self::HoldCreated,
        Self::HoldPosted,
        Self::HoldVoided,
        Self::HoldExpired,
        Self::TransferUpdated,
        Self::TransactionUpdated,
        Self::PaymentUpdated,
        Self::HoldUpdated,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AccountCreated => "account.created",
            Self::AccountUpdated => "account.updated",
            Self::TransferCreated => "transfer.created",
            Self::TransactionCreated => "transaction.created",
            Self::PaymentCreated => "payment.created",
            Self::PaymentAuthorized => "payment.authorized",
            Self::PaymentCaptured => "payment.captured",
            Self::PaymentRefunded => "payment.refunded",
            Self::PaymentCanceled => "payment.canceled",
            Self::PaymentFailed => "payment.failed",
            Self::PaymentExpired => "payment.expired",
            Self::HoldCreated => "hold.created",
            Self::HoldPosted => "hold.posted",
            Self::HoldVoided => "hold.voided",
            Self::HoldExpired => "hold.expired",
            Self::TransferUpdated => "transfer.updated",
            Self::TransactionUpdated => "transaction.updated",
            Self::PaymentUpdated => "payment.updated",
            Self::HoldUpdated => "hold.updated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The resource an event carries, as it stood right after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventObject {
    Account(Account),
    Transfer(Transfer),
    Transaction(Transaction),
    Payment(PaymentView),
    Hold(HoldView),
}

/// An event a command emitted, for the backend to write with the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: EventId,
    pub event_type: EventType,
    pub object: EventObject,
    pub created_at: Timestamp,
}

impl NewEvent {
    pub fn new(event_type: EventType, object: EventObject, created_at: Timestamp) -> Self {
        Self {
            id: EventId::new(),
            event_type,
            object,
            created_at,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_prints_with_its_prefix_and_parses_back() {
        let id = EventId::new();
        let text = id.to_string();
        assert!(text.starts_with("evt_"), "{text}");
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<EventId>(), Ok(id));
        assert_eq!(format!("{id:?}"), format!("EventId({text})"));
        assert_eq!(EventId::from_uuid(id.as_uuid()), id);
        assert!(EventId::default() > id, "fresh ids sort after older ones");
        assert_eq!(
            serde_json::to_value(id).unwrap(),
            serde_json::Value::String(text.clone())
        );
        assert_eq!(
            serde_json::from_value::<EventId>(serde_json::Value::String(text)).unwrap(),
            id
        );
    }

    #[test]
    fn anything_else_is_not_an_event_id() {
        let id = EventId::new();
        let hyphenated = id.as_uuid().to_string();
        for text in [
            hyphenated.clone(),
            format!("evt_{hyphenated}"),
            format!("evx_{}", id.as_uuid().simple()),
            format!("evt_{}0", id.as_uuid().simple()),
            "evt_".to_owned(),
            format!("evt_{}", "g".repeat(32)),
        ] {
            assert_eq!(text.parse::<EventId>(), Err(BadEventId), "{text}");
        }
        assert!(serde_json::from_value::<EventId>(serde_json::json!("evt_1")).is_err());
    }

    #[test]
    fn every_type_is_noun_dot_verb_and_parses_back() {
        let names: Vec<&str> = EventType::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(
            names,
            [
                "account.created",
                "account.updated",
                "transfer.created",
                "transaction.created",
                "payment.created",
                "payment.authorized",
                "payment.captured",
                "payment.refunded",
                "payment.canceled",
                "payment.failed",
                "payment.expired",
                "hold.created",
                "hold.posted",
                "hold.voided",
                "hold.expired",
                "transfer.updated",
                "transaction.updated",
                "payment.updated",
                "hold.updated",
            ]
        );
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(EventType::parse("payment.*"), None);
    }
}
