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
use coffre_domain::audit::AuditAction;
use coffre_domain::event::EventType;
use coffre_domain::hold::HoldState;
use coffre_domain::metadata;
use coffre_domain::money::Currency;
use coffre_domain::user::Role;
use utoipa::openapi::path::{
    HttpMethod, Operation, Parameter, ParameterBuilder, ParameterIn, ParameterStyle,
};
use utoipa::openapi::schema::{
    AllOfBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{IntoParams, Modify, ToSchema};

use super::auth::UserBody;
use super::bodies::{AccountBody, EntryBody, HoldBody, PaymentBody, TransactionBody, TransferBody};
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
list_schema!(TransactionList, TransactionBody);
list_schema!(PaymentList, PaymentBody);
list_schema!(HoldList, HoldBody);
list_schema!(AuditEventList, AuditEvent);
list_schema!(EventList, super::events::EventBody);
list_schema!(WebhookEndpointList, super::webhooks::EndpointBody);
list_schema!(WebhookDeliveryList, super::deliveries::DeliveryBody);

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
    #[schema(format = Uuid, required = true)]
    actor_id: Option<String>,
    #[schema(schema_with = audit_action)]
    action: String,
    resource_type: String,
    #[schema(required = true)]
    resource_id: Option<String>,
    #[schema(value_type = Option<Object>, required = true)]
    old_value: Option<()>,
    #[schema(value_type = Option<Object>, required = true)]
    new_value: Option<()>,
    #[schema(required = true)]
    ip_address: Option<String>,
    #[schema(required = true)]
    user_agent: Option<String>,
    #[schema(required = true)]
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
    #[schema(required = true)]
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
        super::account_update::update,
        super::accounts::entries,
        super::history::balance,
        super::history::statement,
        super::accounts::freeze,
        super::accounts::unfreeze,
        super::transfers::transfer,
        super::transfers::list,
        super::transfers::read,
        super::transfers::update,
        super::transfers::deposit,
        super::transfers::withdraw,
        super::transactions::create,
        super::transactions::list,
        super::transactions::read,
        super::transactions::update,
        super::payments::create,
        super::payments::list,
        super::payments::read,
        super::payments::update,
        super::payments::authorize,
        super::payments::capture,
        super::payments::cancel,
        super::payments::fail,
        super::payments::refund,
        super::holds::create,
        super::holds::list,
        super::holds::read,
        super::holds::update,
        super::holds::post_hold,
        super::holds::void,
        super::audit::list,
        super::audit::verify,
        super::ledger::verify,
        super::events::list,
        super::events::read,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::read,
        super::webhooks::update,
        super::webhooks::delete,
        super::webhooks::rotate,
        super::deliveries::list,
        super::deliveries::redeliver,
    ),
    components(schemas(ErrorEnvelope, ErrorBody, ErrorCode)),
    modifiers(&SharedErrors),
    tags(
        (name = "operations", description = "Probes and this document"),
        (name = "auth", description = "Registration, tokens and the caller"),
        (name = "users", description = "Users and their roles"),
        (name = "accounts", description = "Accounts and their ledger lines"),
        (name = "transfers", description = "Transfers, deposits, withdrawals and transactions"),
        (name = "payments", description = "Payments: hold, capture, cancel, fail, refund"),
        (name = "holds", description = "Holds: money reserved, then posted in parts or released"),
        (name = "audit", description = "The audit log and its chain"),
        (name = "ledger", description = "The ledger's invariants"),
        (name = "events", description = "The event log: every change, as it happened"),
        (name = "webhooks", description = "Webhook endpoints, and the deliveries of events to them"),
    ),
)]
struct Document;

fn document() -> OpenApi {
    <Document as utoipa::OpenApi>::openapi()
}

/// Adds to every operation the errors it shares with others, from what it declares, and the
/// bearer scheme its `security` names; an optional body may be left out, never sent as `null`;
/// a request's amount has at most its currency's decimals.
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
        couple_amounts_to_currencies(openapi);
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

// The constraints the server enforces, written into the schemas, so that a request a schema
// allows is refused for nothing in its shape.

/// Control characters (`char::is_control`), refused in every text.
const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";
/// White space (what `str::trim` removes) that is not a control character: a text must hold
/// something else.
const SPACE: &str = r"\x20\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// `coffre_domain::text::Text<max>`: 1 to `max` characters, not only white space, no control
/// character.
fn text(max: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(format!(
            "^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$"
        )))
}

fn nullable(schema: ObjectBuilder, kind: Type) -> ObjectBuilder {
    schema.schema_type(SchemaType::Array(vec![kind, Type::Null]))
}

/// A metadata map whose values are `value`: at most `max_keys` keys of 1 to 40 characters
/// without `[` or `]`.
fn metadata_map(max_keys: usize, value: ObjectBuilder) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .max_properties(Some(max_keys))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(metadata::MAX_KEY_CHARS))
                .pattern(Some(format!("^[^{CONTROL}\\[\\]]+$"))),
        ))
        .additional_properties(Some(value))
}

fn metadata_value() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(metadata::MAX_VALUE_CHARS))
}

pub(super) fn metadata() -> Object {
    metadata_map(metadata::MAX_KEYS, metadata_value())
        .description(Some(
            "The client's own labels: string keys to string values",
        ))
        .build()
}

pub(super) fn metadata_patch() -> Object {
    metadata_map(
        metadata::MAX_PATCH_KEYS,
        nullable(metadata_value(), Type::String),
    )
    .description(Some(
        "Keys to set to a string, or to remove with null; keys not named stay; at most 50 \
         keys once merged",
    ))
    .build()
}

/// `?metadata[KEY]=VALUE`, repeatable: a list holds only what matches every pair.
pub(super) enum MetadataFilterParam {}

impl IntoParams for MetadataFilterParam {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("metadata")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .style(Some(ParameterStyle::DeepObject))
                .explode(Some(true))
                .description(Some(
                    "metadata[KEY]=VALUE, repeatable: only items whose metadata holds every \
                     pair",
                ))
                .schema(Some(metadata_map(metadata::MAX_KEYS, metadata_value())))
                .build(),
        ]
    }
}

pub(super) fn description() -> Object {
    nullable(text(500), Type::String).build()
}

pub(super) fn account_name() -> Object {
    nullable(text(100), Type::String).build()
}

pub(super) fn failure_reason() -> Object {
    text(200).build()
}

/// A query filter of free text: any, but no control character.
pub(super) fn filter_text() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[^{CONTROL}]*$")))
        .build()
}

pub(super) fn audit_action() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(AuditAction::ALL.map(AuditAction::as_str)))
        .build()
}

pub(super) fn event_type() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(EventType::ALL.map(EventType::as_str)))
        .build()
}

pub(super) fn hold_state() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(HoldState::ALL.map(HoldState::as_str)))
        .build()
}

pub(super) fn role() -> Object {
    nullable(ObjectBuilder::new(), Type::String)
        .enum_values(Some(
            [Role::User, Role::Manager, Role::Admin]
                .map(Role::as_str)
                .into_iter()
                .map(Some)
                .chain([None]),
        ))
        .build()
}

/// Every code `Currency::parse` accepts, with its number of decimals.
fn currencies() -> Vec<(String, u32)> {
    let letters = || b'A'..=b'Z';
    letters()
        .flat_map(|a| letters().flat_map(move |b| letters().map(move |c| [a, b, c])))
        .filter_map(|code| {
            let code = String::from_utf8_lossy(&code).into_owned();
            Currency::parse(&code)
                .ok()
                .map(|currency| (code, currency.minor_units()))
        })
        .collect()
}

pub(super) fn currency() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(currencies().into_iter().map(|(code, _)| code)))
        .build()
}

/// The most decimals any currency has, for an amount whose currency the request does not name.
fn max_scale() -> u32 {
    currencies()
        .into_iter()
        .map(|(_, scale)| scale)
        .max()
        .unwrap_or_default()
}

/// A positive decimal of at most `scale` decimals, below `Amount::MAX_MINOR` minor units, in
/// the grammar `[0-9]+(\.[0-9]+)?` (leading zeros, which the server also reads, are left out).
fn amount_pattern(scale: u32) -> String {
    let whole_digits = 15_u32.saturating_sub(scale).saturating_sub(1);
    let whole = format!("[1-9][0-9]{{0,{whole_digits}}}");
    if scale == 0 {
        return format!("^{whole}$");
    }
    // Below one: some digit of the fraction is not zero.
    let below_one: Vec<String> = (0..scale)
        .map(|zeros| {
            let rest = scale.saturating_sub(zeros).saturating_sub(1);
            let zeros = "0".repeat(usize::try_from(zeros).unwrap_or_default());
            let rest = if rest == 0 {
                String::new()
            } else {
                format!("[0-9]{{0,{rest}}}")
            };
            format!("{zeros}[1-9]{rest}")
        })
        .collect();
    format!(
        "^({whole}(\\.[0-9]{{1,{scale}}})?|0\\.({}))$",
        below_one.join("|")
    )
}

fn amount_of_scale(scale: u32) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(amount_pattern(scale)))
}

pub(super) fn amount() -> Object {
    amount_of_scale(max_scale())
        .description(Some(
            "A positive decimal string with at most the currency's decimals",
        ))
        .examples(["12.50"])
        .build()
}

/// A limit: like an amount, but zero is one too.
fn limit_amount_builder() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(
            "^[0-9]{{1,15}}(\\.[0-9]{{1,{}}})?$",
            max_scale()
        )))
        .description(Some(
            "A decimal string, zero or more, with at most the account currency's decimals, \
             at most the largest amount",
        ))
}

pub(super) fn limit_amount() -> Object {
    limit_amount_builder().examples(["100.00"]).build()
}

pub(super) fn nullable_limit_amount() -> Object {
    nullable(limit_amount_builder(), Type::String).build()
}

pub(super) fn optional_amount() -> Object {
    nullable(amount_of_scale(max_scale()), Type::String)
        .description(Some(
            "A positive decimal string with at most the payment's (or hold's) currency's decimals; \
             default: all that the transition allows",
        ))
        .build()
}

/// A request naming `amount` and `currency`: the amount's decimals depend on the currency, one
/// branch per number of decimals.
fn scale_by_currency(request: Schema) -> Schema {
    let mut by_scale: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (code, scale) in currencies() {
        by_scale.entry(scale).or_default().push(code);
    }
    let branches = by_scale.into_iter().map(|(scale, codes)| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "currency",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(codes)),
            )
            .property("amount", amount_of_scale(scale))
    });
    let mut one_of = OneOfBuilder::new();
    for branch in branches {
        one_of = one_of.item(branch);
    }
    Schema::AllOf(AllOfBuilder::new().item(request).item(one_of).build())
}

/// The component schemas named by a request body.
fn request_schemas(openapi: &OpenApi) -> Vec<String> {
    openapi
        .paths
        .paths
        .values()
        .flat_map(|item| {
            [&item.get, &item.post, &item.patch, &item.put, &item.delete]
                .into_iter()
                .flatten()
        })
        .filter_map(|operation| operation.request_body.as_ref())
        .flat_map(|body| body.content.values())
        .filter_map(|content| match &content.schema {
            Some(RefOr::Ref(reference)) => reference
                .ref_location
                .strip_prefix("#/components/schemas/")
                .map(str::to_owned),
            _ => None,
        })
        .collect()
}

fn couple_amounts_to_currencies(openapi: &mut OpenApi) {
    let names = request_schemas(openapi);
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    for name in names {
        let Some(RefOr::T(schema)) = components.schemas.get_mut(&name) else {
            continue;
        };
        let names_both = matches!(schema, Schema::Object(object)
            if object.properties.contains_key("amount")
                && object.properties.contains_key("currency"));
        if names_both {
            let request = std::mem::replace(schema, Schema::Object(Object::new()));
            *schema = scale_by_currency(request);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_those_the_server_parses_with_their_decimals() {
        let currencies = currencies();
        for (code, scale) in [("EUR", 2), ("JPY", 0), ("BHD", 3), ("CLF", 4)] {
            assert!(currencies.contains(&(code.to_owned(), scale)), "{code}");
        }
        assert!(!currencies.iter().any(|(code, _)| code == "XAU"));
    }

    #[test]
    fn amounts_are_positive_within_range_at_their_scale() {
        assert_eq!(amount_pattern(0), "^[1-9][0-9]{0,14}$");
        assert_eq!(
            amount_pattern(2),
            r"^([1-9][0-9]{0,12}(\.[0-9]{1,2})?|0\.([1-9][0-9]{0,1}|0[1-9]))$"
        );
    }
}
