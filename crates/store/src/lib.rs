//! The storage port: the `Store` trait every backend implements, its error type, the decoding
//! of stored audit rows both backends share, and (with the `conformance` feature) the suite
//! every backend must pass.
//!
//! Store methods are whole business operations: each backend owns its transactions, its SQL and
//! its locking, and no transaction object crosses this boundary.

use async_trait::async_trait;
use coffre_domain::audit::{AuditEvent, ChainReport, NewAuditEvent};
use coffre_domain::ids::AuditEventId;

mod chain_check;
mod error;
mod page;
mod rows;

pub use chain_check::ChainCheck;
pub use error::StoreError;
pub use page::{AuditFilter, Page, PageLimit};
pub use rows::{AuditRow, CorruptHead, CorruptRow, chain_head, parse_json_column};

#[cfg(feature = "conformance")]
pub mod conformance;

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// A cheap round trip to the database, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Applies pending migrations; running it again is harmless.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Appends events to the audit chain in a transaction of their own, for events that
    /// accompany no other change (changes append their events inside their own transaction).
    /// Returns them as stored, in `seq` order; an empty list appends nothing.
    async fn record_audit(&self, events: Vec<NewAuditEvent>)
    -> Result<Vec<AuditEvent>, StoreError>;

    /// Audit events matching `filter`, newest (highest `seq`) first. `starting_after` is the id
    /// of the last event of the previous page; an id that names no event gives an empty page.
    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        limit: PageLimit,
        starting_after: Option<AuditEventId>,
    ) -> Result<Page<AuditEvent>, StoreError>;

    /// Walks the whole chain in `seq` order, a page at a time, and names the first event that
    /// does not link.
    async fn verify_audit_chain(&self) -> Result<ChainReport, StoreError>;

    /// Waits for in-flight work and closes the connections.
    async fn close(&self);
}
