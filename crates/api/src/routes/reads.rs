//! Reads of other people's data by managers and admins leave a READ event (API.md "Audit").

use coffre_domain::access;
use coffre_domain::audit::{NewAuditEvent, ResourceType};
use coffre_domain::ids::UserId;

use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// A resource read, with the owners that make it someone's data.
pub(super) struct Item {
    pub id: String,
    pub owners: Vec<Option<UserId>>,
}

/// What was read: one resource, or a list page.
pub(super) enum Read {
    One(Item),
    Page(Vec<Item>),
}

/// Records the read before the data is answered: if the trace cannot be written, nothing is
/// shown. Reads of one's own data, and pages showing none of anyone else's, leave no event.
pub(super) async fn audit_read(
    state: &AppState,
    caller: &Caller,
    resource_type: ResourceType,
    read: Read,
) -> Result<(), ApiError> {
    let actor = caller.actor();
    let audited = |item: &Item| access::is_audited_read(&actor, &item.owners);
    let event = match read {
        Read::One(item) if audited(&item) => {
            NewAuditEvent::read(resource_type, Some(item.id), Vec::new(), caller.audit())
        }
        Read::One(_) => return Ok(()),
        Read::Page(items) => {
            let ids: Vec<String> = items
                .into_iter()
                .filter(|item| audited(item))
                .map(|item| item.id)
                .collect();
            if ids.is_empty() {
                return Ok(());
            }
            NewAuditEvent::read(resource_type, None, ids, caller.audit())
        }
    };
    state.store().record_audit(vec![event]).await?;
    Ok(())
}
