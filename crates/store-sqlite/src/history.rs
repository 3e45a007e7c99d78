//! An account's past from its ledger lines, each read one range of the
//! `(account_id, created_at, id)` index. Times are stored as RFC 3339 text in UTC, which sorts
//! as the instants do.

use coffre_domain::ids::{AccountId, EntryId};
use coffre_domain::ledger::Entry;
use coffre_domain::money::SignedMinor;
use coffre_store::{
    BalanceAt, EntryRow, Page, PageLimit, PointInTime, StoreError, Window, WindowTotals,
};
use sqlx::SqlitePool;

use crate::error::{internal, map_error};

type DateTime = chrono::DateTime<chrono::Utc>;

pub(crate) async fn balance_at(
    pool: &SqlitePool,
    account: AccountId,
    at: PointInTime,
) -> Result<BalanceAt, StoreError> {
    let (instant, with_instant) = match at {
        PointInTime::AtOrBefore(instant) => (instant, true),
        PointInTime::Before(instant) => (instant, false),
    };
    let account = account.as_uuid();
    let instant = instant.as_datetime();
    let newest = sqlx::query!(
        r#"SELECT id AS "id!: uuid::Uuid", balance_after AS "balance_after!"
           FROM ledger_lines
           WHERE account_id = ?1 AND created_at <= ?2 AND (?3 OR created_at < ?2)
           ORDER BY created_at DESC, id DESC LIMIT 1"#,
        account,
        instant,
        with_instant,
    )
    .fetch_optional(pool)
    .await
    .map_err(map_error)?;
    Ok(newest.map_or(BalanceAt::NO_LINES, |line| BalanceAt {
        balance: SignedMinor::new(line.balance_after),
        last_entry_id: Some(EntryId::from_uuid(line.id)),
    }))
}

pub(crate) async fn window_totals(
    pool: &SqlitePool,
    account: AccountId,
    window: Window,
) -> Result<WindowTotals, StoreError> {
    let account = account.as_uuid();
    let from = window.from.as_datetime();
    let to = window.to.as_datetime();
    // SQLite's SUM of integers fails with "integer overflow" rather than wrapping.
    let totals = sqlx::query!(
        r#"SELECT COALESCE(SUM(CASE WHEN amount < 0 THEN -amount END), 0) AS "debits!: i64",
                  COALESCE(SUM(CASE WHEN amount > 0 THEN amount END), 0) AS "credits!: i64"
           FROM ledger_lines
           WHERE account_id = ?1 AND created_at >= ?2 AND created_at < ?3"#,
        account,
        from,
        to,
    )
    .fetch_one(pool)
    .await
    .map_err(map_error)?;
    Ok(WindowTotals {
        debits: SignedMinor::new(totals.debits),
        credits: SignedMinor::new(totals.credits),
    })
}

pub(crate) async fn window_entries(
    pool: &SqlitePool,
    account: AccountId,
    window: Window,
    limit: PageLimit,
    starting_after: Option<EntryId>,
) -> Result<Page<Entry>, StoreError> {
    let account = account.as_uuid();
    let from = window.from.as_datetime();
    let to = window.to.as_datetime();
    let after = starting_after.map(|id| id.as_uuid());
    let fetch = limit.rows_to_fetch();
    let rows = sqlx::query_as!(
        EntryRow,
        r#"SELECT line.id AS "id!: uuid::Uuid", line.transfer_id AS "transfer_id!: uuid::Uuid",
                  line.account_id AS "account_id!: uuid::Uuid", line.amount AS "amount!",
                  line.balance_after AS "balance_after!", account.currency AS "currency!",
                  line.created_at AS "created_at!: DateTime"
           FROM ledger_lines line JOIN accounts account ON account.id = line.account_id
           WHERE line.account_id = ?1 AND line.created_at >= ?2 AND line.created_at < ?3
             AND (?4 IS NULL OR (line.created_at, line.id) >
                  (SELECT after.created_at, after.id FROM ledger_lines after
                   WHERE after.id = ?4 AND after.account_id = ?1))
           ORDER BY line.created_at, line.id LIMIT ?5"#,
        account,
        from,
        to,
        after,
        fetch,
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    EntryRow::into_page(rows, limit).map_err(internal)
}
