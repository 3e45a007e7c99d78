//! Changing the metadata of a transfer, transaction, hold or payment (`PATCH` with
//! `{metadata}`). Labels move no money, so this is not a ledger command: the store locks the
//! one row, asks [`relabel`] what to write, and writes it with its audit event in one
//! transaction. An account's metadata is the ledger's (`Action::UpdateAccount`), since the
//! money path rewrites account rows.

use crate::access::{self, Actor, Denied};
use crate::audit::{AuditContext, NewAuditEvent, ResourceType};
use crate::event::EventType;
use crate::ids::{HoldId, PaymentId, TransactionId, TransferId, UserId};
use crate::ledger::events::metadata_changed;
use crate::metadata::{Metadata, MetadataPatch};

/// The resource whose metadata a request changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labelled {
    Transfer(TransferId),
    Transaction(TransactionId),
    Hold(HoldId),
    Payment(PaymentId),
}

impl Labelled {
    pub fn resource_type(self) -> ResourceType {
        match self {
            Self::Transfer(_) => ResourceType::Transfer,
            Self::Transaction(_) => ResourceType::Transaction,
            Self::Hold(_) => ResourceType::Hold,
            Self::Payment(_) => ResourceType::Payment,
        }
    }

    /// The public event a change of its labels writes.
    pub fn updated(self) -> EventType {
        match self {
            Self::Transfer(_) => EventType::TransferUpdated,
            Self::Transaction(_) => EventType::TransactionUpdated,
            Self::Hold(_) => EventType::HoldUpdated,
            Self::Payment(_) => EventType::PaymentUpdated,
        }
    }

    fn resource_id(self) -> String {
        match self {
            Self::Transfer(id) => id.to_string(),
            Self::Transaction(id) => id.to_string(),
            Self::Hold(id) => id.to_string(),
            Self::Payment(id) => id.to_string(),
        }
    }
}

/// The labelled resource as the store read it under its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledRow {
    pub metadata: Metadata,
    /// The owners of the accounts the money came from (a transfer's or hold's source, a
    /// payment's payer, every posting's source): who may label it, beside an admin.
    pub sources: Vec<Option<UserId>>,
    /// The owners of every account it touches: who may see it.
    pub parties: Vec<Option<UserId>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RelabelRefused {
    /// Absent, or not visible to the actor.
    #[error("not found")]
    NotFound,
    #[error("the actor may see the resource but not label it")]
    Forbidden,
    #[error("the metadata would hold more keys than allowed")]
    TooManyKeys,
}

/// What to write: the merged metadata and its audit event, or `None` when the patch changes
/// nothing (nothing is written, no event).
pub type Relabelling = Option<(Metadata, NewAuditEvent)>;

/// Decides a metadata patch on `row`, the current state of `target`.
pub fn relabel(
    actor: &Actor,
    target: Labelled,
    row: &LabelledRow,
    patch: &MetadataPatch,
    context: &AuditContext,
) -> Result<Relabelling, RelabelRefused> {
    access::label(actor, &row.sources, &row.parties).map_err(|denied| match denied {
        Denied::Hidden => RelabelRefused::NotFound,
        Denied::Forbidden => RelabelRefused::Forbidden,
    })?;
    let merged = row
        .metadata
        .merged(patch)
        .map_err(|_| RelabelRefused::TooManyKeys)?;
    if merged == row.metadata {
        return Ok(None);
    }
    let event = metadata_changed(
        target.resource_type(),
        target.resource_id(),
        &row.metadata,
        &merged,
        context,
    );
    Ok(Some((merged, event)))
}
