//! Reading transactions: one statement per read, the transactions' rows joined with their
//! postings in order, the owners of the postings' accounts alongside.

use coffre_domain::ids::TransactionId;
use coffre_domain::metadata::MetadataFilter;
use coffre_store::{
    Page, PageLimit, PartyFilter, StoreError, TransactionPostingRow, TransactionRecord,
};
use sqlx::{PgExecutor, PgPool};

use crate::error::{internal, map_error};

pub(crate) async fn find_transaction(
    pool: impl PgExecutor<'_>,
    id: TransactionId,
) -> Result<Option<TransactionRecord>, StoreError> {
    let rows = sqlx::query_as!(
        TransactionPostingRow,
        r#"SELECT tx.id AS transaction_id, tx.description AS transaction_description,
                  tx.metadata::text AS "metadata!", tx.created_at AS transaction_created_at,
                  t.id, t.kind, t.from_account_id, t.to_account_id, t.amount, t.currency,
                  t.description, t.metadata::text AS "transfer_metadata!",
                  t.posting_index::bigint AS "posting_index!", t.created_at,
                  source.owner_id AS "from_owner?", target.owner_id AS "to_owner?"
           FROM transactions tx
           JOIN transfers t ON t.transaction_id = tx.id
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           WHERE tx.id = $1
           ORDER BY t.posting_index"#,
        id.as_uuid(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    let mut records = TransactionPostingRow::into_records(rows).map_err(internal)?;
    Ok(records.pop())
}

/// The page's transactions are chosen first (newest first, the filters read through the
/// transfers' account indexes), then joined with their postings.
pub(crate) async fn list_transactions(
    pool: &PgPool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<TransactionId>,
) -> Result<Page<TransactionRecord>, StoreError> {
    if !metadata.is_empty() {
        return list_transactions_by_metadata(pool, filter, metadata, limit, starting_after).await;
    }
    let rows = sqlx::query_as!(
        TransactionPostingRow,
        r#"WITH page AS (
               SELECT tx.id, tx.description, tx.metadata, tx.created_at FROM transactions tx
               WHERE ($1::uuid IS NULL OR tx.id IN (
                         SELECT p.transaction_id FROM transfers p
                         WHERE p.from_account_id = $1 OR p.to_account_id = $1))
                 AND ($2::uuid IS NULL OR tx.id IN (
                         SELECT p.transaction_id FROM accounts owned
                         JOIN transfers p ON p.from_account_id = owned.id
                                          OR p.to_account_id = owned.id
                         WHERE owned.owner_id = $2))
                 AND ($3::uuid IS NULL OR tx.id < $3)
               ORDER BY tx.id DESC LIMIT $4)
           SELECT page.id AS "transaction_id!", page.description AS transaction_description,
                  page.metadata::text AS "metadata!",
                  page.created_at AS "transaction_created_at!",
                  t.id, t.kind, t.from_account_id, t.to_account_id, t.amount, t.currency,
                  t.description, t.metadata::text AS "transfer_metadata!",
                  t.posting_index::bigint AS "posting_index!", t.created_at,
                  source.owner_id AS "from_owner?", target.owner_id AS "to_owner?"
           FROM page
           JOIN transfers t ON t.transaction_id = page.id
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           ORDER BY page.id DESC, t.posting_index"#,
        filter.account_id.map(|id| id.as_uuid()),
        filter.party.map(|id| id.as_uuid()),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    let records = TransactionPostingRow::into_records(rows).map_err(internal)?;
    Ok(Page::from_fetched(records, limit))
}

/// [`list_transactions`] with a metadata filter: the page is chosen among the transactions the
/// GIN index matches, materialized first (see `list_accounts_by_metadata`).
async fn list_transactions_by_metadata(
    pool: &PgPool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<TransactionId>,
) -> Result<Page<TransactionRecord>, StoreError> {
    let rows = sqlx::query_as!(
        TransactionPostingRow,
        r#"WITH matching AS MATERIALIZED (
               SELECT id, description, metadata, created_at FROM transactions
               WHERE metadata @> $5::text::jsonb AND metadata <> '{}'),
           page AS (
               SELECT tx.id, tx.description, tx.metadata, tx.created_at FROM matching tx
               WHERE ($1::uuid IS NULL OR tx.id IN (
                         SELECT p.transaction_id FROM transfers p
                         WHERE p.from_account_id = $1 OR p.to_account_id = $1))
                 AND ($2::uuid IS NULL OR tx.id IN (
                         SELECT p.transaction_id FROM accounts owned
                         JOIN transfers p ON p.from_account_id = owned.id
                                          OR p.to_account_id = owned.id
                         WHERE owned.owner_id = $2))
                 AND ($3::uuid IS NULL OR tx.id < $3)
               ORDER BY tx.id DESC LIMIT $4)
           SELECT page.id AS "transaction_id!", page.description AS transaction_description,
                  page.metadata::text AS "metadata!",
                  page.created_at AS "transaction_created_at!",
                  t.id, t.kind, t.from_account_id, t.to_account_id, t.amount, t.currency,
                  t.description, t.metadata::text AS "transfer_metadata!",
                  t.posting_index::bigint AS "posting_index!", t.created_at,
                  source.owner_id AS "from_owner?", target.owner_id AS "to_owner?"
           FROM page
           JOIN transfers t ON t.transaction_id = page.id
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           ORDER BY page.id DESC, t.posting_index"#,
        filter.account_id.map(|id| id.as_uuid()),
        filter.party.map(|id| id.as_uuid()),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
        metadata.to_json().to_string(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    let records = TransactionPostingRow::into_records(rows).map_err(internal)?;
    Ok(Page::from_fetched(records, limit))
}
