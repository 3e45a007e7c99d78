//! Accounts and money movement over HTTP: shapes, money validation, who may see and move what,
//! the order of checks, freezing, ledger lines, pagination, audit, and `ledger/verify`.

use std::sync::Arc;

use coffre_store::Store;
use http::StatusCode;
use serde_json::json;

use crate::bank::bank;
use crate::support::{admin, call, new_key, post_keyed};

on_both_backends!(
    accounts_open_with_their_owner_and_zero_balances,
    accounts_are_visible_to_their_owner_and_managers_only,
    money_is_validated_before_anything_else,
    deposits_are_for_admins_and_withdrawals_for_owners_and_admins,
    transfer_checks_run_in_the_contract_order,
    frozen_accounts_neither_send_nor_receive,
    a_system_account_cannot_be_frozen,
    entries_carry_signed_amounts_and_running_balances,
    transfers_are_visible_to_their_parties_and_managers,
    every_change_and_every_foreign_read_is_audited,
    ledger_verify_is_for_admins_and_holds,
    the_money_path_reads_the_session_before_answering_anything,
);

async fn accounts_open_with_their_owner_and_zero_balances(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let created = call(
        &bank.app,
        "POST",
        "/v1/accounts",
        &bank.alice.token,
        Some(json!({"currency": "JPY", "name": "Travel"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let account = created.json();
    assert_eq!(account["owner_id"], bank.alice.id.as_str());
    assert_eq!(account["currency"], "JPY");
    assert_eq!(account["name"], "Travel");
    assert_eq!(account["balance"], "0");
    assert_eq!(account["available"], "0");
    assert_eq!(account["status"], "active");
    let keys: Vec<&String> = account.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "available",
            "balance",
            "created_at",
            "currency",
            "id",
            "max_balance",
            "metadata",
            "name",
            "overdraft_limit",
            "owner_id",
            "status",
            "updated_at"
        ]
    );
    let eur = bank.open(&bank.alice, "EUR").await;
    assert_eq!(bank.account(&eur).await["balance"], "0.00");

    for (body, field) in [
        (json!({"currency": "EURO"}), "currency"),
        (json!({"currency": "XXX"}), "currency"),
        (json!({"currency": "EUR", "name": ""}), "name"),
        (json!({"currency": "EUR", "name": "x".repeat(101)}), "name"),
        (json!({"currency": "EUR", "colour": "red"}), "colour"),
    ] {
        let response = call(
            &bank.app,
            "POST",
            "/v1/accounts",
            &bank.alice.token,
            Some(body),
        )
        .await;
        let message = response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(message.contains(field), "{message}");
    }

    // Only an admin opens accounts for someone else, and only for someone who exists.
    let for_bob = json!({"currency": "EUR", "owner_id": bank.bob.id});
    let refused = call(
        &bank.app,
        "POST",
        "/v1/accounts",
        &bank.manager.token,
        Some(for_bob.clone()),
    )
    .await;
    refused.assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    let opened = call(
        &bank.app,
        "POST",
        "/v1/accounts",
        &bank.admin.token,
        Some(for_bob),
    )
    .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text());
    assert_eq!(opened.json()["owner_id"], bank.bob.id.as_str());
    let nobody = json!({"currency": "EUR", "owner_id": uuid::Uuid::now_v7()});
    let unknown = call(
        &bank.app,
        "POST",
        "/v1/accounts",
        &bank.admin.token,
        Some(nobody),
    )
    .await;
    unknown.assert_error(StatusCode::NOT_FOUND, "USER_NOT_FOUND");
}

async fn accounts_are_visible_to_their_owner_and_managers_only(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.open(&bank.alice, "EUR").await;
    let bobs = bank.open(&bank.bob, "EUR").await;

    let own = bank
        .get(&bank.alice, &format!("/v1/accounts/{alices}"))
        .await;
    assert_eq!(own.status, StatusCode::OK);
    for uri in [
        format!("/v1/accounts/{bobs}"),
        format!("/v1/accounts/{bobs}/entries"),
        format!("/v1/accounts/{}", uuid::Uuid::now_v7()),
        "/v1/accounts/not-an-id".to_owned(),
    ] {
        let hidden = bank.get(&bank.alice, &uri).await;
        hidden.assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    }
    let by_manager = bank
        .get(&bank.manager, &format!("/v1/accounts/{bobs}"))
        .await;
    assert_eq!(by_manager.status, StatusCode::OK);

    // A user lists its own accounts whatever it filters on; a manager lists anyone's.
    let ids = |response: &crate::support::TestResponse| -> Vec<String> {
        response.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|account| account["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mine = bank.get(&bank.alice, "/v1/accounts").await;
    assert_eq!(ids(&mine), vec![alices.clone()]);
    let snooping = bank
        .get(
            &bank.alice,
            &format!("/v1/accounts?owner_id={}", bank.bob.id),
        )
        .await;
    assert!(ids(&snooping).is_empty());
    let bobs_by_manager = bank
        .get(
            &bank.manager,
            &format!("/v1/accounts?owner_id={}", bank.bob.id),
        )
        .await;
    assert_eq!(ids(&bobs_by_manager), vec![bobs.clone()]);

    // Pagination: newest first, one at a time.
    let third = bank.open(&bank.alice, "USD").await;
    let first_page = bank.get(&bank.alice, "/v1/accounts?limit=1").await;
    assert_eq!(ids(&first_page), vec![third.clone()]);
    assert_eq!(first_page.json()["has_more"], true);
    let second_page = bank
        .get(
            &bank.alice,
            &format!("/v1/accounts?limit=1&starting_after={third}"),
        )
        .await;
    assert_eq!(ids(&second_page), vec![alices]);
    assert_eq!(second_page.json()["has_more"], false);
    let too_many = bank.get(&bank.alice, "/v1/accounts?limit=101").await;
    too_many.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
}

async fn money_is_validated_before_anything_else(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let account = bank.open(&bank.alice, "EUR").await;
    let yen = bank.open(&bank.alice, "JPY").await;
    for (amount, currency, target, words) in [
        (json!("1.001"), "EUR", &account, "decimal places"),
        (json!("1.5"), "JPY", &yen, "whole numbers"),
        (json!("0"), "EUR", &account, "greater than zero"),
        (json!("0.00"), "EUR", &account, "greater than zero"),
        (json!("-5.00"), "EUR", &account, "minus"),
        (json!("1e3"), "EUR", &account, "decimal string"),
        (json!(" 5"), "EUR", &account, "decimal string"),
        (json!(12.5), "EUR", &account, "not a number"),
        (json!(12), "EUR", &account, "not a number"),
        (json!("99999999999999999999"), "EUR", &account, "at most"),
        (json!("5.00"), "eur", &account, "currency"),
        (json!("5.00"), "ZZZ", &account, "currency"),
    ] {
        let response = post_keyed(
            &bank.app,
            "/v1/deposits",
            &bank.admin.token,
            &new_key(),
            json!({"account_id": target, "amount": amount, "currency": currency}),
        )
        .await;
        let message = response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(message.contains(words), "{amount} {currency}: {message}");
    }
    // Validation comes before visibility: nothing about the account leaks.
    let response = bank
        .transfer(&bank.bob, &account, &yen, "1.001", "EUR")
        .await;
    response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    // The largest amount is accepted and printed at full scale.
    let deposit = bank.deposit(&account, "10000000000000.00", "EUR").await;
    assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text());
    assert_eq!(deposit.json()["amount"], "10000000000000.00");
    let yen_deposit = bank.deposit(&yen, "100", "JPY").await;
    assert_eq!(yen_deposit.json()["amount"], "100");
    assert_eq!(bank.balance(&yen).await, "100");
}

async fn deposits_are_for_admins_and_withdrawals_for_owners_and_admins(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let account = bank.open(&bank.alice, "EUR").await;
    for who in [&bank.alice, &bank.manager] {
        let response = post_keyed(
            &bank.app,
            "/v1/deposits",
            &who.token,
            &new_key(),
            json!({"account_id": account, "amount": "5.00", "currency": "EUR"}),
        )
        .await;
        response.assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    }
    let deposit = bank.deposit(&account, "100.00", "EUR").await;
    assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text());
    let body = deposit.json();
    assert_eq!(body["kind"], "deposit");
    assert_eq!(body["to_account_id"], account.as_str());
    assert_eq!(body["amount"], "100.00");
    assert_eq!(bank.balance(&account).await, "100.00");

    bank.withdraw(&bank.bob, &account, "1.00")
        .await
        .assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    bank.withdraw(&bank.manager, &account, "1.00")
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    bank.withdraw(&bank.alice, &account, "100.01")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
    let by_owner = bank.withdraw(&bank.alice, &account, "30.00").await;
    assert_eq!(by_owner.status, StatusCode::CREATED, "{}", by_owner.text());
    assert_eq!(by_owner.json()["kind"], "withdrawal");
    assert_eq!(by_owner.json()["from_account_id"], account.as_str());
    let by_admin = bank.withdraw(&bank.admin, &account, "70.00").await;
    assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.text());
    assert_eq!(bank.balance(&account).await, "0.00");

    // The key is required on every money movement.
    let unkeyed = call(
        &bank.app,
        "POST",
        "/v1/withdrawals",
        &bank.alice.token,
        Some(json!({"account_id": account, "amount": "1.00", "currency": "EUR"})),
    )
    .await;
    unkeyed.assert_error(StatusCode::BAD_REQUEST, "IDEMPOTENCY_KEY_REQUIRED");
    bank.assert_ledger_sound().await;
}

async fn transfer_checks_run_in_the_contract_order(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "50.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    let bobs_usd = bank.open(&bank.bob, "USD").await;
    let nowhere = uuid::Uuid::now_v7().to_string();

    // Someone else's account: hidden from a user, forbidden to a manager.
    bank.transfer(&bank.bob, &alices, &bobs, "1.00", "EUR")
        .await
        .assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    bank.transfer(&bank.manager, &alices, &bobs, "1.00", "EUR")
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    bank.transfer(&bank.alice, &alices, &nowhere, "1.00", "EUR")
        .await
        .assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    // Same account comes before currency and funds.
    bank.transfer(&bank.alice, &alices, &alices, "999.00", "USD")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "SAME_ACCOUNT");
    // Currency before funds, and both accounts must be in the request's currency.
    bank.transfer(&bank.alice, &alices, &bobs, "999.00", "USD")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "CURRENCY_MISMATCH");
    bank.transfer(&bank.alice, &alices, &bobs_usd, "1.00", "EUR")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "CURRENCY_MISMATCH");
    bank.transfer(&bank.alice, &alices, &bobs, "50.01", "EUR")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
    assert_eq!(bank.balance(&alices).await, "50.00");

    let done = bank
        .transfer(&bank.alice, &alices, &bobs, "50.00", "EUR")
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.text());
    let transfer = done.json();
    assert_eq!(transfer["kind"], "transfer");
    assert_eq!(transfer["from_account_id"], alices.as_str());
    assert_eq!(transfer["to_account_id"], bobs.as_str());
    assert_eq!(transfer["amount"], "50.00");
    assert_eq!(transfer["currency"], "EUR");
    assert_eq!(transfer["description"], json!(null));
    assert_eq!(bank.balance(&alices).await, "0.00");
    assert_eq!(bank.balance(&bobs).await, "50.00");
    bank.assert_ledger_sound().await;
}

async fn frozen_accounts_neither_send_nor_receive(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "20.00").await;
    let bobs = bank.funded(&bank.bob, "20.00").await;
    let freeze_uri = format!("/v1/accounts/{bobs}/freeze");
    let unfreeze_uri = format!("/v1/accounts/{bobs}/unfreeze");
    bank.post(&bank.bob, &freeze_uri)
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    let frozen = bank.post(&bank.manager, &freeze_uri).await;
    assert_eq!(frozen.status, StatusCode::OK, "{}", frozen.text());
    assert_eq!(frozen.json()["status"], "frozen");

    bank.transfer(&bank.alice, &alices, &bobs, "1.00", "EUR")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "ACCOUNT_FROZEN");
    bank.transfer(&bank.bob, &bobs, &alices, "1.00", "EUR")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "ACCOUNT_FROZEN");
    bank.deposit(&bobs, "1.00", "EUR")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "ACCOUNT_FROZEN");
    // Freezing a frozen account is a no-op that writes nothing.
    assert_eq!(
        bank.post(&bank.admin, &freeze_uri).await.status,
        StatusCode::OK
    );

    let thawed = bank.post(&bank.manager, &unfreeze_uri).await;
    assert_eq!(thawed.json()["status"], "active");
    let moved = bank
        .transfer(&bank.bob, &bobs, &alices, "1.00", "EUR")
        .await;
    assert_eq!(moved.status, StatusCode::CREATED, "{}", moved.text());
    assert_eq!(
        bank.audit_actions(&bobs).await,
        ["ACCOUNT_CREATED", "ACCOUNT_FROZEN", "ACCOUNT_UNFROZEN"]
    );
    let missing = call(
        &bank.app,
        "POST",
        &format!("/v1/accounts/{}/freeze", uuid::Uuid::now_v7()),
        &bank.manager.token,
        None,
    )
    .await;
    missing.assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
}

/// Freezing a currency's system account would stop every deposit and withdrawal in it.
async fn a_system_account_cannot_be_frozen(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "20.00").await;
    let withdrawn = bank.withdraw(&bank.alice, &alices, "1.00").await;
    assert_eq!(
        withdrawn.status,
        StatusCode::CREATED,
        "{}",
        withdrawn.text()
    );
    let system = withdrawn.json()["to_account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for who in [&bank.manager, &bank.admin] {
        let refused = bank
            .post(who, &format!("/v1/accounts/{system}/freeze"))
            .await;
        refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(
            refused.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("system account"),
            "{}",
            refused.text()
        );
    }
    assert_eq!(bank.account(&system).await["status"], "active");
    let deposit = bank.deposit(&alices, "1.00", "EUR").await;
    assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text());
    let withdrawn = bank.withdraw(&bank.alice, &alices, "1.00").await;
    assert_eq!(
        withdrawn.status,
        StatusCode::CREATED,
        "{}",
        withdrawn.text()
    );
    // Unfreezing it stays allowed (a no-op here), to repair one frozen before the rule.
    let unfrozen = bank
        .post(&bank.manager, &format!("/v1/accounts/{system}/unfreeze"))
        .await;
    assert_eq!(unfrozen.status, StatusCode::OK, "{}", unfrozen.text());
}

async fn entries_carry_signed_amounts_and_running_balances(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "100.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    let first = bank
        .transfer(&bank.alice, &alices, &bobs, "30.00", "EUR")
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = bank
        .transfer(&bank.alice, &alices, &bobs, "0.05", "EUR")
        .await;
    assert_eq!(second.status, StatusCode::CREATED);

    let entries = bank
        .get(&bank.alice, &format!("/v1/accounts/{alices}/entries"))
        .await;
    assert_eq!(entries.status, StatusCode::OK, "{}", entries.text());
    let body = entries.json();
    let lines = body["data"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = lines
        .iter()
        .map(|line| {
            (
                line["amount"].as_str().unwrap(),
                line["balance_after"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("-0.05", "69.95"),
            ("-30.00", "70.00"),
            ("100.00", "100.00")
        ]
    );
    assert_eq!(lines[0]["transfer_id"], second.json()["id"]);
    let keys: Vec<&String> = lines[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["amount", "balance_after", "created_at", "id", "transfer_id"]
    );

    let page = bank
        .get(
            &bank.alice,
            &format!("/v1/accounts/{alices}/entries?limit=2"),
        )
        .await
        .json();
    assert_eq!(page["has_more"], true);
    let cursor = page["data"][1]["id"].as_str().unwrap();
    let rest = bank
        .get(
            &bank.alice,
            &format!("/v1/accounts/{alices}/entries?limit=2&starting_after={cursor}"),
        )
        .await
        .json();
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["amount"], "100.00");
    assert_eq!(rest["has_more"], false);
}

async fn transfers_are_visible_to_their_parties_and_managers(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    let transfer = bank
        .transfer(&bank.alice, &alices, &bobs, "4.00", "EUR")
        .await;
    let id = transfer.json()["id"].as_str().unwrap().to_owned();

    for who in [&bank.alice, &bank.bob, &bank.manager, &bank.admin] {
        let read = bank.get(who, &format!("/v1/transfers/{id}")).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text());
        assert_eq!(read.text(), transfer.text());
    }
    let (_, carol) = crate::support::user(&bank.app, "carol@bank.test").await;
    let carol = crate::bank::Person {
        id: String::new(),
        token: carol,
    };
    for uri in [
        format!("/v1/transfers/{id}"),
        "/v1/transfers/not-an-id".to_owned(),
        format!("/v1/transfers/{}", uuid::Uuid::now_v7()),
    ] {
        bank.get(&carol, &uri)
            .await
            .assert_error(StatusCode::NOT_FOUND, "TRANSFER_NOT_FOUND");
    }

    let ids = |response: crate::support::TestResponse| -> Vec<String> {
        response.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Bob sees the transfer he received; Carol sees nothing; a filter on someone else's
    // account is that account not found.
    assert_eq!(
        ids(bank.get(&bank.bob, "/v1/transfers").await),
        vec![id.clone()]
    );
    assert!(ids(bank.get(&carol, "/v1/transfers").await).is_empty());
    bank.get(&carol, &format!("/v1/transfers?account_id={alices}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    let alice_filtered = bank
        .get(&bank.alice, &format!("/v1/transfers?account_id={alices}"))
        .await;
    assert_eq!(ids(alice_filtered).len(), 2, "the deposit and the transfer");
    let all = ids(bank.get(&bank.manager, "/v1/transfers").await);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], id, "newest first");
}

async fn every_change_and_every_foreign_read_is_audited(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    let transfer = bank
        .transfer(&bank.alice, &alices, &bobs, "4.00", "EUR")
        .await;
    let transfer_id = transfer.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(bank.audit_actions(&transfer_id).await, ["TRANSFER"]);
    assert_eq!(bank.audit_actions(&alices).await, ["ACCOUNT_CREATED"]);

    // Own reads leave no trace; a manager's reads of Alice's data do.
    bank.get(&bank.alice, &format!("/v1/accounts/{alices}"))
        .await;
    bank.get(&bank.alice, &format!("/v1/transfers/{transfer_id}"))
        .await;
    assert_eq!(bank.audit_actions(&alices).await, ["ACCOUNT_CREATED"]);
    bank.get(&bank.manager, &format!("/v1/accounts/{alices}"))
        .await;
    bank.get(&bank.manager, &format!("/v1/accounts/{alices}/entries"))
        .await;
    bank.get(&bank.manager, &format!("/v1/transfers/{transfer_id}"))
        .await;
    assert_eq!(
        bank.audit_actions(&alices).await,
        ["ACCOUNT_CREATED", "READ", "READ"]
    );
    assert_eq!(bank.audit_actions(&transfer_id).await, ["TRANSFER", "READ"]);

    let reads = bank
        .get(
            &bank.admin,
            &format!("/v1/audit-events?action=READ&actor_id={}", bank.manager.id),
        )
        .await
        .json();
    assert_eq!(reads["data"].as_array().unwrap().len(), 3);
    // Listing other people's accounts records the ids shown.
    bank.get(&bank.manager, "/v1/accounts").await;
    let reads = bank
        .get(
            &bank.admin,
            &format!(
                "/v1/audit-events?action=READ&actor_id={}&limit=1",
                bank.manager.id
            ),
        )
        .await
        .json();
    let ids = reads["data"][0]["new_value"]["ids"].as_array().unwrap();
    assert!(
        ids.contains(&json!(alices)) && ids.contains(&json!(bobs)),
        "{reads}"
    );

    let deposits = bank
        .get(&bank.admin, "/v1/audit-events?action=DEPOSIT")
        .await
        .json();
    assert_eq!(deposits["data"].as_array().unwrap().len(), 1);
    assert_eq!(deposits["data"][0]["actor_id"], bank.admin.id.as_str());
    let chain = bank
        .get(&bank.admin, "/v1/audit-events/verify")
        .await
        .json();
    assert_eq!(chain["ok"], true, "{chain}");
}

async fn ledger_verify_is_for_admins_and_holds(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let empty = bank.assert_ledger_sound().await;
    assert_eq!(empty["accounts_checked"], 0);
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    bank.transfer(&bank.alice, &alices, &bobs, "2.50", "EUR")
        .await;
    let yen = bank.open(&bank.bob, "JPY").await;
    bank.deposit(&yen, "500", "JPY").await;

    let report = bank.assert_ledger_sound().await;
    // Three customer accounts and the two system accounts.
    assert_eq!(report["accounts_checked"], 5);
    assert_eq!(
        report["currencies"],
        json!([{"currency": "EUR", "sum": "0.00"}, {"currency": "JPY", "sum": "0"}])
    );
    for who in [&bank.alice, &bank.manager] {
        bank.get(who, "/v1/ledger/verify")
            .await
            .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    }
}

/// The money path reads the session in the ledger batch's transaction, or before any other
/// answer when the request fails earlier: logout, disabling and demotion bite on the very next
/// request, and a revoked token learns nothing else (API.md: checks come after authentication).
async fn the_money_path_reads_the_session_before_answering_anything(store: Arc<dyn Store>) {
    let bank = bank(Arc::clone(&store)).await;
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.funded(&bank.bob, "10.00").await;
    let ok = bank
        .transfer(&bank.alice, &alices, &bobs, "1.00", "EUR")
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());

    let logout = call(
        &bank.app,
        "POST",
        "/v1/auth/logout",
        &bank.alice.token,
        None,
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.text());
    let revoked = &bank.alice.token;
    bank.transfer(&bank.alice, &alices, &bobs, "1.00", "EUR")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    // Whatever else is wrong with the request, a revoked token hears only that.
    let invalid = post_keyed(
        &bank.app,
        "/v1/transfers",
        revoked,
        &new_key(),
        json!({"from_account_id": alices, "to_account_id": bobs, "amount": "1.001",
               "currency": "EUR"}),
    )
    .await;
    invalid.assert_error(StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    let unkeyed = call(
        &bank.app,
        "POST",
        "/v1/withdrawals",
        revoked,
        Some(json!({"account_id": alices, "amount": "1.00", "currency": "EUR"})),
    )
    .await;
    unkeyed.assert_error(StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    let malformed = post_keyed(&bank.app, "/v1/payments", revoked, "bad key", json!({})).await;
    malformed.assert_error(StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    for path in ["/v1/payments/nope/capture", "/v1/payments/nope/authorize"] {
        bank.post(&bank.alice, path)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    }
    let partial = post_keyed(
        &bank.app,
        &format!("/v1/payments/{}/refunds", uuid::Uuid::now_v7()),
        revoked,
        &new_key(),
        json!({"amount": "1.00"}),
    )
    .await;
    partial.assert_error(StatusCode::UNAUTHORIZED, "SESSION_REVOKED");

    // A disabled user's live session stops at once.
    let (_, root) = admin(&store, &bank.app, "second-admin@example.com").await;
    let disable = call(
        &bank.app,
        "PATCH",
        &format!("/v1/users/{}", bank.bob.id),
        &root,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(disable.status, StatusCode::OK, "{}", disable.text());
    bank.transfer(&bank.bob, &bobs, &alices, "1.00", "EUR")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "SESSION_REVOKED");

    assert_eq!(bank.balance(&alices).await, "9.00");
    assert_eq!(bank.balance(&bobs).await, "11.00");
    bank.assert_ledger_sound().await;

    // A demoted admin's next deposit is judged by the role stored now.
    let demote = call(
        &bank.app,
        "PATCH",
        &format!("/v1/users/{}", bank.admin.id),
        &root,
        Some(json!({"role": "user"})),
    )
    .await;
    assert_eq!(demote.status, StatusCode::OK, "{}", demote.text());
    bank.deposit(&alices, "5.00", "EUR")
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
}
