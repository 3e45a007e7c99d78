//! `GET /openapi.json`: the OpenAPI 3.1 document of every endpoint of API.md, derived from the
//! handlers' own `#[utoipa::path]` declarations (operation, tag, parameters, body, success and
//! the errors that are the operation's own) and the very structs they read and answer. The
//! errors an operation shares with others (tokens, bodies, keys, limits, the database) are added
//! here by rule from what it declares, so no operation forgets them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::path::{HttpMethod, Operation, Parameter, ParameterIn};
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{IntoParams, Modify, ToSchema};

use super::auth::UserBody;
use super::bodies::{AccountBody, EntryBody, PaymentBody, TransferBody};
use crate::code::ErrorCode;
use crate::extract::Json;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(serve))
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenApi",
    tag = "operations",
    summary = "This document",
    responses(
        (status = 200, description = "This document"),
    ),
)]
async fn serve() -> Response {
    static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();
    Json(DOCUMENT.get_or_init(document)).into_response()
}

/// The `{id}` of a resource's path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct PathId {
    #[param(value_type = String, format = Uuid)]
    id: String,
}

/// `{"data": [...], "has_more": bool}` of one kind of item, named as a client names it.
macro_rules! list_schema {
    ($name:ident, $item:ty) => {
        /// A page of the list, newest first.
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub(super) struct $name {
            data: Vec<$item>,
            has_more: bool,
        }
    };
}

list_schema!(UserList, UserBody);
list_schema!(AccountList, AccountBody);
list_schema!(EntryList, EntryBody);
list_schema!(TransferList, TransferBody);
list_schema!(PaymentList, PaymentBody);
list_schema!(AuditEventList, AuditEvent);

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
pub(super) struct AuditEvent {
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
pub(super) struct ChainReport {
    ok: bool,
    events_checked: u64,
    first_bad_seq: Option<i64>,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Coffre",
        description = "Payments and ledger backend. Amounts are decimal strings at the currency's \
                       scale; every error has the body {\"error\": {code, message, request_id}}."
    ),
    paths(
        super::health::healthz,
        super::health::readyz,
        serve,
        super::auth::register,
        super::auth::login,
        super::auth::refresh,
        super::auth::logout,
        super::auth::me,
        super::users::list,
        super::users::update,
        super::accounts::open,
        super::accounts::list,
        super::accounts::read,
        super::accounts::entries,
        super::accounts::freeze,
        super::accounts::unfreeze,
        super::transfers::transfer,
        super::transfers::list,
        super::transfers::read,
        super::transfers::deposit,
        super::transfers::withdraw,
        super::payments::create,
        super::payments::list,
        super::payments::read,
        super::payments::authorize,
        super::payments::capture,
        super::payments::cancel,
        super::payments::fail,
        super::payments::refund,
        super::audit::list,
        super::audit::verify,
        super::ledger::verify,
    ),
    components(schemas(ErrorEnvelope, ErrorBody, ErrorCode)),
    modifiers(&SharedErrors),
    tags(
        (name = "operations", description = "Probes and this document"),
        (name = "auth", description = "Registration, tokens and the caller"),
        (name = "users", description = "Users and their roles"),
        (name = "accounts", description = "Accounts and their ledger lines"),
        (name = "transfers", description = "Transfers, deposits and withdrawals"),
        (name = "payments", description = "Payments: hold, capture, cancel, fail, refund"),
        (name = "audit", description = "The audit log and its chain"),
        (name = "ledger", description = "The ledger's invariants"),
    ),
)]
struct Document;

fn document() -> OpenApi {
    <Document as utoipa::OpenApi>::openapi()
}

/// Adds to every operation the errors it shares with others, from what it declares, and the
/// bearer scheme its `security` names; an optional body may be left out, never sent as `null`.
struct SharedErrors;

impl Modify for SharedErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Patch, &mut item.patch),
                (HttpMethod::Put, &mut item.put),
                (HttpMethod::Delete, &mut item.delete),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    add_shared_errors(path, &method, operation);
                    if let Some(body) = operation.request_body.as_mut() {
                        body.content.values_mut().for_each(no_null_body);
                    }
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

use ErrorCode as E;

/// The codes named in an error response's description (`"CODE, CODE"`).
fn declared_codes(description: &str) -> impl Iterator<Item = ErrorCode> + '_ {
    description.split(", ").filter_map(|name| {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
    })
}

/// The errors an operation can answer: its own, and those every operation of its kind shares.
fn errors_of(path: &str, method: &HttpMethod, operation: &Operation) -> Vec<ErrorCode> {
    let mut codes: Vec<ErrorCode> = operation
        .responses
        .responses
        .iter()
        .filter(|(status, _)| !status.starts_with('2'))
        .flat_map(|(_, response)| match response {
            RefOr::T(response) => declared_codes(&response.description).collect(),
            RefOr::Ref(_) => Vec::new(),
        })
        .collect();
    let v1 = path.starts_with("/v1/");
    if v1 {
        codes.push(E::RateLimited);
    }
    if operation
        .security
        .as_ref()
        .is_some_and(|security| !security.is_empty())
    {
        codes.extend([
            E::MissingToken,
            E::InvalidToken,
            E::TokenExpired,
            E::SessionRevoked,
        ]);
    }
    if operation.request_body.is_some() {
        codes.extend([
            E::MalformedRequest,
            E::PayloadTooLarge,
            E::UnsupportedMediaType,
            E::ValidationFailed,
        ]);
    }
    let parameters: &[Parameter] = operation.parameters.as_deref().unwrap_or_default();
    if parameters
        .iter()
        .any(|parameter| parameter.parameter_in == ParameterIn::Query)
    {
        codes.extend([E::MalformedRequest, E::ValidationFailed]);
    }
    if let Some(key) = parameters
        .iter()
        .find(|parameter| parameter.name == "Idempotency-Key")
    {
        codes.push(E::MalformedRequest);
        if key.required == Required::True {
            codes.push(E::IdempotencyKeyRequired);
        }
        codes.extend([E::IdempotencyKeyInUse, E::IdempotencyKeyReused]);
    }
    if v1 && *method == HttpMethod::Post {
        codes.push(E::ConcurrentModification);
    }
    codes.extend([E::InternalError, E::ServiceUnavailable]);
    codes
}

fn add_shared_errors(path: &str, method: &HttpMethod, operation: &mut Operation) {
    let mut by_status: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    for code in errors_of(path, method, operation) {
        let codes = by_status.entry(code.status().as_u16()).or_default();
        if !codes.contains(&code.as_str()) {
            codes.push(code.as_str());
        }
    }
    for (status, codes) in by_status {
        let response = ResponseBuilder::new()
            .description(codes.join(", "))
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .insert(status.to_string(), RefOr::T(response));
    }
}

/// An optional body (`request_body(content = Option<T>)`) may be absent, which stands for `{}`;
/// JSON `null` is not an object and is refused (422), so the schema is `T` alone.
fn no_null_body(content: &mut Content) {
    let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
        return;
    };
    let is_null = |item: &RefOr<Schema>| {
        matches!(item, RefOr::T(Schema::Object(object))
            if object.schema_type == SchemaType::Type(Type::Null))
    };
    let mut rest = one_of.items.iter().filter(|item| !is_null(item));
    if let (Some(only), None) = (rest.next(), rest.next()) {
        content.schema = Some(only.clone());
    }
}
