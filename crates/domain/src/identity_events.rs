//! The audit events of identity changes, built here beside the ledger's so that every
//! backend records the same ones.

use serde_json::{Value, json};

use crate::audit::{AuditAction, AuditContext, NewAuditEvent, ResourceType};
use crate::ids::{SessionId, UserId};
use crate::user::{Email, User};

fn event(
    action: AuditAction,
    resource_type: ResourceType,
    resource_id: Option<String>,
    values: (Option<Value>, Option<Value>),
    context: AuditContext,
) -> NewAuditEvent {
    let (old_value, new_value) = values;
    NewAuditEvent {
        action,
        resource_type,
        resource_id,
        old_value,
        new_value,
        context,
    }
}

/// The context with `user` as its actor when the request had none: someone who registers or
/// logs in acts as themselves.
fn acting_as_self(ctx: &AuditContext, user: UserId) -> AuditContext {
    AuditContext {
        actor_id: ctx.actor_id.or(Some(user)),
        ..ctx.clone()
    }
}

pub fn registered(user: &User, ctx: &AuditContext) -> NewAuditEvent {
    event(
        AuditAction::Register,
        ResourceType::User,
        Some(user.id.to_string()),
        (
            None,
            Some(json!({"email": user.email.as_str(), "role": user.role.as_str()})),
        ),
        acting_as_self(ctx, user.id),
    )
}

/// `coffre admin create` replaced an existing user's password. Neither hash is recorded: the
/// event says that it happened and who did it, which is what an investigator needs.
pub fn password_reset(user: &User, ctx: &AuditContext) -> NewAuditEvent {
    event(
        AuditAction::PasswordReset,
        ResourceType::User,
        Some(user.id.to_string()),
        (None, None),
        ctx.clone(),
    )
}

/// A manager or admin read this page of the user list.
pub fn users_listed(users: &[User], ctx: &AuditContext) -> NewAuditEvent {
    let ids: Vec<String> = users.iter().map(|user| user.id.to_string()).collect();
    NewAuditEvent::read(ResourceType::User, None, ids, ctx.clone())
}

/// `user_id` logged in, opening session `session_id`.
pub fn logged_in(session_id: SessionId, user_id: UserId, ctx: &AuditContext) -> NewAuditEvent {
    event(
        AuditAction::Login,
        ResourceType::Session,
        Some(session_id.to_string()),
        (None, Some(json!({"user_id": user_id.to_string()}))),
        acting_as_self(ctx, user_id),
    )
}

/// `email` as typed, cut to the longest address there can be: the attempt is what matters,
/// and a megabyte of garbage in the field must not land in the log.
pub fn login_failed(email: &str, user_id: Option<UserId>, ctx: &AuditContext) -> NewAuditEvent {
    let email: String = email.chars().take(Email::MAX_CHARS).collect();
    event(
        AuditAction::LoginFailed,
        ResourceType::User,
        user_id.map(|id| id.to_string()),
        (None, Some(json!({"email": email}))),
        ctx.clone(),
    )
}

pub fn logged_out(session_id: SessionId, ctx: &AuditContext) -> NewAuditEvent {
    event(
        AuditAction::Logout,
        ResourceType::Session,
        Some(session_id.to_string()),
        (None, None),
        ctx.clone(),
    )
}

pub fn refresh_token_reused(session_id: SessionId, ctx: &AuditContext) -> NewAuditEvent {
    event(
        AuditAction::RefreshTokenReused,
        ResourceType::Session,
        Some(session_id.to_string()),
        (None, None),
        ctx.clone(),
    )
}

/// PERMISSION_CHANGED if the role changed, USER_DISABLED or USER_ENABLED if the flag did, in
/// that order; nothing if neither changed.
pub fn user_changed(before: &User, after: &User, ctx: &AuditContext) -> Vec<NewAuditEvent> {
    let resource_id = Some(before.id.to_string());
    let mut events = Vec::new();
    if before.role != after.role {
        events.push(event(
            AuditAction::PermissionChanged,
            ResourceType::User,
            resource_id.clone(),
            (
                Some(json!({"role": before.role.as_str()})),
                Some(json!({"role": after.role.as_str()})),
            ),
            ctx.clone(),
        ));
    }
    if before.disabled != after.disabled {
        let action = if after.disabled {
            AuditAction::UserDisabled
        } else {
            AuditAction::UserEnabled
        };
        events.push(event(
            action,
            ResourceType::User,
            resource_id,
            (
                Some(json!({"disabled": before.disabled})),
                Some(json!({"disabled": after.disabled})),
            ),
            ctx.clone(),
        ));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use crate::user::Role;

    fn user(role: Role, disabled: bool) -> User {
        User {
            id: UserId::new(),
            email: Email::parse("a@example.com").unwrap(),
            role,
            disabled,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        }
    }

    #[test]
    fn self_service_events_name_the_user_as_actor_unless_someone_else_acted() {
        let alice = user(Role::User, false);
        assert_eq!(
            registered(&alice, &AuditContext::default())
                .context
                .actor_id,
            Some(alice.id)
        );
        let admin = UserId::new();
        let by_admin = AuditContext {
            actor_id: Some(admin),
            ..AuditContext::default()
        };
        assert_eq!(registered(&alice, &by_admin).context.actor_id, Some(admin));
    }

    #[test]
    fn a_typed_email_is_cut_to_an_address_length() {
        let event = login_failed(&"x".repeat(10_000), None, &AuditContext::default());
        let typed = event.new_value.unwrap()["email"].as_str().unwrap().len();
        assert_eq!(typed, Email::MAX_CHARS);
    }

    #[test]
    fn each_changed_field_has_its_event() {
        let before = user(Role::Admin, false);
        let ctx = AuditContext::default();
        assert!(user_changed(&before, &before, &ctx).is_empty());
        let after = User {
            role: Role::User,
            disabled: true,
            ..before.clone()
        };
        let events = user_changed(&before, &after, &ctx);
        let actions: Vec<_> = events.iter().map(|event| event.action).collect();
        assert_eq!(
            actions,
            [AuditAction::PermissionChanged, AuditAction::UserDisabled]
        );
        assert_eq!(events[0].old_value, Some(json!({"role": "admin"})));
        assert_eq!(events[0].new_value, Some(json!({"role": "user"})));
        let enabled = user_changed(&after, &before, &ctx);
        assert_eq!(enabled[1].action, AuditAction::UserEnabled);
    }
}
