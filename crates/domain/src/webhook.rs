//! Webhook endpoints (API.md "Webhook endpoints"): where events are to be delivered, which
//! types each wants, and the secrets that sign them. A change to an endpoint is decided here,
//! with the audit event that records it; the store writes both in one transaction.

use std::fmt;

use chrono::TimeDelta;
use serde_json::json;

use crate::audit::{AuditAction, AuditContext, NewAuditEvent, ResourceType};
use crate::event::EventType;
use crate::ids::WebhookEndpointId;
use crate::text::Description;
use crate::time::Timestamp;

/// How long a rotated-out secret keeps signing beside the new one.
pub const PREVIOUS_SECRET_TTL: TimeDelta = TimeDelta::hours(24);

/// An endpoint's URL, checked by the caller against the scheme it allows; at most 2048
/// characters, no whitespace or control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(String);

/// The most characters of an endpoint's URL.
pub const MAX_URL_CHARS: usize = 2048;

impl EndpointUrl {
    /// `text` if it is `https://` (or, when `allow_insecure`, `http://`) followed by a host.
    pub fn parse(text: &str, allow_insecure: bool) -> Result<Self, UrlRefused> {
        if text.chars().count() > MAX_URL_CHARS
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(UrlRefused::Malformed);
        }
        let rest = if let Some(rest) = text.strip_prefix("https://") {
            rest
        } else if let Some(rest) = text.strip_prefix("http://") {
            if !allow_insecure {
                return Err(UrlRefused::Insecure);
            }
            rest
        } else {
            return Err(UrlRefused::Malformed);
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.contains('@') {
            return Err(UrlRefused::Malformed);
        }
        Ok(Self(text.to_owned()))
    }

    /// As stored: trusted, already checked when it was written.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error(
        "url must be an absolute https:// URL with a host (no credentials, at most 2048 characters)"
    )]
    Malformed,
    #[error("url must be https:// (http:// only when COFFRE_WEBHOOK_ALLOW_INSECURE=true)")]
    Insecure,
}

/// Which events an endpoint wants: one type, or every type of a noun (`payment.*`), or all
/// (`*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventPattern {
    All,
    Noun(String),
    Exactly(EventType),
}

impl EventPattern {
    pub fn parse(text: &str) -> Option<Self> {
        if text == "*" {
            return Some(Self::All);
        }
        if let Some(noun) = text.strip_suffix(".*") {
            let known = EventType::ALL
                .iter()
                .any(|kind| kind.as_str().split('.').next() == Some(noun));
            return known.then(|| Self::Noun(noun.to_owned()));
        }
        EventType::parse(text).map(Self::Exactly)
    }

    pub fn matches(&self, event: EventType) -> bool {
        match self {
            Self::All => true,
            Self::Noun(noun) => event.as_str().split('.').next() == Some(noun.as_str()),
            Self::Exactly(kind) => *kind == event,
        }
    }
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Noun(noun) => write!(f, "{noun}.*"),
            Self::Exactly(kind) => f.write_str(kind.as_str()),
        }
    }
}

/// An endpoint's event types: at least one pattern, each once (so never more than there are
/// patterns), in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(Vec<EventPattern>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTypesRefused {
    #[error("event_types must name at least one type")]
    Empty,
    #[error("event_types: {0:?} is not an event type, a noun.* or *")]
    Unknown(String),
}

impl EventTypes {
    pub fn parse<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Self, EventTypesRefused> {
        let mut patterns: Vec<EventPattern> = Vec::new();
        for text in texts {
            let pattern = EventPattern::parse(text)
                .ok_or_else(|| EventTypesRefused::Unknown(text.chars().take(64).collect()))?;
            if !patterns.contains(&pattern) {
                patterns.push(pattern);
            }
        }
        if patterns.is_empty() {
            return Err(EventTypesRefused::Empty);
        }
        Ok(Self(patterns))
    }

    pub fn matches(&self, event: EventType) -> bool {
        self.0.iter().any(|pattern| pattern.matches(event))
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// A signing secret, `whsec_` and the base64 of 32 random bytes (made by the caller, which
/// owns randomness). Shown once, when made; its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn new(text: String) -> Self {
        Self(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// A secret rotated out, signing until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    pub secret: WebhookSecret,
    pub until: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub url: EndpointUrl,
    pub event_types: EventTypes,
    pub description: Option<Description>,
    pub enabled: bool,
    pub secret: WebhookSecret,
    pub previous_secret: Option<PreviousSecret>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What an admin asks of an existing endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointChange {
    Update {
        url: Option<EndpointUrl>,
        event_types: Option<EventTypes>,
        enabled: Option<bool>,
    },
    /// A fresh secret; the current one keeps signing for [`PREVIOUS_SECRET_TTL`].
    RotateSecret(WebhookSecret),
    Delete,
}

/// What becomes of the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// Written as this, with this event (none when nothing changed).
    Kept(WebhookEndpoint, Option<NewAuditEvent>),
    Deleted(NewAuditEvent),
}

impl WebhookEndpoint {
    /// Its audit shape: what it is, never its secrets.
    fn audit_value(&self) -> serde_json::Value {
        json!({
            "url": self.url.as_str(),
            "event_types": self.event_types.names(),
            "enabled": self.enabled,
        })
    }

    fn event(
        &self,
        action: AuditAction,
        old_value: Option<serde_json::Value>,
        new_value: Option<serde_json::Value>,
        context: &AuditContext,
    ) -> NewAuditEvent {
        NewAuditEvent {
            action,
            resource_type: ResourceType::WebhookEndpoint,
            resource_id: Some(self.id.to_string()),
            old_value,
            new_value,
            context: context.clone(),
        }
    }

    /// WEBHOOK_ENDPOINT_CREATED for a new endpoint.
    pub fn created(&self, context: &AuditContext) -> NewAuditEvent {
        self.event(
            AuditAction::WebhookEndpointCreated,
            None,
            Some(self.audit_value()),
            context,
        )
    }

    /// Decides `change` at `now`.
    pub fn change(self, change: EndpointChange, now: Timestamp, context: &AuditContext) -> Changed {
        let before = self.audit_value();
        match change {
            EndpointChange::Delete => Changed::Deleted(self.event(
                AuditAction::WebhookEndpointDeleted,
                Some(before),
                None,
                context,
            )),
            EndpointChange::RotateSecret(secret) => {
                let previous = PreviousSecret {
                    secret: self.secret.clone(),
                    until: now.deadline_after(PREVIOUS_SECRET_TTL),
                };
                let after = Self {
                    secret,
                    previous_secret: Some(previous),
                    updated_at: now,
                    ..self
                };
                let event = after.event(AuditAction::WebhookSecretRotated, None, None, context);
                Changed::Kept(after, Some(event))
            }
            EndpointChange::Update {
                url,
                event_types,
                enabled,
            } => {
                let mut after = self.clone();
                if let Some(url) = url {
                    after.url = url;
                }
                if let Some(event_types) = event_types {
                    after.event_types = event_types;
                }
                if let Some(enabled) = enabled {
                    after.enabled = enabled;
                }
                if after == self {
                    return Changed::Kept(after, None);
                }
                after.updated_at = now;
                let event = after.event(
                    AuditAction::WebhookEndpointUpdated,
                    Some(before),
                    Some(after.audit_value()),
                    context,
                );
                Changed::Kept(after, Some(event))
            }
        }
    }

    /// The secrets that sign at `now`: the current one, and the one rotated out while it lasts.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&WebhookSecret> {
        let mut secrets = vec![&self.secret];
        if let Some(previous) = &self.previous_secret
            && now < previous.until
        {
            secrets.push(&previous.secret);
        }
        secrets
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_datetime(chrono::DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap())
    }

    fn endpoint() -> WebhookEndpoint {
        WebhookEndpoint {
            id: WebhookEndpointId::new(),
            url: EndpointUrl::parse("https://example.test/hooks", false).unwrap(),
            event_types: EventTypes::parse(["payment.*"]).unwrap(),
            description: None,
            enabled: true,
            secret: WebhookSecret::new("whsec_one".into()),
            previous_secret: None,
            created_at: at(0),
            updated_at: at(0),
        }
    }

    #[test]
    fn urls_are_https_unless_insecure_is_allowed() {
        assert!(EndpointUrl::parse("https://example.test", false).is_ok());
        assert_eq!(
            EndpointUrl::parse("https://example.test/a?b#c", false)
                .unwrap()
                .as_str(),
            "https://example.test/a?b#c"
        );
        assert_eq!(
            EndpointUrl::parse("http://example.test", false),
            Err(UrlRefused::Insecure)
        );
        assert!(EndpointUrl::parse("http://127.0.0.1:9/x", true).is_ok());
        for bad in [
            "ftp://example.test",
            "https://",
            "https:///path",
            "https://user:pw@example.test",
            "https://exa mple.test",
            "https://example.test/\n",
            "example.test",
        ] {
            assert_eq!(
                EndpointUrl::parse(bad, true),
                Err(UrlRefused::Malformed),
                "{bad}"
            );
        }
        let long = format!("https://example.test/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(EndpointUrl::parse(&long, false), Err(UrlRefused::Malformed));
        let longest = format!("https://e.t/{}", "a".repeat(MAX_URL_CHARS - 12));
        assert!(EndpointUrl::parse(&longest, false).is_ok());
        assert_eq!(EndpointUrl::from_stored("x".into()).as_str(), "x");
    }

    #[test]
    fn event_types_are_types_nouns_or_all() {
        let types = EventTypes::parse(["payment.captured", "hold.*", "payment.captured"]).unwrap();
        assert_eq!(types.names(), ["payment.captured", "hold.*"]);
        assert!(types.matches(EventType::PaymentCaptured));
        assert!(types.matches(EventType::HoldVoided));
        assert!(!types.matches(EventType::PaymentFailed));
        assert!(!types.matches(EventType::TransferCreated));
        let all = EventTypes::parse(["*"]).unwrap();
        assert!(EventType::ALL.into_iter().all(|kind| all.matches(kind)));
        assert_eq!(all.names(), ["*"]);
        assert_eq!(EventTypes::parse([]), Err(EventTypesRefused::Empty));
        for bad in ["payment.", "pay*", "nothing.*", "payment.capture", "*.*"] {
            assert_eq!(
                EventTypes::parse([bad]),
                Err(EventTypesRefused::Unknown(bad.to_owned())),
                "{bad}"
            );
        }
        let names: Vec<String> = EventType::ALL
            .iter()
            .map(|kind| kind.as_str().to_owned())
            .collect();
        let mut many: Vec<&str> = names.iter().map(String::as_str).collect();
        many.extend([
            "account.*",
            "transfer.*",
            "payment.*",
            "hold.*",
            "transaction.*",
        ]);
        many.extend(many.clone());
        assert_eq!(
            EventTypes::parse(many.iter().copied())
                .unwrap()
                .names()
                .len(),
            EventType::ALL.len() + 5
        );
    }

    #[test]
    fn an_update_changes_what_it_names_and_is_audited_without_secrets() {
        let before = endpoint();
        let context = AuditContext::default();
        let Changed::Kept(same, None) = before.clone().change(
            EndpointChange::Update {
                url: None,
                event_types: None,
                enabled: Some(true),
            },
            at(5),
            &context,
        ) else {
            panic!("nothing changed")
        };
        assert_eq!(same, before);
        let Changed::Kept(after, Some(event)) = before.clone().change(
            EndpointChange::Update {
                url: None,
                event_types: Some(EventTypes::parse(["*"]).unwrap()),
                enabled: Some(false),
            },
            at(5),
            &context,
        ) else {
            panic!("a change")
        };
        assert!(!after.enabled);
        assert_eq!(after.updated_at, at(5));
        assert_eq!(after.url, before.url);
        assert_eq!(event.action, AuditAction::WebhookEndpointUpdated);
        assert_eq!(event.resource_type, ResourceType::WebhookEndpoint);
        assert_eq!(event.resource_id, Some(before.id.to_string()));
        assert_eq!(
            event.new_value,
            Some(
                json!({"url": "https://example.test/hooks", "event_types": ["*"], "enabled": false})
            )
        );
        assert_eq!(
            event.old_value.unwrap()["event_types"],
            json!(["payment.*"])
        );
        let url = EndpointUrl::parse("https://other.test", false).unwrap();
        let Changed::Kept(moved, Some(_)) = before.clone().change(
            EndpointChange::Update {
                url: Some(url.clone()),
                event_types: None,
                enabled: None,
            },
            at(6),
            &context,
        ) else {
            panic!("a change")
        };
        assert_eq!(moved.url, url);
        assert!(!format!("{:?}", before.created(&context)).contains("whsec"));
        assert_eq!(
            before.created(&context).action,
            AuditAction::WebhookEndpointCreated
        );
        assert!(!format!("{before:?}").contains("whsec_one"));
        assert_eq!(format!("{:?}", before.secret), "WebhookSecret(..)");
    }

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one_for_a_day() {
        let before = endpoint();
        let context = AuditContext::default();
        let Changed::Kept(after, Some(event)) = before.change(
            EndpointChange::RotateSecret(WebhookSecret::new("whsec_two".into())),
            at(10),
            &context,
        ) else {
            panic!("rotated")
        };
        assert_eq!(event.action, AuditAction::WebhookSecretRotated);
        assert_eq!((event.old_value, event.new_value), (None, None));
        assert_eq!(after.updated_at, at(10));
        let expose = |secrets: Vec<&WebhookSecret>| -> Vec<String> {
            secrets
                .iter()
                .map(|secret| secret.expose().to_owned())
                .collect()
        };
        assert_eq!(
            expose(after.signing_secrets(at(10))),
            ["whsec_two", "whsec_one"]
        );
        let day = 24 * 3600;
        assert_eq!(
            expose(after.signing_secrets(at(10 + day - 1))),
            ["whsec_two", "whsec_one"]
        );
        assert_eq!(expose(after.signing_secrets(at(10 + day))), ["whsec_two"]);
        let deleted = after.change(EndpointChange::Delete, at(11), &context);
        let Changed::Deleted(event) = deleted else {
            panic!("{deleted:?}")
        };
        assert_eq!(event.action, AuditAction::WebhookEndpointDeleted);
        assert!(event.new_value.is_none());
        assert_eq!(event.old_value.unwrap()["enabled"], true);
    }
}
