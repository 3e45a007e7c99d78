//! Audit events and their hash chain (pure).
//!
//! Each event carries `hash = SHA-256(prev_hash || canonical bytes of the event)`, where the
//! first event's `prev_hash` is all zeros. Canonical bytes are a length-prefixed encoding of
//! every field in a fixed order, with JSON values written with sorted keys, so the hash does
//! not depend on how a database stores or re-orders JSON.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ids::{AuditEventId, UserId};
use crate::time::Timestamp;

/// What happened, in SCREAMING_SNAKE_CASE on the wire and in storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditAction {
    Register,
    Login,
    LoginFailed,
    Logout,
    RefreshTokenReused,
    PermissionChanged,
    UserDisabled,
    UserEnabled,
    PasswordReset,
    AccountCreated,
    AccountFrozen,
    AccountUnfrozen,
    AccountLimitsChanged,
    MetadataUpdated,
    Transfer,
    Deposit,
    Withdrawal,
    Read,
    PaymentCreated,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentCanceled,
    PaymentFailed,
    PaymentExpired,
    PaymentRefunded,
    HoldCreated,
    HoldPosted,
    HoldVoided,
    HoldExpired,
    Transaction,
    WebhookEndpointCreated,
    WebhookEndpointUpdated,
    WebhookEndpointDeleted,
    WebhookSecretRotated,
    WebhookRedeliveryQueued,
}

impl AuditAction {
    pub const ALL: [AuditAction; 35] = [
        Self::Register,
        Self::Login,
        Self::LoginFailed,
        Self::Logout,
        Self::RefreshTokenReused,
        Self::PermissionChanged,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::PasswordReset,
        Self::AccountCreated,
        Self::AccountFrozen,
        Self::AccountUnfrozen,
        Self::AccountLimitsChanged,
        Self::MetadataUpdated,
        Self::Transfer,
        Self::Deposit,
        Self::Withdrawal,
        Self::Read,
        Self::PaymentCreated,
        Self::PaymentAuthorized,
        Self::PaymentCaptured,
        Self::PaymentCanceled,
        Self::PaymentFailed,
        Self::PaymentExpired,
        Self::PaymentRefunded,
        Self::HoldCreated,
        Self::HoldPosted,
        Self::HoldVoided,
        Self::HoldExpired,
        Self::Transaction,
        Self::WebhookEndpointCreated,
        Self::WebhookEndpointUpdated,
        Self::WebhookEndpointDeleted,
        Self::WebhookSecretRotated,
        Self::WebhookRedeliveryQueued,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Register => "REGISTER",
            Self::Login => "LOGIN",
            Self::LoginFailed => "LOGIN_FAILED",
            Self::Logout => "LOGOUT",
            Self::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            Self::PermissionChanged => "PERMISSION_CHANGED",
            Self::UserDisabled => "USER_DISABLED",
            Self::UserEnabled => "USER_ENABLED",
            Self::PasswordReset => "PASSWORD_RESET",
            Self::AccountCreated => "ACCOUNT_CREATED",
            Self::AccountFrozen => "ACCOUNT_FROZEN",
            Self::AccountUnfrozen => "ACCOUNT_UNFROZEN",
            Self::AccountLimitsChanged => "ACCOUNT_LIMITS_CHANGED",
            Self::MetadataUpdated => "METADATA_UPDATED",
            Self::Transfer => "TRANSFER",
            Self::Deposit => "DEPOSIT",
            Self::Withdrawal => "WITHDRAWAL",
            Self::Read => "READ",
            Self::PaymentCreated => "PAYMENT_CREATED",
            Self::PaymentAuthorized => "PAYMENT_AUTHORIZED",
            Self::PaymentCaptured => "PAYMENT_CAPTURED",
            Self::PaymentCanceled => "PAYMENT_CANCELED",
            Self::PaymentFailed => "PAYMENT_FAILED",
            Self::PaymentExpired => "PAYMENT_EXPIRED",
            Self::PaymentRefunded => "PAYMENT_REFUNDED",
            Self::HoldCreated => "HOLD_CREATED",
            Self::HoldPosted => "HOLD_POSTED",
            Self::HoldVoided => "HOLD_VOIDED",
            Self::HoldExpired => "HOLD_EXPIRED",
            Self::Transaction => "TRANSACTION",
            Self::WebhookEndpointCreated => "WEBHOOK_ENDPOINT_CREATED",
            Self::WebhookEndpointUpdated => "WEBHOOK_ENDPOINT_UPDATED",
            Self::WebhookEndpointDeleted => "WEBHOOK_ENDPOINT_DELETED",
            Self::WebhookSecretRotated => "WEBHOOK_SECRET_ROTATED",
            Self::WebhookRedeliveryQueued => "WEBHOOK_REDELIVERY_QUEUED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event is about, in snake_case on the wire and in storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    User,
    Session,
    Account,
    /// An account's ledger lines, read through the account (`resource_id` is the account's),
    /// and likewise its balance at an instant and its statement.
    AccountEntries,
    AccountBalance,
    AccountStatement,
    Transfer,
    Payment,
    Hold,
    Transaction,
    WebhookEndpoint,
}

impl ResourceType {
    pub const ALL: [ResourceType; 11] = [
        Self::User,
        Self::Session,
        Self::Account,
        Self::AccountEntries,
        Self::AccountBalance,
        Self::AccountStatement,
        Self::Transfer,
        Self::Payment,
        Self::Hold,
        Self::Transaction,
        Self::WebhookEndpoint,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Session => "session",
            Self::Account => "account",
            Self::AccountEntries => "account_entries",
            Self::AccountBalance => "account_balance",
            Self::AccountStatement => "account_statement",
            Self::Transfer => "transfer",
            Self::Payment => "payment",
            Self::Hold => "hold",
            Self::Transaction => "transaction",
            Self::WebhookEndpoint => "webhook_endpoint",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asked, from where: attached to every event of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditContext {
    pub actor_id: Option<UserId>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// An event before it joins the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub action: AuditAction,
    pub resource_type: ResourceType,
    pub resource_id: Option<String>,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub context: AuditContext,
}

impl NewAuditEvent {
    /// A manager or admin read other people's data: one resource (`resource_id`), or a list
    /// page (the `ids` it showed).
    pub fn read(
        resource_type: ResourceType,
        resource_id: Option<String>,
        ids: Vec<String>,
        context: AuditContext,
    ) -> Self {
        Self {
            action: AuditAction::Read,
            resource_type,
            new_value: (resource_id.is_none()).then(|| serde_json::json!({ "ids": ids })),
            resource_id,
            old_value: None,
            context,
        }
    }
}

/// A 32-byte SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The `prev_hash` of the first event.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

impl Serialize for ChainHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

/// The last link of the chain: the next event gets `seq + 1` and `prev_hash = hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: ChainHash,
}

impl ChainHead {
    pub const EMPTY: ChainHead = ChainHead {
        seq: 0,
        hash: ChainHash::GENESIS,
    };
}

/// An event in the chain, as stored and as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub seq: i64,
    pub occurred_at: Timestamp,
    pub actor_id: Option<UserId>,
    pub action: AuditAction,
    pub resource_type: ResourceType,
    pub resource_id: Option<String>,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
}

/// The chain cannot grow past `i64::MAX` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit chain is full")]
pub struct ChainFull;

impl AuditEvent {
    /// Links `events` after `head`, in order, all stamped `occurred_at`; returns them and the
    /// new head.
    pub fn chain(
        head: ChainHead,
        events: Vec<NewAuditEvent>,
        occurred_at: Timestamp,
    ) -> Result<(Vec<AuditEvent>, ChainHead), ChainFull> {
        let mut head = head;
        let mut chained = Vec::with_capacity(events.len());
        for event in events {
            let seq = head.seq.checked_add(1).ok_or(ChainFull)?;
            let mut linked = AuditEvent {
                id: AuditEventId::new(),
                seq,
                occurred_at,
                actor_id: event.context.actor_id,
                action: event.action,
                resource_type: event.resource_type,
                resource_id: event.resource_id,
                old_value: event.old_value,
                new_value: event.new_value,
                ip_address: event.context.ip_address,
                user_agent: event.context.user_agent,
                request_id: event.context.request_id,
                prev_hash: head.hash,
                hash: ChainHash::GENESIS,
            };
            linked.hash = linked.compute_hash();
            head = ChainHead {
                seq,
                hash: linked.hash,
            };
            chained.push(linked);
        }
        Ok((chained, head))
    }

    /// SHA-256 over `prev_hash` and the canonical bytes of every other field.
    pub fn compute_hash(&self) -> ChainHash {
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.0);
        let mut field = |value: Option<&[u8]>| match value {
            // u32::MAX marks an absent value, so `None` and `Some("")` differ.
            None => hasher.update(u32::MAX.to_be_bytes()),
            Some(bytes) => {
                let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX.saturating_sub(1));
                hasher.update(len.to_be_bytes());
                hasher.update(bytes);
            }
        };
        field(Some(&self.seq.to_be_bytes()));
        field(Some(self.id.as_uuid().as_bytes()));
        field(Some(self.occurred_at.to_rfc3339().as_bytes()));
        let actor = self.actor_id.map(|id| id.as_uuid());
        field(actor.as_ref().map(|uuid| uuid.as_bytes().as_slice()));
        field(Some(self.action.as_str().as_bytes()));
        field(Some(self.resource_type.as_str().as_bytes()));
        field(self.resource_id.as_deref().map(str::as_bytes));
        let old_value = self.old_value.as_ref().map(canonical_json);
        field(old_value.as_deref().map(str::as_bytes));
        let new_value = self.new_value.as_ref().map(canonical_json);
        field(new_value.as_deref().map(str::as_bytes));
        field(self.ip_address.as_deref().map(str::as_bytes));
        field(self.user_agent.as_deref().map(str::as_bytes));
        field(self.request_id.as_deref().map(str::as_bytes));
        ChainHash(hasher.finalize().into())
    }
}

/// JSON with object keys sorted at every level and no insignificant white space.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Walks a chain in `seq` order and names the first event that does not link.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    head: ChainHead,
    checked: u64,
    first_bad_seq: Option<i64>,
}

/// The verdict over the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub ok: bool,
    pub events_checked: u64,
    pub first_bad_seq: Option<i64>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self {
            head: ChainHead::EMPTY,
            checked: 0,
            first_bad_seq: None,
        }
    }

    /// Feeds the next event; returns false once the chain is broken (stop feeding then).
    pub fn push(&mut self, event: &AuditEvent) -> bool {
        if self.first_bad_seq.is_some() {
            return false;
        }
        self.checked = self.checked.saturating_add(1);
        let expected_seq = self.head.seq.saturating_add(1);
        let links = event.seq == expected_seq
            && event.prev_hash == self.head.hash
            && event.compute_hash() == event.hash;
        if !links {
            // A missing event shows as a jump in seq: the first absent number is the bad one.
            self.first_bad_seq = Some(expected_seq.min(event.seq));
            return false;
        }
        self.head = ChainHead {
            seq: event.seq,
            hash: event.hash,
        };
        true
    }

    pub fn finish(self) -> ChainReport {
        ChainReport {
            ok: self.first_bad_seq.is_none(),
            events_checked: self.checked,
            first_bad_seq: self.first_bad_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(action: AuditAction, new_value: Option<Value>) -> NewAuditEvent {
        NewAuditEvent {
            action,
            resource_type: ResourceType::Account,
            resource_id: Some("abc".into()),
            old_value: None,
            new_value,
            context: AuditContext {
                actor_id: Some(UserId::new()),
                ip_address: Some("127.0.0.1".into()),
                user_agent: None,
                request_id: Some("req-1".into()),
            },
        }
    }

    fn chain_of(count: usize) -> Vec<AuditEvent> {
        let events = (0..count)
            .map(|n| event(AuditAction::Transfer, Some(json!({"n": n}))))
            .collect();
        AuditEvent::chain(ChainHead::EMPTY, events, Timestamp::now())
            .unwrap()
            .0
    }

    fn verify(events: &[AuditEvent]) -> ChainReport {
        let mut verifier = ChainVerifier::new();
        for event in events {
            if !verifier.push(event) {
                break;
            }
        }
        verifier.finish()
    }

    #[test]
    fn a_fresh_chain_verifies() {
        let events = chain_of(5);
        assert_eq!(events[0].prev_hash, ChainHash::GENESIS);
        assert_eq!(events[4].seq, 5);
        let report = verify(&events);
        assert_eq!(
            report,
            ChainReport {
                ok: true,
                events_checked: 5,
                first_bad_seq: None
            }
        );
    }

    #[test]
    fn an_edited_field_names_its_seq() {
        let mut events = chain_of(5);
        events[2].new_value = Some(json!({"n": 99}));
        assert_eq!(verify(&events).first_bad_seq, Some(3));

        let mut events = chain_of(5);
        events[3].user_agent = Some(String::new());
        assert_eq!(verify(&events).first_bad_seq, Some(4));
    }

    #[test]
    fn a_removed_event_names_the_missing_seq() {
        let mut events = chain_of(5);
        events.remove(1);
        let report = verify(&events);
        assert!(!report.ok);
        assert_eq!(report.first_bad_seq, Some(2));
    }

    #[test]
    fn a_recomputed_hash_still_breaks_the_next_link() {
        let mut events = chain_of(3);
        events[0].action = AuditAction::Deposit;
        events[0].hash = events[0].compute_hash();
        assert_eq!(verify(&events).first_bad_seq, Some(2));
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = json!({"b": 1, "a": {"z": [1, {"y": "x", "c": null}], "d": "é\""}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"d":"é\"","z":[1,{"c":null,"y":"x"}]},"b":1}"#
        );
    }

    #[test]
    fn actions_round_trip_through_their_names() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.as_str()));
        }
        assert_eq!(AuditAction::parse("transfer"), None);
    }

    #[test]
    fn resource_types_round_trip_through_their_names() {
        for kind in ResourceType::ALL {
            assert_eq!(ResourceType::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
        }
        assert_eq!(ResourceType::parse("ACCOUNT"), None);
    }
}
