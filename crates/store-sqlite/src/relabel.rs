//! A metadata patch on a transfer, transaction, hold or payment on SQLite: the statements of
//! `coffre_store::relabel`, under the write lock `BEGIN IMMEDIATE` takes.

use coffre_domain::access::Actor;
use coffre_domain::audit::{AuditContext, NewAuditEvent};
use coffre_domain::event::EventObject;
use coffre_domain::metadata::{Metadata, MetadataPatch};
use coffre_domain::relabel::{Labelled, LabelledRow, RelabelRefused};
use coffre_store::relabel::{RelabelBackend, labelled_row, relabel as run};
use coffre_store::{EventRecord, EventRenderer, StoreError};
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use crate::audit::append_audit;
use crate::error::map_error;
use crate::transaction::begin_immediate;

pub(crate) async fn relabel(
    pool: &SqlitePool,
    renderer: &dyn EventRenderer,
    actor: Actor,
    target: Labelled,
    patch: &MetadataPatch,
    ctx: &AuditContext,
) -> Result<Result<Metadata, RelabelRefused>, StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let relabel = run(
        &mut Statements(&mut transaction),
        renderer,
        &actor,
        target,
        patch,
        ctx,
    )
    .await?;
    // An answer that wrote nothing releases the write lock at once.
    if relabel.commit {
        transaction.commit().await
    } else {
        transaction.rollback().await
    }
    .map_err(map_error)?;
    Ok(relabel.outcome)
}

struct Statements<'c>(&'c mut SqliteConnection);

impl RelabelBackend for Statements<'_> {
    async fn lock_labelled(&mut self, target: Labelled) -> Result<Option<LabelledRow>, StoreError> {
        match target {
            Labelled::Transfer(id) => {
                let id = id.as_uuid();
                sqlx::query!(
                    r#"SELECT t.metadata AS "metadata!", source.owner_id AS "source: Uuid",
                              target.owner_id AS "target: Uuid"
                       FROM transfers t
                       JOIN accounts source ON source.id = t.from_account_id
                       JOIN accounts target ON target.id = t.to_account_id
                       WHERE t.id = ?1"#,
                    id,
                )
                .fetch_optional(&mut *self.0)
                .await
                .map_err(map_error)?
                .map(|row| labelled_row(&row.metadata, [(row.source, row.target)]))
                .transpose()
            }
            Labelled::Hold(id) => {
                let id = id.as_uuid();
                sqlx::query!(
                    r#"SELECT h.metadata AS "metadata!", source.owner_id AS "source: Uuid",
                              target.owner_id AS "target: Uuid"
                       FROM holds h
                       JOIN accounts source ON source.id = h.from_account_id
                       JOIN accounts target ON target.id = h.to_account_id
                       WHERE h.id = ?1"#,
                    id,
                )
                .fetch_optional(&mut *self.0)
                .await
                .map_err(map_error)?
                .map(|row| labelled_row(&row.metadata, [(row.source, row.target)]))
                .transpose()
            }
            Labelled::Payment(id) => {
                let id = id.as_uuid();
                sqlx::query!(
                    r#"SELECT p.metadata AS "metadata!", payer.owner_id AS "source: Uuid",
                              payee.owner_id AS "target: Uuid"
                       FROM payments p
                       JOIN accounts payer ON payer.id = p.payer_account_id
                       JOIN accounts payee ON payee.id = p.payee_account_id
                       WHERE p.id = ?1"#,
                    id,
                )
                .fetch_optional(&mut *self.0)
                .await
                .map_err(map_error)?
                .map(|row| labelled_row(&row.metadata, [(row.source, row.target)]))
                .transpose()
            }
            Labelled::Transaction(id) => {
                let id = id.as_uuid();
                let Some(metadata) = sqlx::query_scalar!(
                    r#"SELECT metadata AS "metadata!" FROM transactions WHERE id = ?1"#,
                    id,
                )
                .fetch_optional(&mut *self.0)
                .await
                .map_err(map_error)?
                else {
                    return Ok(None);
                };
                let postings = sqlx::query!(
                    r#"SELECT source.owner_id AS "source: Uuid", target.owner_id AS "target: Uuid"
                       FROM transfers t
                       JOIN accounts source ON source.id = t.from_account_id
                       JOIN accounts target ON target.id = t.to_account_id
                       WHERE t.transaction_id = ?1 ORDER BY t.posting_index"#,
                    id,
                )
                .fetch_all(&mut *self.0)
                .await
                .map_err(map_error)?;
                labelled_row(
                    &metadata,
                    postings.into_iter().map(|row| (row.source, row.target)),
                )
                .map(Some)
            }
        }
    }

    async fn write_metadata(
        &mut self,
        target: Labelled,
        metadata: &Metadata,
    ) -> Result<(), StoreError> {
        let json = metadata.to_json().to_string();
        match target {
            Labelled::Transfer(id) => {
                let id = id.as_uuid();
                sqlx::query!("UPDATE transfers SET metadata = ?2 WHERE id = ?1", id, json)
                    .execute(&mut *self.0)
                    .await
            }
            Labelled::Hold(id) => {
                let id = id.as_uuid();
                sqlx::query!("UPDATE holds SET metadata = ?2 WHERE id = ?1", id, json)
                    .execute(&mut *self.0)
                    .await
            }
            Labelled::Payment(id) => {
                let id = id.as_uuid();
                sqlx::query!("UPDATE payments SET metadata = ?2 WHERE id = ?1", id, json)
                    .execute(&mut *self.0)
                    .await
            }
            Labelled::Transaction(id) => {
                let id = id.as_uuid();
                sqlx::query!(
                    "UPDATE transactions SET metadata = ?2 WHERE id = ?1",
                    id,
                    json
                )
                .execute(&mut *self.0)
                .await
            }
        }
        .map_err(map_error)?;
        Ok(())
    }

    async fn read_labelled(&mut self, target: Labelled) -> Result<Option<EventObject>, StoreError> {
        let connection = &mut *self.0;
        Ok(match target {
            Labelled::Transfer(id) => crate::ledger::find_transfer(connection, id)
                .await?
                .map(|record| EventObject::Transfer(record.transfer)),
            Labelled::Payment(id) => crate::ledger::find_payment_on(connection, id)
                .await?
                .map(|record| EventObject::Payment(record.payment.view())),
            Labelled::Hold(id) => crate::holds::find_on(connection, Some(id), None)
                .await?
                .map(|record| EventObject::Hold(record.hold.view())),
            Labelled::Transaction(id) => {
                crate::ledger_transactions::find_transaction(connection, id)
                    .await?
                    .map(|record| EventObject::Transaction(record.transaction))
            }
        })
    }

    async fn insert_events(&mut self, events: &[EventRecord]) -> Result<(), StoreError> {
        crate::events::insert(self.0, events).await
    }

    async fn append_audit(&mut self, events: Vec<NewAuditEvent>) -> Result<(), StoreError> {
        append_audit(self.0, events).await.map(drop)
    }
}
