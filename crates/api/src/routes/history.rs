//! An account's past: `GET /v1/accounts/{id}/balance?as_of=` and
//! `GET /v1/accounts/{id}/statement`, the latter as JSON pages or, with `Accept: text/csv`,
//! as one CSV streamed a page at a time.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use coffre_domain::audit::ResourceType;
use coffre_domain::ids::EntryId;
use coffre_domain::ledger::{Account, Entry};
use coffre_domain::time::Timestamp;
use coffre_store::{PageLimit, PointInTime, StoreError, Window};
use futures_util::stream::{self, StreamExt};
use http::{HeaderMap, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accounts::{item, readable};
use super::bodies::EntryBody;
use super::listing::page_limit;
use super::reads::{Read, audit_read};
use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/accounts/{id}/balance", get(balance))
        .route("/v1/accounts/{id}/statement", get(statement))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct BalanceQuery {
    /// RFC 3339; the balance after every line written at or before it. Default: now.
    #[param(value_type = Option<String>, format = DateTime)]
    as_of: Option<Timestamp>,
}

/// `{balance, as_of, last_entry_id}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BalanceAsOf)]
pub(crate) struct BalanceBody {
    #[schema(example = "12.50")]
    balance: String,
    #[schema(value_type = String, format = DateTime)]
    as_of: Timestamp,
    /// The newest line by then; null when the account had none.
    #[schema(value_type = Option<String>, format = Uuid)]
    last_entry_id: Option<EntryId>,
}

#[utoipa::path(
    get,
    path = "/v1/accounts/{id}/balance",
    operation_id = "getAccountBalance",
    tag = "accounts",
    summary = "An account's balance at a point in time, from its ledger lines",
    params(super::openapi::PathId, BalanceQuery),
    responses(
        (status = 200, description = "The balance as of the instant", body = BalanceBody),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn balance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<BalanceQuery>,
) -> Result<Json<BalanceBody>, ApiError> {
    let as_of = query.as_of.unwrap_or_else(Timestamp::now);
    let account = readable(&state, &caller, &id).await?;
    let balance = state
        .store()
        .balance_at(account.id, PointInTime::AtOrBefore(as_of))
        .await?;
    audit_read(
        &state,
        &caller,
        ResourceType::AccountBalance,
        Read::One(item(&account)),
    )
    .await?;
    Ok(Json(BalanceBody {
        balance: balance.balance.format(account.currency),
        as_of,
        last_entry_id: balance.last_entry_id,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatementQuery {
    /// RFC 3339, inclusive. Default: the beginning.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<Timestamp>,
    /// RFC 3339, exclusive; after `from`. Default: now.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<Timestamp>,
    /// 1 to 100, default 20 (JSON only: a CSV holds the whole window).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// The id of the last line of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    starting_after: Option<EntryId>,
}

/// A statement: the balances around the window, its totals, and a page of its lines, oldest
/// first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Statement)]
pub(crate) struct StatementBody {
    #[schema(value_type = String, format = DateTime)]
    from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    to: Timestamp,
    /// The balance before the window's first line.
    opening_balance: String,
    /// The balance after its last line: opening + credits − debits.
    closing_balance: String,
    /// The sum of the window's outgoing lines, as a positive amount.
    total_debits: String,
    /// The sum of its incoming lines.
    total_credits: String,
    entries: Vec<EntryBody>,
    /// More lines follow this page (ask again with `starting_after`).
    has_more: bool,
}

/// The lines of a CSV statement fetched per query: few round trips, bounded memory.
const CSV_PAGE_ROWS: u8 = PageLimit::MAX;

#[utoipa::path(
    get,
    path = "/v1/accounts/{id}/statement",
    operation_id = "getAccountStatement",
    tag = "accounts",
    summary = "An account's statement over a window: opening and closing balances, totals, lines",
    params(super::openapi::PathId, StatementQuery),
    responses(
        (status = 200, description = "The statement (or, with `Accept: text/csv`, its lines as CSV)",
         body = StatementBody),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn statement(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<StatementQuery>,
) -> Result<Response, ApiError> {
    let limit = page_limit(query.limit)?;
    let window = Window {
        from: query
            .from
            .unwrap_or_else(|| Timestamp::from_datetime(chrono::DateTime::UNIX_EPOCH)),
        to: query.to.unwrap_or_else(Timestamp::now),
    };
    if window.from >= window.to {
        return Err(ApiError::ValidationFailed("from must be before to".into()));
    }
    let account = readable(&state, &caller, &id).await?;
    audit_read(
        &state,
        &caller,
        ResourceType::AccountStatement,
        Read::One(item(&account)),
    )
    .await?;
    if wants_csv(&headers) {
        return Ok(csv(state, account, window, query.starting_after));
    }
    let store = state.store();
    let opening = store
        .balance_at(account.id, PointInTime::Before(window.from))
        .await?;
    let totals = store.window_totals(account.id, window).await?;
    let page = store
        .window_entries(account.id, window, limit, query.starting_after)
        .await?;
    let closing = opening
        .balance
        .checked_add(totals.credits)
        .and_then(|balance| balance.checked_sub(totals.debits))
        .ok_or_else(|| {
            ApiError::Store(StoreError::Internal(
                "a statement's closing balance is out of range".into(),
            ))
        })?;
    let currency = account.currency;
    Ok(Json(StatementBody {
        from: window.from,
        to: window.to,
        opening_balance: opening.balance.format(currency),
        closing_balance: closing.format(currency),
        total_debits: totals.debits.format(currency),
        total_credits: totals.credits.format(currency),
        entries: page.data.iter().map(EntryBody::from).collect(),
        has_more: page.has_more,
    })
    .into_response())
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("text/csv"))
        })
}

/// The window's lines as CSV, read and sent a page at a time. The status is sent before the
/// first page is read: a store failure later cuts the body short (and is logged), which a
/// client sees as a truncated download rather than a complete-looking file.
fn csv(
    state: AppState,
    account: Account,
    window: Window,
    starting_after: Option<EntryId>,
) -> Response {
    let header = Bytes::from_static(b"id,transfer_id,amount,balance_after,created_at\n");
    let pages = stream::try_unfold(Some(starting_after), move |cursor| {
        let state = state.clone();
        async move {
            let Some(after) = cursor else {
                return Ok(None);
            };
            let limit = PageLimit::new(u64::from(CSV_PAGE_ROWS)).unwrap_or_default();
            let page = state
                .store()
                .window_entries(account.id, window, limit, after)
                .await
                .inspect_err(|error| tracing::error!(%error, "a CSV statement was cut short"))?;
            let next = if page.has_more {
                page.data.last().map(|entry| Some(entry.id))
            } else {
                None
            };
            Ok::<_, StoreError>(Some((csv_rows(&page.data), next)))
        }
    });
    let body = stream::once(async move { Ok::<_, StoreError>(header) }).chain(pages);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"statement-{}.csv\"", account.id),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

fn csv_rows(entries: &[Entry]) -> Bytes {
    let mut rows = String::new();
    for entry in entries {
        // Every field is an id, an amount or a timestamp: none needs quoting.
        rows.push_str(&format!(
            "{},{},{},{},{}\n",
            entry.id,
            entry.transfer_id,
            entry.amount.format(entry.currency),
            entry.balance_after.format(entry.currency),
            entry.created_at.to_rfc3339(),
        ));
    }
    Bytes::from(rows)
}
