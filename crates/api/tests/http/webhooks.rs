//! Webhook endpoints over HTTP (API.md "Webhook endpoints"): a secret shown once and never
//! again, rotation, the URL and type rules, updates that change only what they name, deletion,
//! each change audited without its secret, and admins only.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffre_store::Store;
use http::StatusCode;
use serde_json::{Value, json};

use crate::bank::{Bank, bank, bank_on};
use crate::support::{TestResponse, app_with, call, settings};

on_both_backends!(
    an_endpoint_lives_from_creation_to_deletion,
    urls_and_event_types_are_checked,
    endpoints_are_for_admins,
);

async fn send(bank: &Bank, method: &str, uri: &str, body: Option<Value>) -> TestResponse {
    call(&bank.app, method, uri, &bank.admin.token, body).await
}

fn secret_of(response: &TestResponse) -> String {
    let secret = response.json()["secret"].as_str().unwrap().to_owned();
    let bytes = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    assert_eq!(bytes.len(), 32, "{secret}");
    secret
}

async fn an_endpoint_lives_from_creation_to_deletion(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let created = send(
        &bank,
        "POST",
        "/v1/webhook-endpoints",
        Some(json!({"url": "https://hooks.example.test/coffre",
                    "event_types": ["payment.*", "transfer.created"],
                    "description": "accounting"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let secret = secret_of(&created);
    let body = created.json();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["url"], "https://hooks.example.test/coffre");
    assert_eq!(
        body["event_types"],
        json!(["payment.*", "transfer.created"])
    );
    assert_eq!(body["description"], "accounting");
    assert_eq!(body["enabled"], true);
    assert_eq!(body["previous_secret_expires_at"], Value::Null);

    // Never again: not when read, listed, changed.
    let read = send(&bank, "GET", &format!("/v1/webhook-endpoints/{id}"), None).await;
    assert_eq!(read.status, StatusCode::OK);
    let mut shown = body.clone();
    shown.as_object_mut().unwrap().remove("secret");
    assert_eq!(read.json(), shown);
    let listed = send(&bank, "GET", "/v1/webhook-endpoints", None).await;
    assert_eq!(listed.json()["data"], json!([shown]));
    assert!(!listed.text().contains(&secret));

    let updated = send(
        &bank,
        "PATCH",
        &format!("/v1/webhook-endpoints/{id}"),
        Some(json!({"enabled": false, "event_types": ["*"]})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text());
    let after = updated.json();
    assert_eq!(after["enabled"], false);
    assert_eq!(after["event_types"], json!(["*"]));
    assert_eq!(
        after["url"], "https://hooks.example.test/coffre",
        "left as it was"
    );
    assert!(after.get("secret").is_none());
    let unchanged = send(
        &bank,
        "PATCH",
        &format!("/v1/webhook-endpoints/{id}"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(
        unchanged.json(),
        after,
        "a change of nothing changes nothing"
    );

    let rotated = send(
        &bank,
        "POST",
        &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
        None,
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text());
    let fresh = secret_of(&rotated);
    assert_ne!(fresh, secret);
    let until = rotated.json()["previous_secret_expires_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let until = chrono::DateTime::parse_from_rfc3339(&until).unwrap();
    let in_a_day = chrono::Utc::now() + chrono::TimeDelta::hours(24);
    assert!(
        (in_a_day - until.to_utc()).num_seconds().abs() < 60,
        "{until}"
    );

    let deleted = send(
        &bank,
        "DELETE",
        &format!("/v1/webhook-endpoints/{id}"),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    for (method, uri) in [
        ("GET", format!("/v1/webhook-endpoints/{id}")),
        ("DELETE", format!("/v1/webhook-endpoints/{id}")),
        ("POST", format!("/v1/webhook-endpoints/{id}/rotate-secret")),
        ("GET", "/v1/webhook-endpoints/not-an-id".to_owned()),
    ] {
        send(&bank, method, &uri, None)
            .await
            .assert_error(StatusCode::NOT_FOUND, "WEBHOOK_ENDPOINT_NOT_FOUND");
    }
    send(
        &bank,
        "PATCH",
        &format!("/v1/webhook-endpoints/{id}"),
        Some(json!({"enabled": true})),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "WEBHOOK_ENDPOINT_NOT_FOUND");

    // Each change audited, once, and no secret in the log.
    let audit = send(
        &bank,
        "GET",
        &format!("/v1/audit-events?resource_type=webhook_endpoint&resource_id={id}"),
        None,
    )
    .await;
    let actions: Vec<&str> = audit.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .rev()
        .collect::<Vec<_>>()
        .into_iter()
        .map(|action| match action {
            "WEBHOOK_ENDPOINT_CREATED" => "created",
            "WEBHOOK_ENDPOINT_UPDATED" => "updated",
            "WEBHOOK_SECRET_ROTATED" => "rotated",
            "WEBHOOK_ENDPOINT_DELETED" => "deleted",
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(actions, ["created", "updated", "rotated", "deleted"]);
    let log = audit.text();
    assert!(!log.contains(&secret) && !log.contains(&fresh) && !log.contains("whsec_"));
    assert!(log.contains(&bank.admin.id), "the admin is the actor");
}

async fn urls_and_event_types_are_checked(store: Arc<dyn Store>) {
    let mut strict = settings();
    strict.webhook_allow_insecure = false;
    let bank = bank_on(store.clone(), app_with(store, strict)).await;
    let create = |url: &str, types: Value| json!({"url": url, "event_types": types});
    for (body, needle) in [
        (
            create("http://hooks.example.test", json!(["*"])),
            "COFFRE_WEBHOOK_ALLOW_INSECURE",
        ),
        (create("ftp://hooks.example.test", json!(["*"])), "https://"),
        (create("https://", json!(["*"])), "https://"),
        (
            create("https://hooks.example.test", json!([])),
            "at least one",
        ),
        (
            create("https://hooks.example.test", json!(["payment.paid"])),
            "payment.paid",
        ),
        (
            create("https://hooks.example.test", json!(["nothing.*"])),
            "nothing.*",
        ),
    ] {
        let message = send(&bank, "POST", "/v1/webhook-endpoints", Some(body.clone()))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(message.contains(needle), "{body}: {message}");
    }
    let good = send(
        &bank,
        "POST",
        "/v1/webhook-endpoints",
        Some(create("https://hooks.example.test", json!(["hold.*"]))),
    )
    .await;
    assert_eq!(good.status, StatusCode::CREATED, "{}", good.text());
    let id = good.json()["id"].as_str().unwrap().to_owned();
    send(
        &bank,
        "PATCH",
        &format!("/v1/webhook-endpoints/{id}"),
        Some(json!({"url": "http://hooks.example.test"})),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    send(
        &bank,
        "PATCH",
        &format!("/v1/webhook-endpoints/{id}"),
        Some(json!({"secret": "whsec_mine"})),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    let read = send(&bank, "GET", &format!("/v1/webhook-endpoints/{id}"), None).await;
    assert_eq!(
        read.json()["url"],
        "https://hooks.example.test",
        "refusals change nothing"
    );
}

async fn endpoints_are_for_admins(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    // The tests' settings allow http://, as a receiver on loopback needs.
    let created = send(
        &bank,
        "POST",
        "/v1/webhook-endpoints",
        Some(json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["*"]})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    for who in [&bank.manager, &bank.alice] {
        for (method, uri, body) in [
            (
                "POST",
                "/v1/webhook-endpoints".to_owned(),
                Some(json!({"url": "https://x.test", "event_types": ["*"]})),
            ),
            ("GET", "/v1/webhook-endpoints".to_owned(), None),
            ("GET", format!("/v1/webhook-endpoints/{id}"), None),
            (
                "PATCH",
                format!("/v1/webhook-endpoints/{id}"),
                Some(json!({"enabled": false})),
            ),
            ("DELETE", format!("/v1/webhook-endpoints/{id}"), None),
            (
                "POST",
                format!("/v1/webhook-endpoints/{id}/rotate-secret"),
                None,
            ),
        ] {
            call(&bank.app, method, &uri, &who.token, body)
                .await
                .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
        }
    }
    let read = send(&bank, "GET", &format!("/v1/webhook-endpoints/{id}"), None).await;
    assert_eq!(read.json()["enabled"], true, "nothing changed");
}
