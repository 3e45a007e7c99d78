//! A metadata patch on a transfer, transaction, hold or payment (`Store::relabel`), the same on
//! every backend: the row locked, the patch decided by `coffre_domain::relabel`, the metadata
//! written with its audit event and its public event (`<noun>.updated`, the resource as its GET
//! then shows it), all in one transaction. A backend supplies the statements.

use std::future::Future;

use coffre_domain::access::Actor;
use coffre_domain::audit::{AuditContext, NewAuditEvent};
use coffre_domain::event::{EventObject, NewEvent};
use coffre_domain::ids::UserId;
use coffre_domain::metadata::{Metadata, MetadataPatch};
use coffre_domain::relabel::{Labelled, LabelledRow, RelabelRefused, relabel as decide};
use coffre_domain::time::Timestamp;
use uuid::Uuid;

use crate::StoreError;
use crate::events::{EventRecord, EventRenderer, render_events};

/// The statements of a metadata patch, all inside its one transaction.
pub trait RelabelBackend: Send {
    /// The resource's metadata and owners, its row locked until the transaction ends.
    fn lock_labelled(
        &mut self,
        target: Labelled,
    ) -> impl Future<Output = Result<Option<LabelledRow>, StoreError>> + Send;

    fn write_metadata(
        &mut self,
        target: Labelled,
        metadata: &Metadata,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The resource as its GET shows it, read in this transaction.
    fn read_labelled(
        &mut self,
        target: Labelled,
    ) -> impl Future<Output = Result<Option<EventObject>, StoreError>> + Send;

    fn insert_events(
        &mut self,
        events: &[EventRecord],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn append_audit(
        &mut self,
        events: Vec<NewAuditEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The patch's outcome, and whether its transaction wrote anything to commit.
#[derive(Debug)]
pub struct Relabel {
    /// The metadata after the patch, or why it was refused.
    pub outcome: Result<Metadata, RelabelRefused>,
    pub commit: bool,
}

/// A labelled resource as a backend's lock statement read it: its stored metadata (JSON text)
/// and the owners of each source and destination account, in order.
pub fn labelled_row(
    metadata: &str,
    pairs: impl IntoIterator<Item = (Option<Uuid>, Option<Uuid>)>,
) -> Result<LabelledRow, StoreError> {
    let mut sources = Vec::new();
    let mut parties = Vec::new();
    for (source, target) in pairs {
        let source = source.map(UserId::from_uuid);
        sources.push(source);
        parties.extend([source, target.map(UserId::from_uuid)]);
    }
    Ok(LabelledRow {
        metadata: Metadata::from_json(metadata)
            .map_err(|error| StoreError::Internal(Box::new(error)))?,
        sources,
        parties,
    })
}

/// The resource was there when locked and is gone when read again in the same transaction: only
/// an edit behind the store's back does that.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} vanished under its lock")]
pub struct Vanished(pub Labelled);

pub async fn relabel<B: RelabelBackend>(
    backend: &mut B,
    renderer: &dyn EventRenderer,
    actor: &Actor,
    target: Labelled,
    patch: &MetadataPatch,
    context: &AuditContext,
) -> Result<Relabel, StoreError> {
    let Some(row) = backend.lock_labelled(target).await? else {
        return Ok(Relabel {
            outcome: Err(RelabelRefused::NotFound),
            commit: false,
        });
    };
    match decide(actor, target, &row, patch, context) {
        Err(refused) => Ok(Relabel {
            outcome: Err(refused),
            commit: false,
        }),
        Ok(None) => Ok(Relabel {
            outcome: Ok(row.metadata),
            commit: false,
        }),
        Ok(Some((metadata, event))) => {
            backend.write_metadata(target, &metadata).await?;
            let object = backend
                .read_labelled(target)
                .await?
                .ok_or_else(|| StoreError::Internal(Box::new(Vanished(target))))?;
            let updated = NewEvent::new(target.updated(), object, Timestamp::now());
            backend
                .insert_events(&render_events(renderer, &[updated])?)
                .await?;
            backend.append_audit(vec![event]).await?;
            Ok(Relabel {
                outcome: Ok(metadata),
                commit: true,
            })
        }
    }
}
