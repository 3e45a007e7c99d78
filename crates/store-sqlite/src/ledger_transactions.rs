//! Reading transactions: one statement per read, the transactions' rows joined with their
//! postings in order, the owners of the postings' accounts alongside.

use coffre_domain::ids::TransactionId;
use coffre_domain::metadata::MetadataFilter;
use coffre_store::{
    Page, PageLimit, PartyFilter, StoreError, TransactionPostingRow, TransactionRecord,
};
use sqlx::{SqliteExecutor, SqlitePool};

use crate::error::{internal, map_error};

type DateTime = chrono::DateTime<chrono::Utc>;

pub(crate) async fn find_transaction(
    pool: impl SqliteExecutor<'_>,
    id: TransactionId,
) -> Result<Option<TransactionRecord>, StoreError> {
    let id = id.as_uuid();
    let rows = sqlx::query_as!(
        TransactionPostingRow,
        r#"SELECT tx.id AS "transaction_id!: uuid::Uuid",
                  tx.description AS transaction_description, tx.metadata AS "metadata!",
                  tx.created_at AS "transaction_created_at!: DateTime",
                  t.id AS "id!: uuid::Uuid", t.kind AS "kind!",
                  t.from_account_id AS "from_account_id!: uuid::Uuid",
                  t.to_account_id AS "to_account_id!: uuid::Uuid", t.amount AS "amount!",
                  t.currency AS "currency!", t.description,
                  t.metadata AS "transfer_metadata!", t.posting_index AS "posting_index!", t.created_at AS "created_at!: DateTime",
                  source.owner_id AS "from_owner: uuid::Uuid",
                  target.owner_id AS "to_owner: uuid::Uuid"
           FROM transactions tx
           JOIN transfers t ON t.transaction_id = tx.id
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           WHERE tx.id = ?1
           ORDER BY t.posting_index"#,
        id,
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
    pool: &SqlitePool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<TransactionId>,
) -> Result<Page<TransactionRecord>, StoreError> {
    if !metadata.is_empty() {
        return list_transactions_by_metadata(pool, filter, metadata, limit, starting_after).await;
    }
    let account = filter.account_id.map(|id| id.as_uuid());
    let party = filter.party.map(|id| id.as_uuid());
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let rows = sqlx::query_as!(
        TransactionPostingRow,
        r#"WITH page AS (
               SELECT tx.id, tx.description, tx.metadata, tx.created_at FROM transactions tx
               WHERE (?1 IS NULL OR tx.id IN (
                         SELECT p.transaction_id FROM transfers p
                         WHERE p.from_account_id = ?1 OR p.to_account_id = ?1))
                 AND (?2 IS NULL OR tx.id IN (
                         SELECT p.transaction_id FROM accounts owned
                         JOIN transfers p ON p.from_account_id = owned.id
                                          OR p.to_account_id = owned.id
                         WHERE owned.owner_id = ?2))
                 AND (?3 IS NULL OR tx.id < ?3)
               ORDER BY tx.id DESC LIMIT ?4)
           SELECT page.id AS "transaction_id!: uuid::Uuid",
                  page.description AS transaction_description, page.metadata AS "metadata!",
                  page.created_at AS "transaction_created_at!: DateTime",
                  t.id AS "id!: uuid::Uuid", t.kind AS "kind!",
                  t.from_account_id AS "from_account_id!: uuid::Uuid",
                  t.to_account_id AS "to_account_id!: uuid::Uuid", t.amount AS "amount!",
                  t.currency AS "currency!", t.description,
                  t.metadata AS "transfer_metadata!", t.posting_index AS "posting_index!", t.created_at AS "created_at!: DateTime",
                  source.owner_id AS "from_owner: uuid::Uuid",
                  target.owner_id AS "to_owner: uuid::Uuid"
           FROM page
           JOIN transfers t ON t.transaction_id = page.id
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           ORDER BY page.id DESC, t.posting_index"#,
        account,
        party,
        after,
        fetch,
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    let records = TransactionPostingRow::into_records(rows).map_err(internal)?;
    Ok(Page::from_fetched(records, limit))
}

/// [`list_transactions`] with a metadata filter: the transactions holding every pair, each pair one lookup
/// in `metadata_pairs`' primary key (see `list_accounts_by_metadata`); no scan of the table.
async fn list_transactions_by_metadata(
    pool: &SqlitePool,
    filter: PartyFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<TransactionId>,
) -> Result<Page<TransactionRecord>, StoreError> {
    let account = filter.account_id.map(|id| id.as_uuid());
    let party = filter.party.map(|id| id.as_uuid());
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let wanted = metadata.to_json().to_string();
    let rows = sqlx::query_as!(
        TransactionPostingRow,
        r#"WITH page AS (
               SELECT tx.id, tx.description, tx.metadata, tx.created_at FROM transactions tx
               WHERE tx.id IN (SELECT pair.id
                        FROM json_each(?5) AS wanted
                        CROSS JOIN metadata_pairs pair
                          ON pair.resource = 'transaction' AND pair.key = wanted.key
                             AND pair.value = wanted.value
                        GROUP BY pair.id
                        HAVING count(*) = (SELECT count(*) FROM json_each(?5)))
             AND (?1 IS NULL OR tx.id IN (
                         SELECT p.transaction_id FROM transfers p
                         WHERE p.from_account_id = ?1 OR p.to_account_id = ?1))
                 AND (?2 IS NULL OR tx.id IN (
                         SELECT p.transaction_id FROM accounts owned
                         JOIN transfers p ON p.from_account_id = owned.id
                                          OR p.to_account_id = owned.id
                         WHERE owned.owner_id = ?2))
                 AND (?3 IS NULL OR tx.id < ?3)
               ORDER BY tx.id DESC LIMIT ?4)
           SELECT page.id AS "transaction_id!: uuid::Uuid",
                  page.description AS transaction_description, page.metadata AS "metadata!",
                  page.created_at AS "transaction_created_at!: DateTime",
                  t.id AS "id!: uuid::Uuid", t.kind AS "kind!",
                  t.from_account_id AS "from_account_id!: uuid::Uuid",
                  t.to_account_id AS "to_account_id!: uuid::Uuid", t.amount AS "amount!",
                  t.currency AS "currency!", t.description,
                  t.metadata AS "transfer_metadata!", t.posting_index AS "posting_index!", t.created_at AS "created_at!: DateTime",
                  source.owner_id AS "from_owner: uuid::Uuid",
                  target.owner_id AS "to_owner: uuid::Uuid"
           FROM page
           JOIN transfers t ON t.transaction_id = page.id
           JOIN accounts source ON source.id = t.from_account_id
           JOIN accounts target ON target.id = t.to_account_id
           ORDER BY page.id DESC, t.posting_index"#,
        account,
        party,
        after,
        fetch,
        wanted,
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    let records = TransactionPostingRow::into_records(rows).map_err(internal)?;
    Ok(Page::from_fetched(records, limit))
}
