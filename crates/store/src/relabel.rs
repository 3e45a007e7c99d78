//! A metadata patch on a transfer, transaction, hold or payment (`Store::relabel`), the same on
//! every backend: the row locked, the patch decided by `coffre_domain::relabel`, the metadata
//! written with its audit event, all in one transaction. A backend supplies the statements.

use std::future::Future;

use coffre_domain::access::Actor;
use coffre_domain::audit::{AuditContext, NewAuditEvent};
use coffre_domain::metadata::{Metadata, MetadataPatch};
use coffre_domain::relabel::{Labelled, LabelledRow, RelabelRefused, relabel as decide};

use crate::StoreError;

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

pub async fn relabel<B: RelabelBackend>(
    backend: &mut B,
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
            backend.append_audit(vec![event]).await?;
            Ok(Relabel {
                outcome: Ok(metadata),
                commit: true,
            })
        }
    }
}
