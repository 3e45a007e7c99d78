//! An account's past from its ledger lines, each read one range of the
//! `(account_id, created_at, id)` index.

use coffre_domain::ids::{AccountId, EntryId};
use coffre_domain::ledger::Entry;
use coffre_domain::money::SignedMinor;
use coffre_store::{
    BalanceAt, EntryRow, Page, PageLimit, PointInTime, StoreError, Window, WindowTotals,
};
use sqlx::PgPool;

use crate::error::{internal, map_error};

pub(crate) async fn balance_at(
    pool: &PgPool,
    account: AccountId,
    at: PointInTime,
) -> Result<BalanceAt, StoreError> {
    let (instant, with_instant) = match at {
        PointInTime::AtOrBefore(instant) => (instant, true),
        PointInTime::Before(instant) => (instant, false),
    };
    let newest = sqlx::query!(
        "SELECT id, balance_after FROM ledger_lines \
         WHERE account_id = $1 AND created_at <= $2 AND ($3 OR created_at < $2) \
         ORDER BY created_at DESC, id DESC LIMIT 1",
        account.as_uuid(),
        instant.as_datetime(),
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
    pool: &PgPool,
    account: AccountId,
    window: Window,
) -> Result<WindowTotals, StoreError> {
    // SUM of bigints is numeric: the cast back fails rather than wraps.
    let totals = sqlx::query!(
        r#"SELECT COALESCE(SUM(-amount) FILTER (WHERE amount < 0), 0)::bigint AS "debits!",
                  COALESCE(SUM(amount) FILTER (WHERE amount > 0), 0)::bigint AS "credits!"
           FROM ledger_lines
           WHERE account_id = $1 AND created_at >= $2 AND created_at < $3"#,
        account.as_uuid(),
        window.from.as_datetime(),
        window.to.as_datetime(),
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
    pool: &PgPool,
    account: AccountId,
    window: Window,
    limit: PageLimit,
    starting_after: Option<EntryId>,
) -> Result<Page<Entry>, StoreError> {
    let rows = sqlx::query_as!(
        EntryRow,
        "SELECT line.id, line.transfer_id, line.account_id, line.amount, line.balance_after, \
                account.currency, line.created_at \
         FROM ledger_lines line JOIN accounts account ON account.id = line.account_id \
         WHERE line.account_id = $1 AND line.created_at >= $2 AND line.created_at < $3 \
           AND ($4::uuid IS NULL OR (line.created_at, line.id) > \
                (SELECT after.created_at, after.id FROM ledger_lines after \
                 WHERE after.id = $4 AND after.account_id = $1)) \
         ORDER BY line.created_at, line.id LIMIT $5",
        account.as_uuid(),
        window.from.as_datetime(),
        window.to.as_datetime(),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    EntryRow::into_page(rows, limit).map_err(internal)
}
