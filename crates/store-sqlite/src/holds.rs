//! Holds in SQLite (API.md "Holds"): their reads, the expiry sweep's query, and their writes
//! inside the batch's transaction.

use coffre_domain::hold::Hold;
use coffre_domain::ids::{HoldId, PaymentId};
use coffre_domain::ledger::{Effects, Ledger};
use coffre_domain::metadata::MetadataFilter;
use coffre_domain::time::Timestamp;
use coffre_store::{
    DueHold, HoldColumns, HoldFilter, HoldRecord, HoldRow, Page, PageLimit, StoreError,
};
use sqlx::{SqliteConnection, SqlitePool};

use crate::error::{internal, map_error};

type DateTime = chrono::DateTime<chrono::Utc>;

/// The holds `ids` name and those of `payments`, ascending by id. Under the batch's write lock
/// every row read is as good as locked.
pub(crate) async fn lock_holds(
    connection: &mut SqliteConnection,
    ids: &[HoldId],
    payments: &[PaymentId],
) -> Result<Vec<Hold>, StoreError> {
    let mut holds = Vec::with_capacity(ids.len().saturating_add(payments.len()));
    for id in ids {
        holds.extend(find_on(connection, Some(*id), None).await?);
    }
    for payment in payments {
        holds.extend(find_on(connection, None, Some(*payment)).await?);
    }
    let mut holds: Vec<Hold> = holds.into_iter().map(|record| record.hold).collect();
    holds.sort_unstable_by_key(|hold| hold.terms().id);
    holds.dedup_by_key(|hold| hold.terms().id);
    Ok(holds)
}

/// The hold with this id, or the hold of this payment.
pub(crate) async fn find_on(
    connection: &mut SqliteConnection,
    id: Option<HoldId>,
    payment: Option<PaymentId>,
) -> Result<Option<HoldRecord>, StoreError> {
    let id = id.map(|id| id.as_uuid());
    let payment = payment.map(|id| id.as_uuid());
    sqlx::query_as!(
        HoldRow,
        r#"SELECT h.id AS "id!: uuid::Uuid",
                  h.from_account_id AS "from_account_id!: uuid::Uuid",
                  h.to_account_id AS "to_account_id!: uuid::Uuid",
                  h.amount AS "amount!", h.currency AS "currency!", h.state AS "state!",
                  h.posted_amount AS "posted_amount!", h.released_amount AS "released_amount!",
                  h.payment_id AS "payment_id: uuid::Uuid", h.metadata AS "metadata!",
                  h.expires_at AS "expires_at!: DateTime",
                  h.created_at AS "created_at!: DateTime",
                  h.updated_at AS "updated_at!: DateTime",
                  source.owner_id AS "from_owner: uuid::Uuid",
                  target.owner_id AS "to_owner: uuid::Uuid"
           FROM holds h
           JOIN accounts source ON source.id = h.from_account_id
           JOIN accounts target ON target.id = h.to_account_id
           WHERE h.id = ?1 OR h.payment_id = ?2"#,
        id,
        payment,
    )
    .fetch_optional(connection)
    .await
    .map_err(map_error)?
    .map(|row| row.into_record().map_err(internal))
    .transpose()
}

pub(crate) async fn find_hold(
    pool: &SqlitePool,
    id: HoldId,
) -> Result<Option<HoldRecord>, StoreError> {
    let mut connection = pool.acquire().await.map_err(map_error)?;
    find_on(&mut connection, Some(id), None).await
}

pub(crate) async fn list_holds(
    pool: &SqlitePool,
    filter: HoldFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<HoldId>,
) -> Result<Page<HoldRecord>, StoreError> {
    if !metadata.is_empty() {
        return list_holds_by_metadata(pool, filter, metadata, limit, starting_after).await;
    }
    let account = filter.parties.account_id.map(|id| id.as_uuid());
    let party = filter.parties.party.map(|id| id.as_uuid());
    let state = filter.state.map(|state| state.as_str());
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let rows = sqlx::query_as!(
        HoldRow,
        r#"SELECT h.id AS "id!: uuid::Uuid",
                  h.from_account_id AS "from_account_id!: uuid::Uuid",
                  h.to_account_id AS "to_account_id!: uuid::Uuid",
                  h.amount AS "amount!", h.currency AS "currency!", h.state AS "state!",
                  h.posted_amount AS "posted_amount!", h.released_amount AS "released_amount!",
                  h.payment_id AS "payment_id: uuid::Uuid", h.metadata AS "metadata!",
                  h.expires_at AS "expires_at!: DateTime",
                  h.created_at AS "created_at!: DateTime",
                  h.updated_at AS "updated_at!: DateTime",
                  source.owner_id AS "from_owner: uuid::Uuid",
                  target.owner_id AS "to_owner: uuid::Uuid"
           FROM holds h
           JOIN accounts source ON source.id = h.from_account_id
           JOIN accounts target ON target.id = h.to_account_id
           WHERE (?1 IS NULL OR h.from_account_id = ?1 OR h.to_account_id = ?1)
             AND (?2 IS NULL OR source.owner_id = ?2 OR target.owner_id = ?2)
             AND (?3 IS NULL OR h.state = ?3)
             AND (?4 IS NULL OR h.id < ?4)
           ORDER BY h.id DESC LIMIT ?5"#,
        account,
        party,
        state,
        after,
        fetch,
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

/// [`list_holds`] with a metadata filter: the holds holding every pair, each pair one lookup
/// in `metadata_pairs`' primary key (see `list_accounts_by_metadata`); no scan of the table.
async fn list_holds_by_metadata(
    pool: &SqlitePool,
    filter: HoldFilter,
    metadata: &MetadataFilter,
    limit: PageLimit,
    starting_after: Option<HoldId>,
) -> Result<Page<HoldRecord>, StoreError> {
    let account = filter.parties.account_id.map(|id| id.as_uuid());
    let party = filter.parties.party.map(|id| id.as_uuid());
    let state = filter.state.map(|state| state.as_str());
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let wanted = metadata.to_json().to_string();
    let rows = sqlx::query_as!(
        HoldRow,
        r#"SELECT h.id AS "id!: uuid::Uuid",
                  h.from_account_id AS "from_account_id!: uuid::Uuid",
                  h.to_account_id AS "to_account_id!: uuid::Uuid",
                  h.amount AS "amount!", h.currency AS "currency!", h.state AS "state!",
                  h.posted_amount AS "posted_amount!", h.released_amount AS "released_amount!",
                  h.payment_id AS "payment_id: uuid::Uuid", h.metadata AS "metadata!",
                  h.expires_at AS "expires_at!: DateTime",
                  h.created_at AS "created_at!: DateTime",
                  h.updated_at AS "updated_at!: DateTime",
                  source.owner_id AS "from_owner: uuid::Uuid",
                  target.owner_id AS "to_owner: uuid::Uuid"
           FROM holds h
           JOIN accounts source ON source.id = h.from_account_id
           JOIN accounts target ON target.id = h.to_account_id
           WHERE h.id IN (SELECT pair.id
                        FROM json_each(?6) AS wanted
                        CROSS JOIN metadata_pairs pair
                          ON pair.resource = 'hold' AND pair.key = wanted.key
                             AND pair.value = wanted.value
                        GROUP BY pair.id
                        HAVING count(*) = (SELECT count(*) FROM json_each(?6)))
             AND (?1 IS NULL OR h.from_account_id = ?1 OR h.to_account_id = ?1)
             AND (?2 IS NULL OR source.owner_id = ?2 OR target.owner_id = ?2)
             AND (?3 IS NULL OR h.state = ?3)
             AND (?4 IS NULL OR h.id < ?4)
           ORDER BY h.id DESC LIMIT ?5"#,
        account,
        party,
        state,
        after,
        fetch,
        wanted,
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    hold_page(rows, limit)
}

/// The deadlines are RFC 3339 text with one offset, which compares like the instants (see the
/// idempotency cleanup in the migrations); the sweep re-checks each hold anyway.
pub(crate) async fn due_holds(
    pool: &SqlitePool,
    now: Timestamp,
    limit: PageLimit,
) -> Result<Vec<DueHold>, StoreError> {
    let now = now.as_datetime();
    let limit = i64::from(limit.get());
    let rows = sqlx::query!(
        r#"SELECT id AS "id!: uuid::Uuid", payment_id AS "payment_id: uuid::Uuid" FROM holds
           WHERE state = 'held' AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2"#,
        now,
        limit,
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
    connection: &mut SqliteConnection,
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
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
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
            "UPDATE holds SET state = ?2, posted_amount = ?3, released_amount = ?4, \
             updated_at = ?5 WHERE id = ?1",
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
