//! Balance limits over HTTP: who sets them, what is refused and why, the audit of a change,
//! the floor and the ceiling on the money path, and a race of transfers against an account at
//! its limit that never crosses it.

use std::sync::Arc;

use coffre_store::Store;
use futures_util::future::join_all;
use http::StatusCode;
use serde_json::{Value, json};

use crate::bank::{Bank, bank};
use crate::support::{TestResponse, call, new_key, post_keyed};

// Multi-threaded for the race; the others do not mind.
on_both_backends!(
    multi_thread: accounts_start_without_limits_and_admins_set_them,
    limits_are_validated_and_refused_when_already_broken,
    the_floor_and_the_ceiling_bind_every_movement,
    a_limit_change_is_audited_with_both_sides,
    a_race_against_an_overdraft_never_crosses_it,
);

async fn patch(bank: &Bank, token: &str, account: &str, body: Value) -> TestResponse {
    call(
        &bank.app,
        "PATCH",
        &format!("/v1/accounts/{account}"),
        token,
        Some(body),
    )
    .await
}

async fn accounts_start_without_limits_and_admins_set_them(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let account = bank.open(&bank.alice, "EUR").await;
    let fresh = bank.account(&account).await;
    assert_eq!(fresh["overdraft_limit"], "0.00");
    assert_eq!(fresh["max_balance"], Value::Null);

    let set = patch(
        &bank,
        &bank.admin.token,
        &account,
        json!({"overdraft_limit": "50", "max_balance": "1000.5"}),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    let body = set.json();
    assert_eq!(body["overdraft_limit"], "50.00");
    assert_eq!(body["max_balance"], "1000.50");
    assert_eq!(body["balance"], "0.00");
    assert_eq!(bank.account(&account).await["overdraft_limit"], "50.00");

    // A field left out stays; `null` removes the ceiling.
    let cleared = patch(
        &bank,
        &bank.admin.token,
        &account,
        json!({"max_balance": null}),
    )
    .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text());
    assert_eq!(cleared.json()["overdraft_limit"], "50.00");
    assert_eq!(cleared.json()["max_balance"], Value::Null);

    // The owner and a manager see the account but may not change its limits; a stranger does
    // not see it at all.
    for who in [&bank.alice, &bank.manager] {
        let refused = patch(&bank, &who.token, &account, json!({"overdraft_limit": "0"})).await;
        refused.assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    }
    let hidden = patch(
        &bank,
        &bank.bob.token,
        &account,
        json!({"overdraft_limit": "0"}),
    )
    .await;
    hidden.assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    let missing = patch(
        &bank,
        &bank.admin.token,
        &uuid::Uuid::now_v7().to_string(),
        json!({"overdraft_limit": "0"}),
    )
    .await;
    missing.assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    assert_eq!(bank.account(&account).await["overdraft_limit"], "50.00");
}

async fn limits_are_validated_and_refused_when_already_broken(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let account = bank.funded(&bank.alice, "100.00").await;
    let yen = bank.open(&bank.alice, "JPY").await;
    for (target, body, field) in [
        (
            &account,
            json!({"overdraft_limit": "-1"}),
            "overdraft_limit",
        ),
        (&account, json!({"overdraft_limit": 5}), "overdraft_limit"),
        (
            &account,
            json!({"overdraft_limit": "0.001"}),
            "overdraft_limit",
        ),
        (
            &account,
            json!({"overdraft_limit": null}),
            "overdraft_limit",
        ),
        (&account, json!({"max_balance": "1e3"}), "max_balance"),
        (
            &account,
            json!({"max_balance": "10000000000000.01"}),
            "max_balance",
        ),
        (&yen, json!({"max_balance": "1.5"}), "max_balance"),
        (&account, json!({"colour": "red"}), "colour"),
    ] {
        let response = patch(&bank, &bank.admin.token, target, body.clone()).await;
        let message = response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(message.contains(field), "{body}: {message}");
    }

    // A ceiling below the balance it already has is refused, and so is an overdraft smaller
    // than the one it already uses.
    let below = patch(
        &bank,
        &bank.admin.token,
        &account,
        json!({"max_balance": "99.99"}),
    )
    .await;
    below.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    let at = patch(
        &bank,
        &bank.admin.token,
        &account,
        json!({"max_balance": "100"}),
    )
    .await;
    assert_eq!(at.status, StatusCode::OK, "{}", at.text());
    let overdraft = patch(
        &bank,
        &bank.admin.token,
        &account,
        json!({"overdraft_limit": "20"}),
    )
    .await;
    assert_eq!(overdraft.status, StatusCode::OK, "{}", overdraft.text());
    let sink = bank.open(&bank.bob, "EUR").await;
    let spent = bank
        .transfer(&bank.alice, &account, &sink, "110.00", "EUR")
        .await;
    assert_eq!(spent.status, StatusCode::CREATED, "{}", spent.text());
    let tighter = patch(
        &bank,
        &bank.admin.token,
        &account,
        json!({"overdraft_limit": "9.99"}),
    )
    .await;
    tighter.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    let after = bank.account(&account).await;
    assert_eq!(after["overdraft_limit"], "20.00");
    assert_eq!(after["balance"], "-10.00");

    // A system account has no limits.
    let verify = bank.assert_ledger_sound().await;
    assert_eq!(verify["accounts_checked"], 4);
    let system = system_account(&bank, &account).await;
    let refused = patch(
        &bank,
        &bank.admin.token,
        &system,
        json!({"overdraft_limit": "1"}),
    )
    .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
}

/// The system account the deposit into `account` came from.
async fn system_account(bank: &Bank, account: &str) -> String {
    let entries = bank
        .get(
            &bank.admin,
            &format!("/v1/accounts/{account}/entries?limit=100"),
        )
        .await;
    let transfer = entries.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find_map(|line| line["transfer_id"].as_str().map(str::to_owned))
        .unwrap();
    let read = bank
        .get(&bank.admin, &format!("/v1/transfers/{transfer}"))
        .await;
    read.json()["from_account_id"].as_str().unwrap().to_owned()
}

async fn the_floor_and_the_ceiling_bind_every_movement(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.funded(&bank.bob, "10.00").await;
    let set = patch(
        &bank,
        &bank.admin.token,
        &alices,
        json!({"overdraft_limit": "5.00", "max_balance": "20.00"}),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());

    let too_far = bank
        .transfer(&bank.alice, &alices, &bobs, "15.01", "EUR")
        .await;
    too_far.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
    let to_floor = bank.withdraw(&bank.alice, &alices, "15.00").await;
    assert_eq!(to_floor.status, StatusCode::CREATED, "{}", to_floor.text());
    let account = bank.account(&alices).await;
    assert_eq!(
        (account["balance"].as_str(), account["available"].as_str()),
        (Some("-5.00"), Some("-5.00"))
    );
    let past_floor = bank.withdraw(&bank.alice, &alices, "0.01").await;
    past_floor.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");

    // Up to the ceiling and not a cent more, from a transfer or a deposit.
    let to_ceiling = bank.deposit(&alices, "20.00", "EUR").await;
    assert_eq!(
        to_ceiling.status,
        StatusCode::CREATED,
        "{}",
        to_ceiling.text()
    );
    let past_ceiling = bank
        .transfer(&bank.bob, &bobs, &alices, "5.01", "EUR")
        .await;
    let message =
        past_ceiling.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "BALANCE_LIMIT_EXCEEDED");
    assert!(message.contains("max_balance"), "{message}");
    let within = bank
        .transfer(&bank.bob, &bobs, &alices, "5.00", "EUR")
        .await;
    assert_eq!(within.status, StatusCode::CREATED, "{}", within.text());
    let over = bank.deposit(&alices, "0.01", "EUR").await;
    over.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "BALANCE_LIMIT_EXCEEDED");
    assert_eq!(bank.balance(&alices).await, "20.00");
    assert_eq!(bank.balance(&bobs).await, "5.00");

    // A hold counts: an authorization may use the overdraft, and then nothing more leaves.
    let payment = post_keyed(
        &bank.app,
        "/v1/payments",
        &bank.alice.token,
        &new_key(),
        json!({"payer_account_id": alices, "payee_account_id": bobs,
               "amount": "25.00", "currency": "EUR"}),
    )
    .await;
    assert_eq!(payment.status, StatusCode::CREATED, "{}", payment.text());
    let id = payment.json()["id"].as_str().unwrap().to_owned();
    let authorized = bank
        .post(&bank.alice, &format!("/v1/payments/{id}/authorize"))
        .await;
    assert_eq!(authorized.status, StatusCode::OK, "{}", authorized.text());
    assert_eq!(bank.account(&alices).await["available"], "-5.00");
    let none_left = bank.withdraw(&bank.alice, &alices, "0.01").await;
    none_left.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
    bank.assert_ledger_sound().await;
}

async fn a_limit_change_is_audited_with_both_sides(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let account = bank.open(&bank.alice, "EUR").await;
    let set = patch(
        &bank,
        &bank.admin.token,
        &account,
        json!({"overdraft_limit": "12.5"}),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    // The same limits again change nothing and record nothing.
    let same = patch(
        &bank,
        &bank.admin.token,
        &account,
        json!({"overdraft_limit": "12.50"}),
    )
    .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text());
    let refused = patch(
        &bank,
        &bank.alice.token,
        &account,
        json!({"overdraft_limit": "99"}),
    )
    .await;
    refused.assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    let actions = bank.audit_actions(&account).await;
    let changes: Vec<&String> = actions
        .iter()
        .filter(|action| *action == "ACCOUNT_LIMITS_CHANGED")
        .collect();
    assert_eq!(changes.len(), 1, "{actions:?}");
    let events = bank
        .get(
            &bank.admin,
            &format!("/v1/audit-events?resource_id={account}&action=ACCOUNT_LIMITS_CHANGED"),
        )
        .await;
    let event = &events.json()["data"][0];
    assert_eq!(event["actor_id"], bank.admin.id.as_str());
    assert_eq!(event["resource_type"], "account");
    assert_eq!(
        event["old_value"],
        json!({"overdraft_limit": "0.00", "max_balance": null})
    );
    assert_eq!(
        event["new_value"],
        json!({"overdraft_limit": "12.50", "max_balance": null})
    );
}

/// Thirty transfers of 1.00 at once from an account holding 5.00 with an overdraft of 5.00:
/// exactly ten go through, whatever the interleaving, and the account ends at its floor.
async fn a_race_against_an_overdraft_never_crosses_it(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let hot = bank.funded(&bank.alice, "5.00").await;
    let sink = bank.open(&bank.bob, "EUR").await;
    let set = patch(
        &bank,
        &bank.admin.token,
        &hot,
        json!({"overdraft_limit": "5.00"}),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    let ceiling = patch(
        &bank,
        &bank.admin.token,
        &sink,
        json!({"max_balance": "8.00"}),
    )
    .await;
    assert_eq!(ceiling.status, StatusCode::OK, "{}", ceiling.text());
    let tasks = (0..30).map(|_| {
        let app = bank.app.clone();
        let token = bank.alice.token.clone();
        let (hot, sink) = (hot.clone(), sink.clone());
        tokio::spawn(async move {
            post_keyed(
                &app,
                "/v1/transfers",
                &token,
                &new_key(),
                json!({"from_account_id": hot, "to_account_id": sink,
                       "amount": "1.00", "currency": "EUR"}),
            )
            .await
        })
    });
    let mut created = 0;
    let mut over_ceiling = 0;
    for response in join_all(tasks).await {
        let response = response.unwrap();
        match response.status {
            StatusCode::CREATED => created += 1,
            _ => {
                let body = response.json();
                if body["error"]["code"] == "BALANCE_LIMIT_EXCEEDED" {
                    over_ceiling += 1;
                } else {
                    response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
                }
            }
        }
    }
    // The sink's ceiling (8.00) binds before the overdraft (10.00 in all).
    assert_eq!(created, 8);
    assert!(over_ceiling > 0);
    assert_eq!(bank.balance(&hot).await, "-3.00");
    assert_eq!(bank.balance(&sink).await, "8.00");

    // Lift the ceiling: the rest races against the floor alone.
    let lifted = patch(
        &bank,
        &bank.admin.token,
        &sink,
        json!({"max_balance": null}),
    )
    .await;
    assert_eq!(lifted.status, StatusCode::OK, "{}", lifted.text());
    let tasks = (0..20).map(|_| {
        let app = bank.app.clone();
        let token = bank.alice.token.clone();
        let (hot, sink) = (hot.clone(), sink.clone());
        tokio::spawn(async move {
            post_keyed(
                &app,
                "/v1/transfers",
                &token,
                &new_key(),
                json!({"from_account_id": hot, "to_account_id": sink,
                       "amount": "1.00", "currency": "EUR"}),
            )
            .await
        })
    });
    let mut created = 0;
    for response in join_all(tasks).await {
        let response = response.unwrap();
        if response.status == StatusCode::CREATED {
            created += 1;
        } else {
            response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
        }
    }
    assert_eq!(created, 2);
    assert_eq!(bank.balance(&hot).await, "-5.00");
    bank.assert_ledger_sound().await;
}
