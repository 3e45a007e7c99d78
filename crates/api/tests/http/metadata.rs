//! Account metadata over HTTP: set at opening, Stripe's limits refused with 422, merged and
//! deleted by PATCH under the right roles and audited, and list filters AND-ed.

use std::sync::Arc;

use coffre_store::Store;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::bank::{Bank, Person, bank};
use crate::support::{TestResponse, call};

on_both_backends!(
    metadata_is_set_at_opening_and_its_limits_are_refused,
    a_patch_merges_deletes_and_is_audited_for_owners_and_admins,
    list_filters_are_and_ed_and_checked,
);

async fn open_with(bank: &Bank, who: &Person, metadata: Value) -> TestResponse {
    call(
        &bank.app,
        "POST",
        "/v1/accounts",
        &who.token,
        Some(json!({"currency": "EUR", "metadata": metadata})),
    )
    .await
}

async fn patch(bank: &Bank, who: &Person, account: &str, metadata: Value) -> TestResponse {
    call(
        &bank.app,
        "PATCH",
        &format!("/v1/accounts/{account}"),
        &who.token,
        Some(json!({"metadata": metadata})),
    )
    .await
}

/// `count` keys `k0`, `k1`, … with value "v".
fn keys(count: usize) -> Value {
    Value::Object(
        (0..count)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect::<Map<String, Value>>(),
    )
}

async fn metadata_is_set_at_opening_and_its_limits_are_refused(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let opened = open_with(&bank, &bank.alice, json!({"order": "42", "note": ""})).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text());
    let id = opened.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        opened.json()["metadata"],
        json!({"order": "42", "note": ""})
    );
    assert_eq!(
        bank.account(&id).await["metadata"],
        json!({"order": "42", "note": ""})
    );
    let plain = bank.open(&bank.alice, "EUR").await;
    assert_eq!(bank.account(&plain).await["metadata"], json!({}));
    let full = open_with(&bank, &bank.alice, keys(50)).await;
    assert_eq!(full.status, StatusCode::CREATED, "{}", full.text());

    let long_key = "k".repeat(41);
    for metadata in [
        keys(51),
        json!({long_key: "v"}),
        json!({"": "v"}),
        json!({"a[b": "v"}),
        json!({"a]": "v"}),
        json!({"k": "v".repeat(501)}),
        json!({"k": 5}),
        json!({"k": {"nested": "v"}}),
        json!({"k": null}),
        json!(["k"]),
    ] {
        let refused = open_with(&bank, &bank.alice, metadata.clone()).await;
        let message = refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(message.contains("metadata"), "{metadata}: {message}");
        let refused = patch(&bank, &bank.alice, &plain, metadata.clone()).await;
        if metadata != json!({"k": null}) {
            refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        }
    }
    let exactly = json!({"k".repeat(40): "v".repeat(500)});
    let accepted = patch(&bank, &bank.alice, &plain, exactly.clone()).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text());
    assert_eq!(accepted.json()["metadata"], exactly);
    let null = patch(&bank, &bank.alice, &plain, Value::Null).await;
    null.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
}

async fn a_patch_merges_deletes_and_is_audited_for_owners_and_admins(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let opened = open_with(&bank, &bank.alice, json!({"a": "1", "b": "2", "c": "3"})).await;
    let id = opened.json()["id"].as_str().unwrap().to_owned();

    let merged = patch(
        &bank,
        &bank.alice,
        &id,
        json!({"a": "one", "b": null, "gone": null, "d": "4"}),
    )
    .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.text());
    let after = json!({"a": "one", "c": "3", "d": "4"});
    assert_eq!(merged.json()["metadata"], after);
    assert_eq!(bank.account(&id).await["metadata"], after);

    // An admin may too; a manager and the owner of another account may not; a stranger does
    // not see it.
    let by_admin = patch(&bank, &bank.admin, &id, json!({"c": null})).await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.text());
    let refused = patch(&bank, &bank.manager, &id, json!({"x": "y"})).await;
    refused.assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    let hidden = patch(&bank, &bank.bob, &id, json!({"x": "y"})).await;
    hidden.assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    // The owner's metadata change does not carry an admin's limit change with it.
    let mixed = call(
        &bank.app,
        "PATCH",
        &format!("/v1/accounts/{id}"),
        &bank.alice.token,
        Some(json!({"metadata": {"x": "y"}, "overdraft_limit": "5"})),
    )
    .await;
    mixed.assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    assert_eq!(
        bank.account(&id).await["metadata"],
        json!({"a": "one", "d": "4"})
    );

    // Past 50 keys once merged: refused, nothing changes.
    let crowded = patch(&bank, &bank.alice, &id, keys(49)).await;
    crowded.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    assert_eq!(
        bank.account(&id).await["metadata"],
        json!({"a": "one", "d": "4"})
    );
    let fits = patch(&bank, &bank.alice, &id, keys(48)).await;
    assert_eq!(fits.status, StatusCode::OK, "{}", fits.text());
    assert_eq!(fits.json()["metadata"].as_object().unwrap().len(), 50);

    // A patch that changes nothing records nothing.
    let same = patch(&bank, &bank.alice, &id, json!({"a": "one", "zz": null})).await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text());
    let events = bank
        .get(
            &bank.admin,
            &format!("/v1/audit-events?resource_id={id}&action=METADATA_UPDATED&limit=100"),
        )
        .await;
    let events = events.json()["data"].as_array().unwrap().clone();
    assert_eq!(events.len(), 3, "{events:?}");
    let first = &events[2];
    assert_eq!(first["actor_id"], bank.alice.id.as_str());
    assert_eq!(first["resource_type"], "account");
    assert_eq!(
        first["old_value"],
        json!({"metadata": {"a": "1", "b": "2", "c": "3"}})
    );
    assert_eq!(first["new_value"], json!({"metadata": after}));
    assert_eq!(events[1]["actor_id"], bank.admin.id.as_str());
}

/// The ids of `GET uri` as `who` sees them.
async fn listed(bank: &Bank, who: &Person, uri: &str) -> Vec<String> {
    let response = bank.get(who, uri).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{uri}: {}",
        response.text()
    );
    response.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| account["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn list_filters_are_and_ed_and_checked(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let id_of = |response: TestResponse| response.json()["id"].as_str().unwrap().to_owned();
    let paris_shop =
        id_of(open_with(&bank, &bank.alice, json!({"city": "paris", "kind": "shop"})).await);
    let paris_home =
        id_of(open_with(&bank, &bank.alice, json!({"city": "paris", "kind": "home"})).await);
    let lyon_shop =
        id_of(open_with(&bank, &bank.alice, json!({"city": "lyon", "kind": "shop"})).await);
    let bobs_paris = id_of(open_with(&bank, &bank.bob, json!({"city": "paris"})).await);
    bank.open(&bank.alice, "EUR").await;

    assert_eq!(
        listed(&bank, &bank.alice, "/v1/accounts?metadata[city]=paris").await,
        [paris_home.as_str(), paris_shop.as_str()]
    );
    assert_eq!(
        listed(
            &bank,
            &bank.alice,
            "/v1/accounts?metadata[city]=paris&metadata%5Bkind%5D=shop"
        )
        .await,
        [paris_shop.as_str()]
    );
    assert_eq!(
        listed(
            &bank,
            &bank.alice,
            "/v1/accounts?metadata[kind]=shop&limit=1"
        )
        .await,
        [lyon_shop.as_str()]
    );
    assert_eq!(
        listed(
            &bank,
            &bank.alice,
            &format!("/v1/accounts?metadata[kind]=shop&starting_after={lyon_shop}")
        )
        .await,
        [paris_shop.as_str()]
    );
    assert!(
        listed(&bank, &bank.alice, "/v1/accounts?metadata[city]=Paris")
            .await
            .is_empty()
    );
    assert!(
        listed(
            &bank,
            &bank.alice,
            "/v1/accounts?metadata[city]=lyon&metadata[kind]=home"
        )
        .await
        .is_empty()
    );
    // A user sees only its own; a manager everyone's.
    assert_eq!(
        listed(&bank, &bank.bob, "/v1/accounts?metadata[city]=paris").await,
        [bobs_paris.as_str()]
    );
    assert_eq!(
        listed(&bank, &bank.manager, "/v1/accounts?metadata[city]=paris").await,
        [
            bobs_paris.as_str(),
            paris_home.as_str(),
            paris_shop.as_str()
        ]
    );
    assert_eq!(
        listed(
            &bank,
            &bank.manager,
            &format!("/v1/accounts?metadata[city]=paris&owner_id={}", bank.bob.id)
        )
        .await,
        [bobs_paris]
    );

    // A change moves the account in and out of a filter's answer.
    let moved = patch(&bank, &bank.alice, &paris_home, json!({"city": "lyon"})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
    assert_eq!(
        listed(&bank, &bank.alice, "/v1/accounts?metadata[city]=paris").await,
        [paris_shop.as_str()]
    );
    let cleared = patch(
        &bank,
        &bank.alice,
        &lyon_shop,
        json!({"city": null, "kind": null}),
    )
    .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text());
    assert_eq!(
        listed(&bank, &bank.alice, "/v1/accounts?metadata[city]=lyon").await,
        [paris_home]
    );

    for uri in [
        "/v1/accounts?metadata[city]=paris&metadata[city]=lyon",
        "/v1/accounts?metadata[a%5Bb]=x",
        "/v1/accounts?metadata[]=x",
    ] {
        let refused = bank.get(&bank.alice, uri).await;
        let message = refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(message.contains("metadata"), "{uri}: {message}");
    }
    let unknown = bank.get(&bank.alice, "/v1/accounts?colour=red").await;
    unknown.assert_error(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
}
