//! The event log (API.md "Events"): the events the ledger emits are rendered, inside the
//! batch's transaction, by the caller's [`EventRenderer`] (the API, which owns the resources'
//! JSON), and written with the change they announce.

use std::sync::Arc;

use coffre_domain::event::{EventId, EventObject, EventType, NewEvent};
use coffre_domain::time::Timestamp;

use crate::StoreError;

/// How long events are kept at least; `serve` purges older ones.
pub const EVENT_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// The caller's side of the event log: the JSON of a resource exactly as its GET shows it. The
/// store cannot know the API's shapes, and must not keep a second copy of them.
pub trait EventRenderer: Send + Sync {
    fn render(&self, object: &EventObject) -> Result<String, serde_json::Error>;
}

/// The renderer a batch's events go through.
pub type Renderer = Arc<dyn EventRenderer>;

/// An event as stored: `object` is the resource's JSON, as rendered when it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: EventId,
    pub event_type: EventType,
    pub object: String,
    pub created_at: Timestamp,
}

/// Renders a batch's events in the order they were emitted; a resource that cannot be rendered
/// fails the batch (its change must not commit without its event).
pub fn render_events(
    renderer: &dyn EventRenderer,
    events: &[NewEvent],
) -> Result<Vec<EventRecord>, StoreError> {
    events
        .iter()
        .map(|event| {
            Ok(EventRecord {
                id: event.id,
                event_type: event.event_type,
                object: renderer
                    .render(&event.object)
                    .map_err(|error| StoreError::Internal(error.into()))?,
                created_at: event.created_at,
            })
        })
        .collect()
}

/// Which events a type filter matches: one type, or every type that starts with a prefix
/// (`payment.*` → `payment.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeFilter {
    Exactly(String),
    Prefix(String),
}

/// The most characters of a type filter.
const TYPE_FILTER_MAX: usize = 64;

impl TypeFilter {
    /// `type` as the client wrote it: lower-case letters, `.` and `_`, with an optional trailing
    /// `*` matching any rest. A name no event has matches nothing, like any other filter value.
    pub fn parse(text: &str) -> Option<Self> {
        let (stem, prefix) = match text.strip_suffix('*') {
            Some(stem) => (stem, true),
            None => (text, false),
        };
        let allowed = |c: char| c.is_ascii_lowercase() || c == '.' || c == '_';
        if text.len() > TYPE_FILTER_MAX
            || !stem.chars().all(allowed)
            || (!prefix && stem.is_empty())
        {
            return None;
        }
        Some(if prefix {
            Self::Prefix(stem.to_owned())
        } else {
            Self::Exactly(stem.to_owned())
        })
    }

    /// The exact type and the prefix to bind, one of them set.
    pub fn binds(filter: Option<&Self>) -> (Option<&str>, Option<&str>) {
        match filter {
            None => (None, None),
            Some(Self::Exactly(name)) => (Some(name), None),
            Some(Self::Prefix(prefix)) => (None, Some(prefix)),
        }
    }
}

/// Filters of `GET /v1/events`; every one set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub event_type: Option<TypeFilter>,
    /// Created at or after.
    pub created_gte: Option<Timestamp>,
    /// Created before.
    pub created_lt: Option<Timestamp>,
}

/// A stored event's columns, read back.
#[derive(Debug)]
pub struct EventRow {
    pub id: uuid::Uuid,
    pub event_type: String,
    pub object: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A stored event names a type this build does not know.
#[derive(Debug, thiserror::Error)]
#[error("stored event {id} has an unknown type {event_type:?}")]
pub struct CorruptEvent {
    id: uuid::Uuid,
    event_type: String,
}

/// The type a stored event's row names, if this build knows it.
pub fn stored_event_type(id: uuid::Uuid, text: &str) -> Result<EventType, CorruptEvent> {
    EventType::parse(text).ok_or_else(|| CorruptEvent {
        id,
        event_type: text.to_owned(),
    })
}

impl EventRow {
    pub fn into_record(self) -> Result<EventRecord, CorruptEvent> {
        let event_type = stored_event_type(self.id, &self.event_type)?;
        Ok(EventRecord {
            id: EventId::from_uuid(self.id),
            event_type,
            object: self.object,
            created_at: Timestamp::from_datetime(self.created_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_filter_is_one_type_or_a_prefix() {
        assert_eq!(
            TypeFilter::parse("payment.captured"),
            Some(TypeFilter::Exactly("payment.captured".to_owned()))
        );
        assert_eq!(
            TypeFilter::parse("payment.*"),
            Some(TypeFilter::Prefix("payment.".to_owned()))
        );
        assert_eq!(
            TypeFilter::parse("*"),
            Some(TypeFilter::Prefix(String::new()))
        );
        for bad in [
            "",
            "Payment.*",
            "payment.*.x*",
            "pay%",
            "a*b",
            "x".repeat(65).as_str(),
        ] {
            assert_eq!(TypeFilter::parse(bad), None, "{bad}");
        }
        assert_eq!(TypeFilter::binds(None), (None, None));
        assert_eq!(
            TypeFilter::binds(TypeFilter::parse("hold.*").as_ref()),
            (None, Some("hold."))
        );
        assert_eq!(
            TypeFilter::binds(TypeFilter::parse("hold.voided").as_ref()),
            (Some("hold.voided"), None)
        );
    }
}
