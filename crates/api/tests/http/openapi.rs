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

/// The contract, whose endpoint tables the document must cover exactly.
const API_MD: &str = include_str!("../../../../docs/API.md");

/// Every `METHOD /path` named in a table row of docs/API.md §4 (lower-case method, as OpenAPI
/// keys its operations).
fn contract_endpoints() -> BTreeSet<(String, String)> {
    let section = API_MD
        .split_once("## 4. Endpoints")
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .expect("docs/API.md has a section 4");
    let mut endpoints = BTreeSet::new();
    for row in section.lines().filter(|line| line.starts_with("| `")) {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        for quoted in first_cell.split('`').skip(1).step_by(2) {
            if let Some((method, path)) = quoted.split_once(' ')
                && ["GET", "POST", "PATCH", "PUT", "DELETE"].contains(&method)
            {
                endpoints.insert((method.to_lowercase(), path.to_owned()));
            }
        }
    }
    endpoints
}

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

    let endpoints = contract_endpoints();
    assert!(endpoints.len() > 30, "docs/API.md lists {endpoints:?}");
    for (method, path) in &endpoints {
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
        endpoints.len(),
        "an undocumented or unknown operation"
    );

    // What a client generator needs: a unique operationId and a tag on every operation.
    let mut operation_ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str();
            assert!(
                id.is_some_and(|id| operation_ids.insert(id.to_owned())),
                "{method} {path}: no operationId, or one used twice"
            );
            assert!(
                operation["tags"]
                    .as_array()
                    .is_some_and(|tags| !tags.is_empty()),
                "{method} {path} has no tag"
            );
        }
    }

    // Every request body refuses what it does not declare, as the server does.
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(target) =
                operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            else {
                assert!(
                    operation["requestBody"].is_null(),
                    "{method} {path}: inline body"
                );
                continue;
            };
            let name = target.trim_start_matches("#/components/schemas/");
            let schema = &document["components"]["schemas"][name];
            let object = schema["allOf"].get(0).unwrap_or(schema);
            assert_eq!(
                object["additionalProperties"],
                json!(false),
                "{method} {path}: {name} allows undeclared properties"
            );
        }
    }

    let schema_of = |path: &str, method: &str, status: &str| {
        document["paths"][path][method]["responses"][status]["content"]["application/json"]
            ["schema"]["$ref"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        document["paths"]["/v1/transfers"]["post"]["operationId"],
        "createTransfer"
    );
    assert_eq!(
        document["paths"]["/v1/payments"]["get"]["operationId"],
        "listPayments"
    );
    assert!(schema_of("/v1/transfers", "post", "201").ends_with("/Transfer"));
    assert!(schema_of("/v1/transfers", "get", "200").ends_with("/TransferList"));
    assert!(
        document["paths"]["/v1/transfers"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"]
            .as_str()
            .is_some_and(|target| target.ends_with("/CreateTransferRequest"))
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
        ("Account", bank.account(&payer).await),
        ("Transfer", transfer),
        ("Payment", payment),
        ("Entry", entry),
        ("User", me),
        ("AuditEvent", event),
        ("LedgerReport", report),
        ("ErrorEnvelope", error.clone()),
        ("ErrorBody", error["error"].clone()),
    ] {
        assert_eq!(
            properties(&document, schema),
            keys(&real),
            "{schema} vs {real}"
        );
        // Every field is always sent (null when empty), so every one is required.
        let required: BTreeSet<String> = document["components"]["schemas"][schema]["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema} requires nothing"))
            .iter()
            .map(|name| name.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(required, keys(&real), "{schema}: required vs sent");
    }
}
