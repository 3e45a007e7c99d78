//! `GET /openapi.json`: the OpenAPI 3.1 document of every endpoint of API.md, with its request
//! and response schemas (derived from the very structs the handlers use) and every error it can
//! answer. The operations are one table below; the errors each one shares with others (tokens,
//! bodies, keys, limits, the database) are added by rule, so no operation forgets them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, Required,
    ResponseBuilder,
};

use super::auth::{Credentials, RefreshBody, TokenPair, UserBody};
use super::bodies::{AccountBody, EntryBody, PaymentBody, TransferBody};
use super::health::Status;
use super::ledger::ReportBody;
use crate::code::ErrorCode;
use crate::extract::Json;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(serve))
}

async fn serve() -> Response {
    static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();
    Json(DOCUMENT.get_or_init(document)).into_response()
}

/// Every error answer: `{"error": {code, message, request_id}}`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct ErrorBody {
    code: ErrorCode,
    message: String,
    request_id: String,
}

/// One audit event (`coffre_domain::audit::AuditEvent` as it is served).
#[derive(ToSchema)]
#[allow(dead_code)]
struct AuditEvent {
    #[schema(format = Uuid)]
    id: String,
    seq: i64,
    #[schema(format = DateTime)]
    occurred_at: String,
    #[schema(format = Uuid)]
    actor_id: Option<String>,
    #[schema(example = "TRANSFER")]
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    old_value: Option<()>,
    #[schema(value_type = Option<Object>)]
    new_value: Option<()>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    /// Hex SHA-256 of the previous event.
    prev_hash: String,
    /// Hex SHA-256 of `prev_hash` and this event's canonical bytes.
    hash: String,
}

/// `GET /v1/audit-events/verify`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ChainReport {
    ok: bool,
    events_checked: u64,
    first_bad_seq: Option<i64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    None,
    Optional,
    Required,
}

#[derive(Clone, Copy)]
enum Reply {
    Nothing,
    One(&'static str),
    List(&'static str),
}

#[derive(Clone, Copy)]
enum Param {
    /// `{id}` in the path.
    Id,
    /// `?limit=` and `?starting_after=`.
    Page,
    /// A query filter naming an id.
    IdFilter(&'static str),
    /// A query filter of free text.
    TextFilter(&'static str),
}

struct Op {
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    auth: bool,
    body: Option<(&'static str, bool)>,
    key: Key,
    ok: (u16, Reply),
    params: &'static [Param],
    errors: &'static [ErrorCode],
}

use ErrorCode as E;
use HttpMethod::{Get, Patch, Post};

const PAGE: &[Param] = &[Param::Page];
const ID: &[Param] = &[Param::Id];
const ID_PAGE: &[Param] = &[Param::Id, Param::Page];

#[rustfmt::skip]
const OPERATIONS: &[Op] = &[
    Op { method: Get, path: "/healthz", summary: "The process runs", auth: false, body: None, key: Key::None, ok: (200, Reply::One("Status")), params: &[], errors: &[] },
    Op { method: Get, path: "/readyz", summary: "The database answers", auth: false, body: None, key: Key::None, ok: (200, Reply::One("Status")), params: &[], errors: &[] },
    Op { method: Get, path: "/openapi.json", summary: "This document", auth: false, body: None, key: Key::None, ok: (200, Reply::Nothing), params: &[], errors: &[] },
    Op { method: Post, path: "/v1/auth/register", summary: "Register a user", auth: false, body: Some(("Credentials", true)), key: Key::None, ok: (201, Reply::One("UserBody")), params: &[], errors: &[E::EmailTaken] },
    Op { method: Post, path: "/v1/auth/login", summary: "Log in", auth: false, body: Some(("Credentials", true)), key: Key::None, ok: (200, Reply::One("TokenPair")), params: &[], errors: &[E::InvalidCredentials] },
    Op { method: Post, path: "/v1/auth/refresh", summary: "Rotate the refresh token", auth: false, body: Some(("RefreshBody", true)), key: Key::None, ok: (200, Reply::One("TokenPair")), params: &[], errors: &[E::InvalidToken, E::RefreshTokenReused] },
    Op { method: Post, path: "/v1/auth/logout", summary: "Revoke the session", auth: true, body: None, key: Key::None, ok: (204, Reply::Nothing), params: &[], errors: &[] },
    Op { method: Get, path: "/v1/me", summary: "The caller", auth: true, body: None, key: Key::None, ok: (200, Reply::One("UserBody")), params: &[], errors: &[] },
    Op { method: Get, path: "/v1/users", summary: "List users (manager+)", auth: true, body: None, key: Key::None, ok: (200, Reply::List("UserBody")), params: PAGE, errors: &[E::InsufficientPermissions] },
    Op { method: Patch, path: "/v1/users/{id}", summary: "Change a role or disable (admin)", auth: true, body: Some(("UpdateBody", true)), key: Key::None, ok: (200, Reply::One("UserBody")), params: ID, errors: &[E::InsufficientPermissions, E::UserNotFound, E::LastAdmin] },
    Op { method: Post, path: "/v1/accounts", summary: "Open an account", auth: true, body: Some(("OpenBody", true)), key: Key::Optional, ok: (201, Reply::One("AccountBody")), params: &[], errors: &[E::InsufficientPermissions, E::UserNotFound] },
    Op { method: Get, path: "/v1/accounts", summary: "List accounts", auth: true, body: None, key: Key::None, ok: (200, Reply::List("AccountBody")), params: &[Param::Page, Param::IdFilter("owner_id")], errors: &[] },
    Op { method: Get, path: "/v1/accounts/{id}", summary: "Read an account", auth: true, body: None, key: Key::None, ok: (200, Reply::One("AccountBody")), params: ID, errors: &[E::AccountNotFound] },
    Op { method: Get, path: "/v1/accounts/{id}/entries", summary: "An account's ledger lines", auth: true, body: None, key: Key::None, ok: (200, Reply::List("EntryBody")), params: ID_PAGE, errors: &[E::AccountNotFound] },
    Op { method: Post, path: "/v1/accounts/{id}/freeze", summary: "Freeze (manager+)", auth: true, body: None, key: Key::Optional, ok: (200, Reply::One("AccountBody")), params: ID, errors: &[E::InsufficientPermissions, E::AccountNotFound] },
    Op { method: Post, path: "/v1/accounts/{id}/unfreeze", summary: "Unfreeze (manager+)", auth: true, body: None, key: Key::Optional, ok: (200, Reply::One("AccountBody")), params: ID, errors: &[E::InsufficientPermissions, E::AccountNotFound] },
    Op { method: Post, path: "/v1/transfers", summary: "Move money between accounts", auth: true, body: Some(("TransferRequest", true)), key: Key::Required, ok: (201, Reply::One("TransferBody")), params: &[], errors: &[E::InsufficientPermissions, E::AccountNotFound, E::SameAccount, E::CurrencyMismatch, E::AccountFrozen, E::InsufficientFunds] },
    Op { method: Get, path: "/v1/transfers", summary: "List transfers", auth: true, body: None, key: Key::None, ok: (200, Reply::List("TransferBody")), params: &[Param::Page, Param::IdFilter("account_id")], errors: &[E::AccountNotFound] },
    Op { method: Get, path: "/v1/transfers/{id}", summary: "Read a transfer", auth: true, body: None, key: Key::None, ok: (200, Reply::One("TransferBody")), params: ID, errors: &[E::TransferNotFound] },
    Op { method: Post, path: "/v1/deposits", summary: "Deposit (admin)", auth: true, body: Some(("AccountMovement", true)), key: Key::Required, ok: (201, Reply::One("TransferBody")), params: &[], errors: &[E::InsufficientPermissions, E::AccountNotFound, E::CurrencyMismatch, E::AccountFrozen] },
    Op { method: Post, path: "/v1/withdrawals", summary: "Withdraw (owner, admin)", auth: true, body: Some(("AccountMovement", true)), key: Key::Required, ok: (201, Reply::One("TransferBody")), params: &[], errors: &[E::InsufficientPermissions, E::AccountNotFound, E::CurrencyMismatch, E::AccountFrozen, E::InsufficientFunds] },
    Op { method: Post, path: "/v1/payments", summary: "Create a payment (payer's owner)", auth: true, body: Some(("CreateBody", true)), key: Key::Required, ok: (201, Reply::One("PaymentBody")), params: &[], errors: &[E::InsufficientPermissions, E::AccountNotFound, E::SameAccount, E::CurrencyMismatch] },
    Op { method: Get, path: "/v1/payments", summary: "List payments", auth: true, body: None, key: Key::None, ok: (200, Reply::List("PaymentBody")), params: &[Param::Page, Param::IdFilter("account_id")], errors: &[E::AccountNotFound] },
    Op { method: Get, path: "/v1/payments/{id}", summary: "Read a payment", auth: true, body: None, key: Key::None, ok: (200, Reply::One("PaymentBody")), params: ID, errors: &[E::PaymentNotFound] },
    Op { method: Post, path: "/v1/payments/{id}/authorize", summary: "Hold the amount (payer's owner)", auth: true, body: None, key: Key::Optional, ok: (200, Reply::One("PaymentBody")), params: ID, errors: &[E::InsufficientPermissions, E::PaymentNotFound, E::InvalidState, E::AccountFrozen, E::InsufficientFunds] },
    Op { method: Post, path: "/v1/payments/{id}/capture", summary: "Capture (payee's owner, admin)", auth: true, body: Some(("AmountBody", false)), key: Key::Optional, ok: (200, Reply::One("PaymentBody")), params: ID, errors: &[E::InsufficientPermissions, E::PaymentNotFound, E::InvalidState, E::AmountExceedsAuthorized, E::AccountFrozen] },
    Op { method: Post, path: "/v1/payments/{id}/cancel", summary: "Cancel (either party's owner, manager+)", auth: true, body: None, key: Key::Optional, ok: (200, Reply::One("PaymentBody")), params: ID, errors: &[E::InsufficientPermissions, E::PaymentNotFound, E::InvalidState] },
    Op { method: Post, path: "/v1/payments/{id}/fail", summary: "Fail a pending payment (manager+)", auth: true, body: Some(("FailBody", true)), key: Key::Optional, ok: (200, Reply::One("PaymentBody")), params: ID, errors: &[E::InsufficientPermissions, E::PaymentNotFound, E::InvalidState] },
    Op { method: Post, path: "/v1/payments/{id}/refunds", summary: "Refund (payee's owner, admin)", auth: true, body: Some(("AmountBody", false)), key: Key::Required, ok: (201, Reply::One("TransferBody")), params: ID, errors: &[E::InsufficientPermissions, E::PaymentNotFound, E::InvalidState, E::AmountExceedsRefundable, E::AccountFrozen, E::InsufficientFunds] },
    Op { method: Get, path: "/v1/audit-events", summary: "The audit log (admin)", auth: true, body: None, key: Key::None, ok: (200, Reply::List("AuditEvent")), params: &[Param::Page, Param::IdFilter("actor_id"), Param::TextFilter("resource_type"), Param::TextFilter("resource_id"), Param::TextFilter("action")], errors: &[E::InsufficientPermissions] },
    Op { method: Get, path: "/v1/audit-events/verify", summary: "Check the hash chain (admin)", auth: true, body: None, key: Key::None, ok: (200, Reply::One("ChainReport")), params: &[], errors: &[E::InsufficientPermissions] },
    Op { method: Get, path: "/v1/ledger/verify", summary: "Check the ledger's invariants (admin)", auth: true, body: None, key: Key::None, ok: (200, Reply::One("ReportBody")), params: &[], errors: &[E::InsufficientPermissions] },
];

/// The errors an operation can answer: its own, and those every operation of its kind shares.
fn errors_of(op: &Op) -> Vec<ErrorCode> {
    let mut codes: Vec<ErrorCode> = op.errors.to_vec();
    let v1 = op.path.starts_with("/v1/");
    if v1 {
        codes.push(E::RateLimited);
    }
    if op.auth {
        codes.extend([
            E::MissingToken,
            E::InvalidToken,
            E::TokenExpired,
            E::SessionRevoked,
        ]);
    }
    if op.body.is_some() {
        codes.extend([
            E::MalformedRequest,
            E::PayloadTooLarge,
            E::UnsupportedMediaType,
            E::ValidationFailed,
        ]);
    }
    if op.params.iter().any(|param| !matches!(param, Param::Id)) {
        codes.extend([E::MalformedRequest, E::ValidationFailed]);
    }
    match op.key {
        Key::None => {}
        Key::Optional => codes.extend([
            E::MalformedRequest,
            E::IdempotencyKeyInUse,
            E::IdempotencyKeyReused,
        ]),
        Key::Required => codes.extend([
            E::MalformedRequest,
            E::IdempotencyKeyRequired,
            E::IdempotencyKeyInUse,
            E::IdempotencyKeyReused,
        ]),
    }
    if v1 && op.method == Post {
        codes.push(E::ConcurrentModification);
    }
    codes.extend([E::InternalError, E::ServiceUnavailable]);
    codes
}

fn json_content(
    schema: impl Into<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn list_of(name: &str) -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .property(
            "data",
            ArrayBuilder::new().items(Ref::from_schema_name(name)),
        )
        .required("data")
        .property("has_more", ObjectBuilder::new().schema_type(Type::Boolean))
        .required("has_more")
        .build()
}

fn parameters(param: Param) -> Vec<utoipa::openapi::path::Parameter> {
    let uuid = || {
        ObjectBuilder::new().schema_type(Type::String).format(Some(
            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid),
        ))
    };
    match param {
        Param::Id => vec![
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(uuid()))
                .build(),
        ],
        Param::Page => vec![
            ParameterBuilder::new()
                .name("limit")
                .parameter_in(ParameterIn::Query)
                .description(Some("1 to 100, default 20"))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1))
                        .maximum(Some(100)),
                ))
                .build(),
            ParameterBuilder::new()
                .name("starting_after")
                .parameter_in(ParameterIn::Query)
                .description(Some("the id of the last item of the previous page"))
                .schema(Some(uuid()))
                .build(),
        ],
        Param::IdFilter(name) => vec![
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .schema(Some(uuid()))
                .build(),
        ],
        Param::TextFilter(name) => vec![
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        ],
    }
}

fn operation(op: &Op) -> utoipa::openapi::path::Operation {
    let mut builder = OperationBuilder::new().summary(Some(op.summary));
    for param in op.params {
        builder = builder.parameters(Some(parameters(*param)));
    }
    if op.key != Key::None {
        let required = if op.key == Key::Required {
            Required::True
        } else {
            Required::False
        };
        builder = builder.parameter(
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(required)
                .description(Some(
                    "1 to 255 printable ASCII characters, scoped to the caller",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    if let Some((schema, required)) = op.body {
        let required = if required {
            Required::True
        } else {
            Required::False
        };
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    "application/json",
                    json_content(Ref::from_schema_name(schema)),
                )
                .required(Some(required))
                .build(),
        ));
    }
    if op.auth {
        builder = builder.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
    }
    let (status, reply) = op.ok;
    let ok = ResponseBuilder::new().description("Success");
    let ok = match reply {
        Reply::Nothing => ok,
        Reply::One(name) => ok.content(
            "application/json",
            json_content(Ref::from_schema_name(name)),
        ),
        Reply::List(name) => ok.content("application/json", json_content(list_of(name))),
    };
    builder = builder.response(status.to_string(), ok.build());

    let mut by_status: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    for code in errors_of(op) {
        let codes = by_status.entry(code.status().as_u16()).or_default();
        if !codes.contains(&code.as_str()) {
            codes.push(code.as_str());
        }
    }
    for (status, codes) in by_status {
        builder = builder.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(codes.join(", "))
                .content(
                    "application/json",
                    json_content(Ref::from_schema_name("ErrorEnvelope")),
                )
                .build(),
        );
    }
    builder.build()
}

fn document() -> OpenApi {
    let mut paths = Paths::new();
    for op in OPERATIONS {
        paths.add_path_operation(op.path, vec![op.method.clone()], operation(op));
    }
    let components = ComponentsBuilder::new()
        .schema_from::<ErrorEnvelope>()
        .schema_from::<ErrorBody>()
        .schema_from::<ErrorCode>()
        .schema_from::<AuditEvent>()
        .schema_from::<ChainReport>()
        .schema_from::<Status>()
        .schema_from::<Credentials>()
        .schema_from::<RefreshBody>()
        .schema_from::<TokenPair>()
        .schema_from::<UserBody>()
        .schema_from::<super::users::UpdateBody>()
        .schema_from::<super::accounts::OpenBody>()
        .schema_from::<AccountBody>()
        .schema_from::<EntryBody>()
        .schema_from::<super::transfers::TransferRequest>()
        .schema_from::<super::transfers::AccountMovement>()
        .schema_from::<TransferBody>()
        .schema_from::<super::payments::CreateBody>()
        .schema_from::<super::payments::AmountBody>()
        .schema_from::<super::payments::FailBody>()
        .schema_from::<PaymentBody>()
        .schema_from::<ReportBody>()
        .schema_from::<super::ledger::CurrencySumBody>()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Coffre")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Payments and ledger backend. Amounts are decimal strings at the currency's \
                     scale; every error has the body {\"error\": {code, message, request_id}}.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}
