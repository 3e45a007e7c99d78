//! `/v1/payments`: create, authorize (hold), capture, cancel, fail, refund, and read.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::TimeDelta;
use coffre_domain::access::{self, PaymentParties};
use coffre_domain::audit::ResourceType;
use coffre_domain::ids::{AccountId, HoldId, PaymentId, TransferId};
use coffre_domain::ledger::Action;
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Amount, AmountText, Currency, Money};
use coffre_domain::payment::{AuthorizationCode, FailureReason};
use coffre_domain::relabel::Labelled;
use coffre_store::PaymentRecord;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::bodies::{PaymentBody, TransferBody};
use super::command::{Command, KeyOptional, KeyRequired, KeyRule, NoBody};
use super::listing::{ListBody, PartyListQuery, answer_page, page_limit, party_filter};
use super::reads::{Item, Read, audit_read};
use super::relabel::{RelabelBody, relabel};
use crate::auth::caller::{Bearer, Caller};
use crate::error::ApiError;
use crate::extract::{FilteredQuery, Json};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/payments", post(create).get(list))
        .route("/v1/payments/{id}", get(read).patch(update))
        .route("/v1/payments/{id}/authorize", post(authorize))
        .route("/v1/payments/{id}/capture", post(capture))
        .route("/v1/payments/{id}/cancel", post(cancel))
        .route("/v1/payments/{id}/fail", post(fail))
        .route("/v1/payments/{id}/refunds", post(refund))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreatePaymentRequest)]
pub(crate) struct CreateBody {
    #[schema(value_type = String, format = Uuid)]
    payer_account_id: AccountId,
    #[schema(value_type = String, format = Uuid)]
    payee_account_id: AccountId,
    #[schema(schema_with = super::openapi::amount)]
    amount: AmountText,
    #[schema(schema_with = super::openapi::currency)]
    currency: String,
    #[schema(schema_with = super::openapi::metadata)]
    metadata: Option<Metadata>,
}

#[utoipa::path(
    post,
    path = "/v1/payments",
    operation_id = "createPayment",
    tag = "payments",
    summary = "Create a payment (payer's owner)",
    params(KeyRequired),
    request_body = CreateBody,
    responses(
        (status = 201, description = "The pending payment", body = PaymentBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
        (status = 422, description = "SAME_ACCOUNT, CURRENCY_MISMATCH"),
    ),
    security(("bearer" = [])),
)]
async fn create(
    State(state): State<AppState>,
    command: Command<CreateBody, KeyRequired>,
) -> Result<Response, ApiError> {
    command
        .submit(&state, StatusCode::CREATED, |body, _| {
            let currency = Currency::parse(&body.currency)
                .map_err(|error| ApiError::ValidationFailed(format!("currency: {error}")))?;
            let amount = body
                .amount
                .parse(currency)
                .map_err(|error| ApiError::ValidationFailed(format!("amount: {error}")))?;
            Ok(Action::CreatePayment {
                id: PaymentId::new(),
                payer: body.payer_account_id,
                payee: body.payee_account_id,
                money: Money { amount, currency },
                metadata: body.metadata.unwrap_or_default(),
            })
        })
        .await
}

fn payment_id(text: &str) -> Result<PaymentId, ApiError> {
    text.parse().map_err(|_| ApiError::PaymentNotFound)
}

/// 16 random bytes in hex: unguessable (the same generator as refresh tokens), and nothing
/// else.
fn authorization_code() -> AuthorizationCode {
    let bytes: [u8; 16] = rand::random();
    AuthorizationCode::new(hex_upper(&bytes))
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02X}")).collect()
}

#[utoipa::path(
    post,
    path = "/v1/payments/{id}/authorize",
    operation_id = "authorizePayment",
    tag = "payments",
    summary = "Hold the amount (payer's owner)",
    params(super::openapi::PathId, KeyOptional),
    responses(
        (status = 200, description = "The authorized payment", body = PaymentBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "PAYMENT_NOT_FOUND"),
        (status = 409, description = "INVALID_STATE"),
        (status = 422, description = "ACCOUNT_FROZEN, INSUFFICIENT_FUNDS"),
    ),
    security(("bearer" = [])),
)]
async fn authorize(
    State(state): State<AppState>,
    command: Command<NoBody>,
) -> Result<Response, ApiError> {
    let ttl_secs = i64::try_from(state.settings().authorization_ttl_secs).unwrap_or(i64::MAX);
    command
        .submit(&state, StatusCode::OK, |NoBody, id| {
            Ok(Action::Authorize {
                payment_id: payment_id(id)?,
                hold_id: HoldId::new(),
                code: authorization_code(),
                ttl: TimeDelta::try_seconds(ttl_secs).unwrap_or(TimeDelta::MAX),
            })
        })
        .await
}

/// `{amount?}`: an optional amount, in the payment's (or hold's) currency.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AmountRequest)]
pub(crate) struct AmountBody {
    /// Default: all that the transition allows.
    #[schema(schema_with = super::openapi::optional_amount)]
    pub(super) amount: Option<AmountText>,
}

/// Parses an optional amount at the payment's scale. The currency is read from the payment,
/// which never changes it; a payment the caller may not see answers as the engine would. That
/// check needs the caller's role, so an amount costs a session read before the batch.
async fn amount_of(
    state: &AppState,
    bearer: &Bearer,
    id: PaymentId,
    amount: Option<AmountText>,
) -> Result<Option<Amount>, ApiError> {
    let Some(amount) = amount else {
        return Ok(None);
    };
    let caller = bearer.authenticate(state).await?;
    let record = visible(state, &caller, id).await?;
    let currency = record.payment.terms().money.currency;
    amount
        .parse(currency)
        .map(Some)
        .map_err(|error| ApiError::ValidationFailed(format!("amount: {error}")))
}

/// A capture or a refund: the payment, then its optional amount, which needs the session.
async fn move_amount<K: KeyRule>(
    state: &AppState,
    command: Command<AmountBody, K>,
    success: StatusCode,
    action: impl FnOnce(PaymentId, Option<Amount>) -> Action,
) -> Result<Response, ApiError> {
    let (ready, (payment_id, amount)) = command
        .prepare(state, |body, id| Ok((payment_id(id)?, body.amount)))
        .await?;
    let amount = amount_of(state, ready.bearer(), payment_id, amount).await?;
    ready
        .submit(state, action(payment_id, amount), success)
        .await
}

#[utoipa::path(
    post,
    path = "/v1/payments/{id}/capture",
    operation_id = "capturePayment",
    tag = "payments",
    summary = "Capture (payee's owner, admin)",
    params(super::openapi::PathId, KeyOptional),
    request_body(content = Option<AmountBody>, description = "Optional: no body stands for `{}`"),
    responses(
        (status = 200, description = "The captured payment", body = PaymentBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "PAYMENT_NOT_FOUND"),
        (status = 409, description = "INVALID_STATE"),
        (status = 422, description = "AMOUNT_EXCEEDS_AUTHORIZED, ACCOUNT_FROZEN"),
    ),
    security(("bearer" = [])),
)]
async fn capture(
    State(state): State<AppState>,
    command: Command<AmountBody>,
) -> Result<Response, ApiError> {
    let action = |payment_id, amount| Action::Capture {
        payment_id,
        transfer_id: TransferId::new(),
        amount,
    };
    move_amount(&state, command, StatusCode::OK, action).await
}

#[utoipa::path(
    post,
    path = "/v1/payments/{id}/cancel",
    operation_id = "cancelPayment",
    tag = "payments",
    summary = "Cancel (either party's owner, manager+)",
    params(super::openapi::PathId, KeyOptional),
    responses(
        (status = 200, description = "The canceled payment", body = PaymentBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "PAYMENT_NOT_FOUND"),
        (status = 409, description = "INVALID_STATE"),
    ),
    security(("bearer" = [])),
)]
async fn cancel(
    State(state): State<AppState>,
    command: Command<NoBody>,
) -> Result<Response, ApiError> {
    command
        .submit(&state, StatusCode::OK, |NoBody, id| {
            Ok(Action::CancelPayment {
                payment_id: payment_id(id)?,
            })
        })
        .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FailPaymentRequest)]
pub(crate) struct FailBody {
    #[schema(schema_with = super::openapi::failure_reason)]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/v1/payments/{id}/fail",
    operation_id = "failPayment",
    tag = "payments",
    summary = "Fail a pending payment (manager+)",
    params(super::openapi::PathId, KeyOptional),
    request_body = FailBody,
    responses(
        (status = 200, description = "The failed payment", body = PaymentBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "PAYMENT_NOT_FOUND"),
        (status = 409, description = "INVALID_STATE"),
    ),
    security(("bearer" = [])),
)]
async fn fail(
    State(state): State<AppState>,
    command: Command<FailBody>,
) -> Result<Response, ApiError> {
    command
        .submit(&state, StatusCode::OK, |body, id| {
            let reason = FailureReason::parse(body.reason)
                .map_err(|error| ApiError::ValidationFailed(format!("reason {error}")))?;
            Ok(Action::FailPayment {
                payment_id: payment_id(id)?,
                reason,
            })
        })
        .await
}

#[utoipa::path(
    post,
    path = "/v1/payments/{id}/refunds",
    operation_id = "refundPayment",
    tag = "payments",
    summary = "Refund (payee's owner, admin)",
    params(super::openapi::PathId, KeyRequired),
    request_body(content = Option<AmountBody>, description = "Optional: no body stands for `{}`"),
    responses(
        (status = 201, description = "The refund transfer", body = TransferBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "PAYMENT_NOT_FOUND"),
        (status = 409, description = "INVALID_STATE"),
        (status = 422, description = "AMOUNT_EXCEEDS_REFUNDABLE, ACCOUNT_FROZEN, INSUFFICIENT_FUNDS"),
    ),
    security(("bearer" = [])),
)]
async fn refund(
    State(state): State<AppState>,
    command: Command<AmountBody, KeyRequired>,
) -> Result<Response, ApiError> {
    let action = |payment_id, amount| Action::Refund {
        payment_id,
        transfer_id: TransferId::new(),
        amount,
    };
    move_amount(&state, command, StatusCode::CREATED, action).await
}

fn parties(record: &PaymentRecord) -> PaymentParties {
    PaymentParties {
        payer_owner: record.payer_owner,
        payee_owner: record.payee_owner,
    }
}

/// The payment if the caller may see it: anything else is PAYMENT_NOT_FOUND.
async fn visible(
    state: &AppState,
    caller: &Caller,
    id: PaymentId,
) -> Result<PaymentRecord, ApiError> {
    let record = state
        .store()
        .find_payment(id)
        .await?
        .ok_or(ApiError::PaymentNotFound)?;
    access::read_payment(&caller.actor(), &parties(&record))
        .map_err(|_| ApiError::PaymentNotFound)?;
    Ok(record)
}

fn item(record: &PaymentRecord) -> Item {
    Item {
        id: record.payment.terms().id.to_string(),
        owners: vec![record.payer_owner, record.payee_owner],
    }
}

#[utoipa::path(
    get,
    path = "/v1/payments/{id}",
    operation_id = "getPayment",
    tag = "payments",
    summary = "Read a payment",
    params(super::openapi::PathId),
    responses(
        (status = 200, description = "The payment", body = PaymentBody),
        (status = 404, description = "PAYMENT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PaymentBody>, ApiError> {
    let record = visible(&state, &caller, payment_id(&id)?).await?;
    audit_read(
        &state,
        &caller,
        ResourceType::Payment,
        Read::One(item(&record)),
    )
    .await?;
    Ok(Json(PaymentBody::from(&record.payment.view())))
}

#[utoipa::path(
    patch,
    path = "/v1/payments/{id}",
    operation_id = "updatePayment",
    tag = "payments",
    summary = "Change a payment's metadata (the payer's owner, admin)",
    params(super::openapi::PathId),
    request_body = RelabelBody,
    responses(
        (status = 200, description = "The payment", body = PaymentBody),
        (status = 403, description = "INSUFFICIENT_PERMISSIONS"),
        (status = 404, description = "PAYMENT_NOT_FOUND"),
        (status = 422, description = "VALIDATION_FAILED"),
    ),
    security(("bearer" = [])),
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RelabelBody>,
) -> Result<Json<PaymentBody>, ApiError> {
    let parsed: PaymentId = id.parse().map_err(|_| ApiError::PaymentNotFound)?;
    relabel(
        &state,
        &caller,
        Labelled::Payment(parsed),
        body,
        ApiError::PaymentNotFound,
    )
    .await?;
    read(State(state), caller, Path(id)).await
}

#[utoipa::path(
    get,
    path = "/v1/payments",
    operation_id = "listPayments",
    tag = "payments",
    summary = "List payments",
    params(PartyListQuery<PaymentId>, super::openapi::MetadataFilterParam),
    responses(
        (status = 200, description = "A page of payments", body = super::openapi::PaymentList),
        (status = 404, description = "ACCOUNT_NOT_FOUND"),
    ),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    FilteredQuery {
        params: query,
        metadata,
    }: FilteredQuery<PartyListQuery<PaymentId>>,
) -> Result<Json<ListBody<PaymentBody>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let filter = party_filter(&state, &caller, query.account_id).await?;
    let page = state
        .store()
        .list_payments(filter, &metadata, limit, query.starting_after)
        .await?;
    answer_page(
        &state,
        &caller,
        ResourceType::Payment,
        page,
        item,
        |record| PaymentBody::from(&record.payment.view()),
    )
    .await
}
