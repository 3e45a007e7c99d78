//! `/openapi.json` against API.md and against the server's own answers: every endpoint with its
//! methods, every reference resolved, the errors each route documents, and schemas whose
//! properties are exactly the fields real responses carry.

use std::collections::BTreeSet;
use std::sync::Arc;

use coffre_store::Store;
use http::StatusCode;
use serde_json::{Value, json};

use crate::bank::bank;
use crate::support::{get, new_key, post_keyed};

on_both_backends!(the_document_covers_api_md_and_matches_real_responses);

/// Every endpoint of API.md §4.
const ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/v1/auth/register"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/me"),
    ("get", "/v1/users"),
    ("patch", "/v1/users/{id}"),
    ("post", "/v1/accounts"),
    ("get", "/v1/accounts"),
    ("get", "/v1/accounts/{id}"),
    ("get", "/v1/accounts/{id}/entries"),
    ("post", "/v1/accounts/{id}/freeze"),
    ("post", "/v1/accounts/{id}/unfreeze"),
    ("post", "/v1/transfers"),
    ("get", "/v1/transfers"),
    ("get", "/v1/transfers/{id}"),
    ("post", "/v1/deposits"),
    ("post", "/v1/withdrawals"),
    ("post", "/v1/payments"),
    ("get", "/v1/payments"),
    ("get", "/v1/payments/{id}"),
    ("post", "/v1/payments/{id}/authorize"),
    ("post", "/v1/payments/{id}/capture"),
    ("post", "/v1/payments/{id}/cancel"),
    ("post", "/v1/payments/{id}/fail"),
    ("post", "/v1/payments/{id}/refunds"),
    ("get", "/v1/audit-events"),
    ("get", "/v1/audit-events/verify"),
    ("get", "/v1/ledger/verify"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

fn refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => {
                        found.insert(target.clone());
                    }
                    _ => refs(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
        _ => {}
    }
}

fn properties(document: &Value, schema: &str) -> BTreeSet<String> {
    document["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no schema {schema}"))
        .keys()
        .cloned()
        .collect()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

async fn the_document_covers_api_md_and_matches_real_responses(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let response = get(&bank.app, "/openapi.json").await;
    assert_eq!(response.status, StatusCode::OK);
    let document = response.json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));

    for (method, path) in ENDPOINTS {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(
            operation["responses"]["500"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .is_some_and(|target| target.ends_with("/ErrorEnvelope")),
            "{method} {path} documents no error envelope"
        );
    }
    let documented: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        ENDPOINTS.len(),
        "an undocumented or unknown operation"
    );

    let mut targets = BTreeSet::new();
    refs(&document, &mut targets);
    for target in targets {
        let name = target.trim_start_matches("#/components/schemas/");
        assert!(
            document["components"]["schemas"][name].is_object(),
            "dangling {target}"
        );
    }

    let transfer = &document["paths"]["/v1/transfers"]["post"];
    let described = |status: &str| {
        transfer["responses"][status]["description"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (status, code) in [
        ("400", "IDEMPOTENCY_KEY_REQUIRED"),
        ("401", "SESSION_REVOKED"),
        ("404", "ACCOUNT_NOT_FOUND"),
        ("409", "IDEMPOTENCY_KEY_IN_USE"),
        ("422", "INSUFFICIENT_FUNDS"),
        ("422", "SAME_ACCOUNT"),
        ("429", "RATE_LIMITED"),
        ("503", "SERVICE_UNAVAILABLE"),
    ] {
        assert!(
            described(status).contains(code),
            "{status}: {}",
            described(status)
        );
    }
    let codes = document["components"]["schemas"]["ErrorCode"].to_string();
    assert!(codes.contains("AMOUNT_EXCEEDS_REFUNDABLE") && codes.contains("LAST_ADMIN"));

    // The schemas are the real responses' shapes.
    let payer = bank.funded(&bank.alice, "10.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;
    let transfer = bank
        .transfer(&bank.alice, &payer, &payee, "1.00", "EUR")
        .await
        .json();
    let payment = post_keyed(
        &bank.app,
        "/v1/payments",
        &bank.alice.token,
        &new_key(),
        json!({"payer_account_id": payer, "payee_account_id": payee, "amount": "1.00",
               "currency": "EUR"}),
    )
    .await
    .json();
    let entry = bank
        .get(&bank.alice, &format!("/v1/accounts/{payer}/entries"))
        .await
        .json()["data"][0]
        .clone();
    let me = bank.get(&bank.alice, "/v1/me").await.json();
    let event = bank
        .get(&bank.admin, "/v1/audit-events?limit=1")
        .await
        .json()["data"][0]
        .clone();
    let report = bank.get(&bank.admin, "/v1/ledger/verify").await.json();
    let error = bank.get(&bank.alice, "/v1/transfers/nope").await.json();
    for (schema, real) in [
        ("AccountBody", bank.account(&payer).await),
        ("TransferBody", transfer),
        ("PaymentBody", payment),
        ("EntryBody", entry),
        ("UserBody", me),
        ("AuditEvent", event),
        ("ReportBody", report),
        ("ErrorEnvelope", error.clone()),
        ("ErrorBody", error["error"].clone()),
    ] {
        assert_eq!(
            properties(&document, schema),
            keys(&real),
            "{schema} vs {real}"
        );
    }
}
