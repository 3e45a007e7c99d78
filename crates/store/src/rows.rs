//! Audit and user rows as both backends read them, and their checked conversion into domain
//! values.

use chrono::{DateTime, Utc};
use coffre_domain::audit::{AuditAction, AuditEvent, ChainHash, ChainHead, ResourceType};
use coffre_domain::ids::{AuditEventId, SessionId, UserId};
use coffre_domain::time::Timestamp;
use coffre_domain::user::{Email, Role, User};
use serde_json::Value;
use uuid::Uuid;

use crate::identity::SessionAuth;

/// One `audit_events` row with its columns in their SQL types, before the domain's checks.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub seq: i64,
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// A stored audit row the domain cannot accept: only an edit behind the database's back
/// produces one, so the chain check counts it as a broken link.
#[derive(Debug, thiserror::Error)]
pub enum CorruptRow {
    #[error("audit event {seq} has the unknown action {action:?}")]
    UnknownAction { seq: i64, action: String },

    #[error("audit event {seq} has the unknown resource type {resource_type:?}")]
    UnknownResourceType { seq: i64, resource_type: String },

    #[error("audit event {seq} has a {column} of {len_bytes} bytes instead of 32")]
    HashLength {
        seq: i64,
        column: &'static str,
        len_bytes: usize,
    },

    #[error("audit event {seq} holds invalid JSON in {column}")]
    Json {
        seq: i64,
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl CorruptRow {
    /// The `seq` of the row that did not decode.
    pub fn seq(&self) -> i64 {
        match self {
            Self::UnknownAction { seq, .. }
            | Self::UnknownResourceType { seq, .. }
            | Self::HashLength { seq, .. }
            | Self::Json { seq, .. } => *seq,
        }
    }
}

impl AuditRow {
    pub fn into_event(self) -> Result<AuditEvent, CorruptRow> {
        let seq = self.seq;
        let action = AuditAction::parse(&self.action).ok_or(CorruptRow::UnknownAction {
            seq,
            action: self.action,
        })?;
        let resource_type =
            ResourceType::parse(&self.resource_type).ok_or(CorruptRow::UnknownResourceType {
                seq,
                resource_type: self.resource_type,
            })?;
        let hash_of = |column: &'static str, bytes: &[u8]| {
            ChainHash::from_slice(bytes).ok_or(CorruptRow::HashLength {
                seq,
                column,
                len_bytes: bytes.len(),
            })
        };
        Ok(AuditEvent {
            id: AuditEventId::from_uuid(self.id),
            seq,
            occurred_at: Timestamp::from_datetime(self.occurred_at),
            actor_id: self.actor_id.map(UserId::from_uuid),
            action,
            resource_type,
            resource_id: self.resource_id,
            old_value: self.old_value,
            new_value: self.new_value,
            ip_address: self.ip_address,
            user_agent: self.user_agent,
            request_id: self.request_id,
            prev_hash: hash_of("prev_hash", &self.prev_hash)?,
            hash: hash_of("hash", &self.hash)?,
        })
    }
}

/// The chain head table holds a hash that is not 32 bytes long: its CHECK forbids it, so the
/// database was edited behind the store's back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit chain head holds a hash of {len_bytes} bytes instead of 32")]
pub struct CorruptHead {
    pub len_bytes: usize,
}

/// The chain head from its stored columns.
pub fn chain_head(seq: i64, hash: &[u8]) -> Result<ChainHead, CorruptHead> {
    let hash = ChainHash::from_slice(hash).ok_or(CorruptHead {
        len_bytes: hash.len(),
    })?;
    Ok(ChainHead { seq, hash })
}

/// Parses a JSON column stored as text (SQLite keeps JSON that way).
pub fn parse_json_column(
    seq: i64,
    column: &'static str,
    text: Option<String>,
) -> Result<Option<Value>, CorruptRow> {
    text.map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|source| CorruptRow::Json {
            seq,
            column,
            source,
        })
}

/// One `users` row with its columns in their SQL types, before the domain's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A session joined with its user, as the per-request check reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAuthRow {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revoked: bool,
    pub expires_at: DateTime<Utc>,
}

impl SessionAuthRow {
    pub fn into_auth(self) -> Result<SessionAuth, CorruptUser> {
        let user = UserRow {
            id: self.id,
            email: self.email,
            role: self.role,
            disabled: self.disabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
        .into_user()?;
        Ok(SessionAuth {
            user,
            revoked: self.revoked,
            expires_at: Timestamp::from_datetime(self.expires_at),
        })
    }
}

/// A [`SessionAuthRow`] beside its session's id, as the batch reads many sessions at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAuthEntryRow {
    pub session_id: Uuid,
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revoked: bool,
    pub expires_at: DateTime<Utc>,
}

impl SessionAuthEntryRow {
    pub fn into_entry(self) -> Result<(SessionId, SessionAuth), CorruptUser> {
        let auth = SessionAuthRow {
            id: self.id,
            email: self.email,
            role: self.role,
            disabled: self.disabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
            revoked: self.revoked,
            expires_at: self.expires_at,
        }
        .into_auth()?;
        Ok((SessionId::from_uuid(self.session_id), auth))
    }
}

/// A stored user the domain cannot accept: the table's CHECKs forbid it, so only an edit
/// behind the store's back produces one.
#[derive(Debug, thiserror::Error)]
pub enum CorruptUser {
    #[error("user {id} has the unknown role {role:?}")]
    UnknownRole { id: Uuid, role: String },

    #[error("user {id} has an email that is not a normalized address")]
    Email { id: Uuid },
}

impl UserRow {
    pub fn into_user(self) -> Result<User, CorruptUser> {
        let id = self.id;
        let role = Role::parse(&self.role).ok_or(CorruptUser::UnknownRole {
            id,
            role: self.role,
        })?;
        let email = Email::parse(&self.email)
            .ok()
            .filter(|email| email.as_str() == self.email)
            .ok_or(CorruptUser::Email { id })?;
        Ok(User {
            id: UserId::from_uuid(id),
            email,
            role,
            disabled: self.disabled,
            created_at: Timestamp::from_datetime(self.created_at),
            updated_at: Timestamp::from_datetime(self.updated_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffre_domain::audit::{AuditContext, ChainHead, NewAuditEvent};
    use serde_json::json;

    fn stored_row() -> AuditRow {
        let (events, _) = AuditEvent::chain(
            ChainHead::EMPTY,
            vec![NewAuditEvent {
                action: AuditAction::Deposit,
                resource_type: ResourceType::Account,
                resource_id: Some("a-1".into()),
                old_value: None,
                new_value: Some(json!({"amount": "1.00"})),
                context: AuditContext::default(),
            }],
            Timestamp::now(),
        )
        .unwrap();
        let event = events.into_iter().next().unwrap();
        AuditRow {
            seq: event.seq,
            id: event.id.as_uuid(),
            occurred_at: event.occurred_at.as_datetime(),
            actor_id: None,
            action: event.action.as_str().into(),
            resource_type: event.resource_type.as_str().into(),
            resource_id: event.resource_id,
            old_value: event.old_value,
            new_value: event.new_value,
            ip_address: None,
            user_agent: None,
            request_id: None,
            prev_hash: event.prev_hash.0.to_vec(),
            hash: event.hash.0.to_vec(),
        }
    }

    #[test]
    fn a_stored_row_decodes_into_the_event_it_was() {
        let row = stored_row();
        let event = row.clone().into_event().unwrap();
        assert_eq!(event.compute_hash(), event.hash);
        assert_eq!(event.id.as_uuid(), row.id);
    }

    #[test]
    fn corrupt_rows_name_their_seq() {
        let mut row = stored_row();
        row.action = "MINT".into();
        let error = row.into_event().unwrap_err();
        assert!(matches!(error, CorruptRow::UnknownAction { seq: 1, .. }));

        let mut row = stored_row();
        row.resource_type = "ACCOUNT".into();
        let error = row.into_event().unwrap_err();
        assert!(matches!(
            error,
            CorruptRow::UnknownResourceType { seq: 1, .. }
        ));
        assert_eq!(error.seq(), 1);

        let mut row = stored_row();
        row.hash.pop();
        let error = row.into_event().unwrap_err();
        assert_eq!(
            error.to_string(),
            "audit event 1 has a hash of 31 bytes instead of 32"
        );

        let error = parse_json_column(7, "new_value", Some("{".into())).unwrap_err();
        assert_eq!(error.seq(), 7);
        assert_eq!(parse_json_column(7, "new_value", None).unwrap(), None);
    }

    #[test]
    fn user_rows_decode_only_what_the_domain_accepts() {
        let row = UserRow {
            id: Uuid::now_v7(),
            email: "alice@example.com".into(),
            role: "manager".into(),
            disabled: false,
            created_at: Timestamp::now().as_datetime(),
            updated_at: Timestamp::now().as_datetime(),
        };
        let user = row.clone().into_user().unwrap();
        assert_eq!(
            (user.email.as_str(), user.role),
            ("alice@example.com", Role::Manager)
        );

        let unknown_role = UserRow {
            role: "root".into(),
            ..row.clone()
        };
        assert!(matches!(
            unknown_role.into_user(),
            Err(CorruptUser::UnknownRole { .. })
        ));
        for email in ["Alice@example.com", " alice@example.com", "alice"] {
            let bad_email = UserRow {
                email: email.into(),
                ..row.clone()
            };
            assert!(
                matches!(bad_email.into_user(), Err(CorruptUser::Email { .. })),
                "{email}"
            );
        }
    }
}
