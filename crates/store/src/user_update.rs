//! An admin's change to a user (`Store::update_user`), the same on every backend: the steps of
//! its one transaction and the last-admin rule, written once. A backend supplies the
//! statements ([`UserUpdateBackend`]) and the transaction, which must serialize such changes.

use std::future::Future;

use coffre_domain::audit::{AuditContext, NewAuditEvent};
use coffre_domain::identity_events::user_changed;
use coffre_domain::ids::UserId;
use coffre_domain::time::Timestamp;

use crate::{StoreError, UpdateUser, User, UserChanges};

/// The statements of an admin's change that differ between backends, all inside its one
/// transaction.
pub trait UserUpdateBackend: Send {
    /// The user, locked so that no other admin change runs until this transaction ends.
    fn lock_user(
        &mut self,
        id: UserId,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Admins who can still log in, as committed now.
    fn active_admins(&mut self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Writes the user's role, disabled flag and update time.
    fn write_user(&mut self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Revokes every live session of the user, as disabled at `now`.
    fn revoke_sessions(
        &mut self,
        id: UserId,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn append_audit(
        &mut self,
        events: Vec<NewAuditEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What an admin's change came to, and whether its transaction wrote anything to commit. Every
/// answer that wrote nothing should roll back at once: the transaction holds what serializes
/// admin changes.
#[derive(Debug)]
pub struct UserUpdate {
    pub outcome: UpdateUser,
    pub commit: bool,
}

/// Refuses the change with `LastAdmin` if no active admin would remain; otherwise writes it,
/// revokes the user's sessions if it disables the user, and appends its audit events. A change
/// that changes nothing writes nothing.
pub async fn update_user<B: UserUpdateBackend>(
    backend: &mut B,
    id: UserId,
    changes: UserChanges,
    ctx: &AuditContext,
) -> Result<UserUpdate, StoreError> {
    let unchanged = |outcome| UserUpdate {
        outcome,
        commit: false,
    };
    let Some(before) = backend.lock_user(id).await? else {
        return Ok(unchanged(UpdateUser::NotFound));
    };
    let now = Timestamp::now();
    let Some(after) = changes.applied_to(&before, now) else {
        return Ok(unchanged(UpdateUser::Updated(before)));
    };
    let removes_an_admin = before.is_active_admin() && !after.is_active_admin();
    if removes_an_admin && backend.active_admins().await? <= 1 {
        return Ok(unchanged(UpdateUser::LastAdmin));
    }
    backend.write_user(&after).await?;
    if after.disabled && !before.disabled {
        backend.revoke_sessions(id, now).await?;
    }
    backend
        .append_audit(user_changed(&before, &after, ctx))
        .await?;
    Ok(UserUpdate {
        outcome: UpdateUser::Updated(after),
        commit: true,
    })
}
