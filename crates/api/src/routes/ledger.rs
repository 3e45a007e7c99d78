//! `GET /v1/ledger/verify`: the ledger's invariants recomputed from its lines, for admins.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use coffre_domain::access;
use coffre_domain::ids::AccountId;
use coffre_domain::ledger::LedgerReport;
use coffre_domain::money::Currency;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::caller::Caller;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/ledger/verify", get(verify))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LedgerReport)]
pub(crate) struct ReportBody {
    ok: bool,
    currencies: Vec<CurrencySumBody>,
    accounts_checked: u64,
    #[schema(value_type = Vec<String>)]
    mismatched_accounts: Vec<AccountId>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CurrencySum)]
pub(crate) struct CurrencySumBody {
    #[schema(value_type = String, example = "EUR")]
    currency: Currency,
    sum: String,
}

impl From<LedgerReport> for ReportBody {
    fn from(report: LedgerReport) -> Self {
        Self {
            ok: report.ok,
            currencies: report
                .currencies
                .iter()
                .map(|sum| CurrencySumBody {
                    currency: sum.currency,
                    sum: sum.sum.format(sum.currency),
                })
                .collect(),
            accounts_checked: report.accounts_checked,
            mismatched_accounts: report.mismatched_accounts,
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/ledger/verify",
    operation_id = "verifyLedger",
    tag = "ledger",
    summary = "Check the ledger's invariants (admin)",
    responses(
        (status = 200, description = "The ledger check", body = ReportBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
    ),
    security(("bearer" = [])),
)]
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ReportBody>, ApiError> {
    access::verify_ledger(&caller.actor())?;
    let report = state.store().verify_ledger().await?;
    Ok(Json(report.into()))
}
