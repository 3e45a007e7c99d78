//! Idempotency over HTTP (API.md "Idempotency"): byte-for-byte replays, business failures
//! replayed, reuse refused, per-user keys, racing keys, and failures that store nothing.

use std::sync::Arc;

use coffre_store::Store;
use futures_util::future::join_all;
use http::StatusCode;
use serde_json::json;

use crate::bank::bank;
use crate::support::{call, new_key, post_keyed};

on_both_backends!(
    a_repeat_replays_the_first_response_byte_for_byte,
    business_failures_are_replayed_too,
    a_key_reused_for_another_request_is_refused,
    keys_belong_to_their_user,
    racing_requests_with_one_key_move_money_once,
    validation_failures_are_not_stored,
    optional_keys_protect_other_posts,
    malformed_keys_are_refused,
);

async fn a_repeat_replays_the_first_response_byte_for_byte(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    let key = new_key();
    let body = json!({"from_account_id": alices, "to_account_id": bobs, "amount": "3.00",
                      "currency": "EUR"});
    let first = post_keyed(
        &bank.app,
        "/v1/transfers",
        &bank.alice.token,
        &key,
        body.clone(),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    assert!(first.headers.get("idempotent-replayed").is_none());
    for _ in 0..2 {
        let again = post_keyed(
            &bank.app,
            "/v1/transfers",
            &bank.alice.token,
            &key,
            body.clone(),
        )
        .await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(again.headers["content-type"], "application/json");
        assert_eq!(again.body, first.body);
    }
    assert_eq!(bank.balance(&alices).await, "7.00");
    assert_eq!(bank.balance(&bobs).await, "3.00");
}

async fn business_failures_are_replayed_too(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "1.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    let key = new_key();
    let body = json!({"from_account_id": alices, "to_account_id": bobs, "amount": "5.00",
                      "currency": "EUR"});
    let first = post_keyed(
        &bank.app,
        "/v1/transfers",
        &bank.alice.token,
        &key,
        body.clone(),
    )
    .await;
    first.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
    // Funds arrive, but the key's answer stays the first one, naming the first request.
    bank.deposit(&alices, "10.00", "EUR").await;
    let again = post_keyed(&bank.app, "/v1/transfers", &bank.alice.token, &key, body).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    assert_eq!(again.json()["error"]["request_id"], first.request_id());
    assert_eq!(bank.balance(&alices).await, "11.00");
}

async fn a_key_reused_for_another_request_is_refused(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    let key = new_key();
    let body = |amount: &str| {
        json!({"from_account_id": alices, "to_account_id": bobs, "amount": amount,
               "currency": "EUR"})
    };
    let first = post_keyed(
        &bank.app,
        "/v1/transfers",
        &bank.alice.token,
        &key,
        body("1.00"),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    post_keyed(
        &bank.app,
        "/v1/transfers",
        &bank.alice.token,
        &key,
        body("2.00"),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED");
    // Another path with the same key and body is another request too.
    post_keyed(
        &bank.app,
        "/v1/withdrawals",
        &bank.alice.token,
        &key,
        json!({"account_id": alices, "amount": "1.00", "currency": "EUR"}),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(bank.balance(&alices).await, "9.00");
}

async fn keys_belong_to_their_user(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.funded(&bank.bob, "10.00").await;
    let key = new_key();
    let from_alice = post_keyed(
        &bank.app,
        "/v1/transfers",
        &bank.alice.token,
        &key,
        json!({"from_account_id": alices, "to_account_id": bobs, "amount": "1.00",
               "currency": "EUR"}),
    )
    .await;
    assert_eq!(from_alice.status, StatusCode::CREATED);
    // Bob's request with Alice's key is Bob's own first request, not a replay of hers.
    let from_bob = post_keyed(
        &bank.app,
        "/v1/transfers",
        &bank.bob.token,
        &key,
        json!({"from_account_id": bobs, "to_account_id": alices, "amount": "2.00",
               "currency": "EUR"}),
    )
    .await;
    assert_eq!(from_bob.status, StatusCode::CREATED, "{}", from_bob.text());
    assert!(from_bob.headers.get("idempotent-replayed").is_none());
    assert_eq!(bank.balance(&alices).await, "11.00");
    assert_eq!(bank.balance(&bobs).await, "9.00");
}

async fn racing_requests_with_one_key_move_money_once(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "100.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    let key = new_key();
    let body = json!({"from_account_id": alices, "to_account_id": bobs, "amount": "1.00",
                      "currency": "EUR"});
    let responses = join_all((0..20).map(|_| {
        post_keyed(
            &bank.app,
            "/v1/transfers",
            &bank.alice.token,
            &key,
            body.clone(),
        )
    }))
    .await;
    let mut created = Vec::new();
    for response in &responses {
        match response.status {
            StatusCode::CREATED => created.push(response),
            StatusCode::CONFLICT => {
                response.assert_error(StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_USE");
            }
            other => panic!("unexpected {other}: {}", response.text()),
        }
    }
    assert!(!created.is_empty());
    let first = created
        .iter()
        .find(|response| response.headers.get("idempotent-replayed").is_none())
        .expect("one request did the work");
    for response in &created {
        assert_eq!(response.body, first.body);
    }
    let fresh = created
        .iter()
        .filter(|response| response.headers.get("idempotent-replayed").is_none())
        .count();
    assert_eq!(fresh, 1);
    assert_eq!(bank.balance(&alices).await, "99.00");
    assert_eq!(bank.balance(&bobs).await, "1.00");
    let moved = bank
        .get(&bank.bob, &format!("/v1/transfers?account_id={bobs}"))
        .await
        .json();
    assert_eq!(moved["data"].as_array().unwrap().len(), 1);
    bank.assert_ledger_sound().await;
}

async fn validation_failures_are_not_stored(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "10.00").await;
    let key = new_key();
    let withdraw = |amount: &str| {
        post_keyed(
            &bank.app,
            "/v1/withdrawals",
            &bank.alice.token,
            &key,
            json!({"account_id": alices, "amount": amount, "currency": "EUR"}),
        )
    };
    withdraw("1.001")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    let corrected = withdraw("1.00").await;
    assert_eq!(
        corrected.status,
        StatusCode::CREATED,
        "{}",
        corrected.text()
    );
    assert!(corrected.headers.get("idempotent-replayed").is_none());
    assert_eq!(bank.balance(&alices).await, "9.00");
}

async fn optional_keys_protect_other_posts(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let key = new_key();
    let open = || {
        post_keyed(
            &bank.app,
            "/v1/accounts",
            &bank.alice.token,
            &key,
            json!({"currency": "EUR"}),
        )
    };
    let first = open().await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let again = open().await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    let listed = bank.get(&bank.alice, "/v1/accounts").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    // Without a key, every open is a new account.
    for _ in 0..2 {
        let response = call(
            &bank.app,
            "POST",
            "/v1/accounts",
            &bank.alice.token,
            Some(json!({"currency": "EUR"})),
        )
        .await;
        assert_eq!(response.status, StatusCode::CREATED);
    }
    let listed = bank.get(&bank.alice, "/v1/accounts").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);
}

async fn malformed_keys_are_refused(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.open(&bank.alice, "EUR").await;
    for key in ["", "has space", &"k".repeat(256)] {
        let response = post_keyed(
            &bank.app,
            "/v1/withdrawals",
            &bank.alice.token,
            key,
            json!({"account_id": alices, "amount": "1.00", "currency": "EUR"}),
        )
        .await;
        response.assert_error(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
    }
    let longest = post_keyed(
        &bank.app,
        "/v1/withdrawals",
        &bank.alice.token,
        &"k".repeat(255),
        json!({"account_id": alices, "amount": "1.00", "currency": "EUR"}),
    )
    .await;
    longest.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
}
