//! Holds in PostgreSQL (API.md "Holds"): their reads, the expiry sweep's query, and their locks
//! and writes inside the batch's transaction.

use coffre_domain::hold::Hold;
use coffre_domain::ids::{HoldId, PaymentId};
use coffre_domain::ledger::{Effects, Ledger};
use coffre_domain::metadata::MetadataFilter;
use coffre_domain::time::Timestamp;
use coffre_store::{
    DueHold, HoldColumns, HoldFilter, HoldRecord, HoldRow, Page, PageLimit, StoreError,
};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::{internal, map_error};

/// Holds are locked after payments and before accounts, in ascending id order (DESIGN.md §2):
/// those `ids` name and those of `payments`, in one statement.
pub(crate) async fn lock_holds(
    connection: &mut PgConnection,
    ids: &[HoldId],
    payments: &[PaymentId],
) -> Result<Vec<Hold>, StoreError> {
    let ids: Vec<Uuid> = ids.iter().map(HoldId::as_uuid).collect();
    let payments: Vec<Uuid> = payments.iter().map(PaymentId::as_uuid).collect();
    let rows = sqlx::query_as!(
        HoldRow,
        r#"SELECT h.id, h.from_account_id, h.to_account_id, h.amount, h.currency, h.state,
                  h.posted_amount, h.released_amount, h.payment_id,
                  h.metadata::text AS "metadata!", h.expires_at, h.created_at,
                  h.updated_at, NULL::uuid AS "from_owner?", NULL::uuid AS "to_owner?"
           FROM holds h
           WHERE h.id = ANY($1::uuid[] || ARRAY(SELECT id FROM holds
                                                WHERE payment_id = ANY($2::uuid[])))
           ORDER BY h.id FOR UPDATE"#,
        &ids,
        &payments,
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(map_error)?;
    rows.into_iter()
        .map(|row| {
            row.into_record()
                .map(|record| record.hold)
                .map_err(internal)
        })
        .collect()
}

pub(crate) async fn find_hold(
    pool: impl PgExecutor<'_>,
    id: HoldId,
) -> Result<Option<HoldRecord>, StoreError> {
    sqlx::query_as!(
        HoldRow,
        r#"SELECT h.id, h.from_account_id, h.to_account_id, h.amount, h.currency, h.state,
                  h.posted_amount, h.released_amount, h.payment_id,
                  h.metadata::text AS "metadata!", h.expires_at, h.created_at,
                  h.updated_at, source.owner_id AS "from_owner?", target.owner_id AS "to_owner?"
           FROM holds h
           JOIN accounts source ON source.id = h.from_account_id
           JOIN accounts target ON target.id = h.to_account_id
           WHERE h.id = $1"#,
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await
    .map_err(map_error)?
    .map(|row| row.into_record().map_err(internal))
    .transpose()
}

pub(crate) async fn list_holds(
    pool: &PgPool,
    filter: HoldFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<HoldId>,
) -> Result<Page<HoldRecord>, StoreError> {
    if !metadata.is_empty() {
        return list_holds_by_metadata(pool, filter, metadata, limit, starting_after).await;
    }
    let rows = sqlx::query_as!(
        HoldRow,
        r#"SELECT h.id, h.from_account_id, h.to_account_id, h.amount, h.currency, h.state,
                  h.posted_amount, h.released_amount, h.payment_id,
                  h.metadata::text AS "metadata!", h.expires_at, h.created_at,
                  h.updated_at, source.owner_id AS "from_owner?", target.owner_id AS "to_owner?"
           FROM holds h
           JOIN accounts source ON source.id = h.from_account_id
           JOIN accounts target ON target.id = h.to_account_id
           WHERE ($1::uuid IS NULL OR h.from_account_id = $1 OR h.to_account_id = $1)
             AND ($2::uuid IS NULL OR source.owner_id = $2 OR target.owner_id = $2)
             AND ($3::text IS NULL OR h.state = $3)
             AND ($4::uuid IS NULL OR h.id < $4)
           ORDER BY h.id DESC LIMIT $5"#,
        filter.parties.account_id.map(|id| id.as_uuid()),
        filter.parties.party.map(|id| id.as_uuid()),
        filter.state.map(|state| state.as_str()) as _,
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    hold_page(rows, limit)
}

fn hold_page(rows: Vec<HoldRow>, limit: PageLimit) -> Result<Page<HoldRecord>, StoreError> {
    let holds = rows
        .into_iter()
        .map(|row| row.into_record().map_err(internal))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_fetched(holds, limit))
}

/// [`list_holds`] with a metadata filter, through the GIN index (see
/// `list_accounts_by_metadata`).
async fn list_holds_by_metadata(
    pool: &PgPool,
    filter: HoldFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<HoldId>,
) -> Result<Page<HoldRecord>, StoreError> {
    let rows = sqlx::query_as!(
        HoldRow,
        r#"WITH matching AS MATERIALIZED (
               SELECT * FROM holds WHERE metadata @> $6::text::jsonb AND metadata <> '{}')
           SELECT h.id AS "id!", h.from_account_id AS "from_account_id!",
                  h.to_account_id AS "to_account_id!", h.amount AS "amount!",
                  h.currency AS "currency!", h.state AS "state!",
                  h.posted_amount AS "posted_amount!", h.released_amount AS "released_amount!",
                  h.payment_id, h.metadata::text AS "metadata!", h.expires_at AS "expires_at!",
                  h.created_at AS "created_at!", h.updated_at AS "updated_at!",
                  source.owner_id AS "from_owner?", target.owner_id AS "to_owner?"
           FROM matching h
           JOIN accounts source ON source.id = h.from_account_id
           JOIN accounts target ON target.id = h.to_account_id
           WHERE ($1::uuid IS NULL OR h.from_account_id = $1 OR h.to_account_id = $1)
             AND ($2::uuid IS NULL OR source.owner_id = $2 OR target.owner_id = $2)
             AND ($3::text IS NULL OR h.state = $3)
             AND ($4::uuid IS NULL OR h.id < $4)
           ORDER BY h.id DESC LIMIT $5"#,
        filter.parties.account_id.map(|id| id.as_uuid()),
        filter.parties.party.map(|id| id.as_uuid()),
        filter.state.map(|state| state.as_str()) as _,
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
        metadata.to_json().to_string(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    hold_page(rows, limit)
}

pub(crate) async fn due_holds(
    pool: &PgPool,
    now: Timestamp,
    limit: PageLimit,
) -> Result<Vec<DueHold>, StoreError> {
    let rows = sqlx::query!(
        "SELECT id, payment_id FROM holds WHERE state = 'held' AND expires_at <= $1 \
         ORDER BY expires_at LIMIT $2",
        now.as_datetime(),
        i64::from(limit.get()),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    Ok(rows
        .into_iter()
        .map(|row| DueHold {
            id: HoldId::from_uuid(row.id),
            payment_id: row.payment_id.map(PaymentId::from_uuid),
        })
        .collect())
}

/// Inserts the holds the batch opened and updates those it changed, as `ledger` holds them.
pub(crate) async fn write_holds(
    connection: &mut PgConnection,
    ledger: &Ledger,
    effects: &Effects,
) -> Result<(), StoreError> {
    for hold in effects
        .holds_opened
        .iter()
        .filter_map(|id| ledger.hold(*id))
    {
        let h = HoldColumns::of(hold);
        sqlx::query!(
            "INSERT INTO holds (id, from_account_id, to_account_id, amount, currency, state, \
             posted_amount, released_amount, payment_id, metadata, expires_at, created_at, \
             updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::jsonb, $11, $12, $13)",
            h.id,
            h.from_account_id,
            h.to_account_id,
            h.amount,
            h.currency,
            h.state,
            h.posted_amount,
            h.released_amount,
            h.payment_id,
            h.metadata,
            h.expires_at,
            h.created_at,
            h.updated_at,
        )
        .execute(&mut *connection)
        .await
        .map_err(map_error)?;
    }
    for hold in effects
        .holds_changed
        .iter()
        .filter_map(|id| ledger.hold(*id))
    {
        let h = HoldColumns::of(hold);
        sqlx::query!(
            "UPDATE holds SET state = $2, posted_amount = $3, released_amount = $4, \
             updated_at = $5 WHERE id = $1",
            h.id,
            h.state,
            h.posted_amount,
            h.released_amount,
            h.updated_at,
        )
        .execute(&mut *connection)
        .await
        .map_err(map_error)?;
    }
    Ok(())
}
