//! Metadata on transfers, payments, holds and transactions over HTTP: set at creation, merged
//! by PATCH by the owner of the money's source or an admin, audited, Stripe's limits refused,
//! list filters AND-ed and kept true as labels change, concurrent patches never lost.

use std::sync::Arc;

use coffre_store::Store;
use futures_util::future::join_all;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::bank::{Bank, Person, bank};
use crate::support::{TestResponse, call, new_key, post_keyed};

on_both_backends!(
    every_resource_takes_metadata_at_creation_and_by_patch,
    only_the_owner_of_the_source_or_an_admin_labels,
    lists_filter_by_metadata_and_follow_patches,
    concurrent_patches_of_one_resource_all_land,
);

/// `count` keys `k0`, `k1`, … with value "v".
fn keys(count: usize) -> Value {
    Value::Object(
        (0..count)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect::<Map<String, Value>>(),
    )
}

async fn create(bank: &Bank, who: &Person, uri: &str, body: Value) -> TestResponse {
    post_keyed(&bank.app, uri, &who.token, &new_key(), body).await
}

fn id_of(response: &TestResponse) -> String {
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["id"].as_str().unwrap().to_owned()
}

async fn patch(bank: &Bank, who: &Person, path: &str, metadata: Value) -> TestResponse {
    call(
        &bank.app,
        "PATCH",
        path,
        &who.token,
        Some(json!({"metadata": metadata})),
    )
    .await
}

async fn metadata_of(bank: &Bank, path: &str) -> Value {
    let response = bank.get(&bank.admin, path).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{path}: {}",
        response.text()
    );
    response.json()["metadata"].clone()
}

/// Two funded accounts of alice's and one of bob's, all EUR.
struct Accounts {
    alice: String,
    alice_2: String,
    bob: String,
}

async fn accounts(bank: &Bank) -> Accounts {
    Accounts {
        alice: bank.funded(&bank.alice, "1000.00").await,
        alice_2: bank.funded(&bank.alice, "1000.00").await,
        bob: bank.funded(&bank.bob, "1000.00").await,
    }
}

/// One of each resource from alice's first account to `to`, each created with `metadata`:
/// the paths of a transfer, a payment, a hold and a transaction.
async fn one_of_each(bank: &Bank, from: &str, to: &str, metadata: &Value) -> [String; 4] {
    let money = json!({"from_account_id": from, "to_account_id": to, "amount": "1.00",
                       "currency": "EUR", "metadata": metadata});
    let transfer = id_of(&create(bank, &bank.alice, "/v1/transfers", money.clone()).await);
    let payment = id_of(
        &create(
            bank,
            &bank.alice,
            "/v1/payments",
            json!({"payer_account_id": from, "payee_account_id": to, "amount": "1.00",
                   "currency": "EUR", "metadata": metadata}),
        )
        .await,
    );
    let hold = id_of(&create(bank, &bank.alice, "/v1/holds", money).await);
    let transaction = id_of(
        &create(
            bank,
            &bank.alice,
            "/v1/transactions",
            json!({"postings": [{"from_account_id": from, "to_account_id": to,
                                 "amount": "1.00", "currency": "EUR"}],
                   "metadata": metadata}),
        )
        .await,
    );
    [
        format!("/v1/transfers/{transfer}"),
        format!("/v1/payments/{payment}"),
        format!("/v1/holds/{hold}"),
        format!("/v1/transactions/{transaction}"),
    ]
}

async fn every_resource_takes_metadata_at_creation_and_by_patch(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let accounts = accounts(&bank).await;
    let labels = json!({"order": "42", "note": ""});
    let paths = one_of_each(&bank, &accounts.alice, &accounts.bob, &labels).await;
    for path in &paths {
        assert_eq!(metadata_of(&bank, path).await, labels, "{path}");
    }
    // Deposits and withdrawals are transfers and take metadata too; a resource created
    // without any has an empty map.
    let deposit = bank.deposit(&accounts.alice, "1.00", "EUR").await;
    assert_eq!(deposit.json()["metadata"], json!({}));
    let withdrawal = create(
        &bank,
        &bank.alice,
        "/v1/withdrawals",
        json!({"account_id": accounts.alice, "amount": "1.00", "currency": "EUR",
               "metadata": {"reason": "atm"}}),
    )
    .await;
    assert_eq!(withdrawal.json()["metadata"], json!({"reason": "atm"}));

    for (path, kind) in paths
        .iter()
        .zip(["transfer", "payment", "hold", "transaction"])
    {
        let merged = patch(
            &bank,
            &bank.alice,
            path,
            json!({"order": "43", "note": null, "gone": null, "new": "1"}),
        )
        .await;
        assert_eq!(merged.status, StatusCode::OK, "{path}: {}", merged.text());
        let after = json!({"order": "43", "new": "1"});
        assert_eq!(merged.json()["metadata"], after, "{path}");
        assert_eq!(metadata_of(&bank, path).await, after, "{path}");

        // Past 50 keys once merged: refused, nothing changes; a patch that changes nothing
        // answers the resource and records nothing.
        patch(&bank, &bank.alice, path, keys(49))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        patch(&bank, &bank.alice, path, json!({"k": 5}))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        let same = patch(&bank, &bank.alice, path, json!({"order": "43"})).await;
        assert_eq!(same.status, StatusCode::OK, "{path}: {}", same.text());
        assert_eq!(metadata_of(&bank, path).await, after, "{path}");

        // Its public event: one, with the resource as its GET now shows it.
        let updated = bank
            .get(&bank.admin, &format!("/v1/events?type={kind}.updated"))
            .await;
        let updated = updated.json()["data"].as_array().unwrap().clone();
        assert_eq!(updated.len(), 1, "{path}: {updated:?}");
        let shown = bank.get(&bank.admin, path).await.json();
        assert_eq!(updated[0]["data"]["object"], shown, "{path}");

        let id = path.rsplit('/').next().unwrap();
        let events = bank
            .get(
                &bank.admin,
                &format!("/v1/audit-events?resource_id={id}&action=METADATA_UPDATED"),
            )
            .await;
        let events = events.json()["data"].as_array().unwrap().clone();
        assert_eq!(events.len(), 1, "{path}: {events:?}");
        assert_eq!(events[0]["resource_type"], kind);
        assert_eq!(events[0]["actor_id"], bank.alice.id.as_str());
        assert_eq!(events[0]["old_value"], json!({"metadata": labels}));
        assert_eq!(events[0]["new_value"], json!({"metadata": after}));
    }

    for uri in ["/v1/transfers", "/v1/payments", "/v1/holds"] {
        let body = if uri == "/v1/payments" {
            json!({"payer_account_id": accounts.alice, "payee_account_id": accounts.bob,
                   "amount": "1.00", "currency": "EUR", "metadata": keys(51)})
        } else {
            json!({"from_account_id": accounts.alice, "to_account_id": accounts.bob,
                   "amount": "1.00", "currency": "EUR", "metadata": keys(51)})
        };
        let refused = create(&bank, &bank.alice, uri, body).await;
        let message = refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(message.contains("metadata"), "{uri}: {message}");
    }
    patch(&bank, &bank.alice, "/v1/transfers/not-an-id", json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "TRANSFER_NOT_FOUND");
    bank.assert_ledger_sound().await;
}

async fn only_the_owner_of_the_source_or_an_admin_labels(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let accounts = accounts(&bank).await;
    let to_bob = one_of_each(&bank, &accounts.alice, &accounts.bob, &json!({})).await;
    let own = one_of_each(&bank, &accounts.alice, &accounts.alice_2, &json!({})).await;
    let not_found = [
        "TRANSFER_NOT_FOUND",
        "PAYMENT_NOT_FOUND",
        "HOLD_NOT_FOUND",
        "TRANSACTION_NOT_FOUND",
    ];
    for ((to_bob, own), code) in to_bob.iter().zip(&own).zip(not_found) {
        // The receiver sees it but did not send the money; a manager sees every resource
        // but labels none; a stranger does not see it at all.
        patch(&bank, &bank.bob, to_bob, json!({"x": "y"}))
            .await
            .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
        patch(&bank, &bank.manager, to_bob, json!({"x": "y"}))
            .await
            .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
        patch(&bank, &bank.bob, own, json!({"x": "y"}))
            .await
            .assert_error(StatusCode::NOT_FOUND, code);
        assert_eq!(metadata_of(&bank, to_bob).await, json!({}));
        let by_admin = patch(&bank, &bank.admin, to_bob, json!({"x": "y"})).await;
        assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.text());
        assert_eq!(metadata_of(&bank, to_bob).await, json!({"x": "y"}));
    }

    // A deposit's money came from the system account: only an admin labels it.
    let deposit = bank.deposit(&accounts.alice, "1.00", "EUR").await;
    let deposit = format!("/v1/transfers/{}", deposit.json()["id"].as_str().unwrap());
    patch(&bank, &bank.alice, &deposit, json!({"x": "y"}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    // A transaction spending from alice's and bob's accounts: each owns one source, so
    // neither labels it alone.
    let shared = create(
        &bank,
        &bank.admin,
        "/v1/transactions",
        json!({"postings": [
            {"from_account_id": accounts.alice, "to_account_id": accounts.bob,
             "amount": "1.00", "currency": "EUR"},
            {"from_account_id": accounts.bob, "to_account_id": accounts.alice_2,
             "amount": "1.00", "currency": "EUR"}]}),
    )
    .await;
    let shared = format!("/v1/transactions/{}", id_of(&shared));
    for who in [&bank.alice, &bank.bob] {
        patch(&bank, who, &shared, json!({"x": "y"}))
            .await
            .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    }
    assert_eq!(metadata_of(&bank, &shared).await, json!({}));
}

/// The ids of `GET uri` as alice sees them, newest first, and whether there are more.
async fn listed(bank: &Bank, uri: &str) -> (Vec<String>, bool) {
    let response = bank.get(&bank.alice, uri).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{uri}: {}",
        response.text()
    );
    let body = response.json();
    let ids = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, body["has_more"].as_bool().unwrap())
}

fn id(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_owned()
}

async fn lists_filter_by_metadata_and_follow_patches(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let accounts = accounts(&bank).await;
    let paris_shop = one_of_each(
        &bank,
        &accounts.alice,
        &accounts.bob,
        &json!({"city": "paris", "kind": "shop"}),
    )
    .await;
    let paris_home = one_of_each(
        &bank,
        &accounts.alice,
        &accounts.alice_2,
        &json!({"city": "paris", "kind": "home"}),
    )
    .await;
    let lyon_shop = one_of_each(
        &bank,
        &accounts.alice,
        &accounts.bob,
        &json!({"city": "lyon", "kind": "shop"}),
    )
    .await;
    one_of_each(&bank, &accounts.alice, &accounts.bob, &json!({})).await;

    for (i, list) in [
        "/v1/transfers",
        "/v1/payments",
        "/v1/holds",
        "/v1/transactions",
    ]
    .into_iter()
    .enumerate()
    {
        let (paris_shop, paris_home, lyon_shop) =
            (id(&paris_shop[i]), id(&paris_home[i]), id(&lyon_shop[i]));
        assert_eq!(
            listed(&bank, &format!("{list}?metadata[city]=paris")).await,
            (vec![paris_home.clone(), paris_shop.clone()], false),
            "{list}"
        );
        assert_eq!(
            listed(
                &bank,
                &format!("{list}?metadata[city]=paris&metadata%5Bkind%5D=shop")
            )
            .await,
            (vec![paris_shop.clone()], false),
            "{list}"
        );
        // Paged, and with the other filters.
        assert_eq!(
            listed(&bank, &format!("{list}?metadata[kind]=shop&limit=1")).await,
            (vec![lyon_shop.clone()], true),
            "{list}"
        );
        assert_eq!(
            listed(
                &bank,
                &format!("{list}?metadata[kind]=shop&limit=1&starting_after={lyon_shop}")
            )
            .await,
            (vec![paris_shop.clone()], false),
            "{list}"
        );
        assert_eq!(
            listed(
                &bank,
                &format!(
                    "{list}?metadata[city]=paris&account_id={}",
                    accounts.alice_2
                )
            )
            .await,
            (vec![paris_home.clone()], false),
            "{list}"
        );
        assert_eq!(
            listed(&bank, &format!("{list}?metadata[city]=rome")).await,
            (vec![], false),
            "{list}"
        );
        // Bob sees only what touches his accounts, filter or not.
        let bobs = bank
            .get(&bank.bob, &format!("{list}?metadata[city]=paris"))
            .await;
        let bobs: Vec<&str> = bobs.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap())
            .map(|id| if id == paris_shop { "shop" } else { "other" })
            .collect();
        assert_eq!(bobs, ["shop"], "{list}");
        bank.get(&bank.alice, &format!("{list}?metadata[a%5Bb]=x"))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");

        // A label changed or removed changes what the filter finds.
        let moved = patch(
            &bank,
            &bank.alice,
            &format!("{list}/{lyon_shop}"),
            json!({"city": "paris", "kind": null}),
        )
        .await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
        assert_eq!(
            listed(&bank, &format!("{list}?metadata[city]=paris")).await,
            (
                vec![lyon_shop.clone(), paris_home.clone(), paris_shop.clone()],
                false
            ),
            "{list}"
        );
        assert_eq!(
            listed(&bank, &format!("{list}?metadata[kind]=shop")).await,
            (vec![paris_shop.clone()], false),
            "{list}"
        );
    }
}

async fn concurrent_patches_of_one_resource_all_land(store: Arc<dyn Store>) {
    const PATCHES: usize = 24;
    let bank = bank(store).await;
    let accounts = accounts(&bank).await;
    let paths = one_of_each(&bank, &accounts.alice, &accounts.bob, &json!({})).await;
    for path in &paths {
        let answers = join_all((0..PATCHES).map(|i| {
            let bank = &bank;
            async move { patch(bank, &bank.alice, path, json!({format!("k{i}"): "v"})).await }
        }))
        .await;
        for answer in &answers {
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
        }
        // Each patch merged into what the one before it wrote: none was lost.
        assert_eq!(metadata_of(&bank, path).await, keys(PATCHES), "{path}");
        let events = bank
            .get(
                &bank.admin,
                &format!(
                    "/v1/audit-events?resource_id={}&action=METADATA_UPDATED&limit=100",
                    id(path)
                ),
            )
            .await;
        assert_eq!(
            events.json()["data"].as_array().unwrap().len(),
            PATCHES,
            "{path}"
        );
    }
    bank.assert_ledger_sound().await;
}
