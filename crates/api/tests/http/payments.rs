//! Payments over HTTP: the lifecycle with balances and availability at each step, declined
//! authorizations, holds that stop a double spend, illegal transitions, amounts, roles,
//! races, expiry, idempotency and the ledger check at the end.

use std::sync::Arc;
use std::time::Duration;

use coffre_store::Store;
use futures_util::future::join_all;
use http::StatusCode;
use serde_json::{Value, json};

use crate::bank::{Bank, Person, bank, bank_on};
use crate::support::{TestResponse, app_with, call, new_key, post_keyed, settings, user};

// Multi-threaded for the races; the rest does not mind.
on_both_backends!(
    multi_thread: the_full_lifecycle_moves_money_at_each_step,
    an_authorization_without_funds_fails_the_payment,
    a_hold_stops_a_double_spend_until_released,
    transitions_off_the_arrows_are_invalid_state,
    each_transition_has_its_actors,
    an_expired_authorization_holds_nothing_and_cannot_be_captured,
    keys_are_required_on_create_and_refunds_and_replayed_on_transitions,
    racing_captures_have_one_winner,
    capture_racing_cancel_has_one_winner,
);

impl Bank {
    /// A pending payment of `amount` EUR from `payer`'s account to `payee`'s; its id.
    async fn payment(&self, payer: &Person, from: &str, to: &str, amount: &str) -> String {
        let response = post_keyed(
            &self.app,
            "/v1/payments",
            &payer.token,
            &new_key(),
            json!({"payer_account_id": from, "payee_account_id": to, "amount": amount,
                   "currency": "EUR"}),
        )
        .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()["id"].as_str().unwrap().to_owned()
    }

    async fn act(
        &self,
        who: &Person,
        payment: &str,
        verb: &str,
        body: Option<Value>,
    ) -> TestResponse {
        call(
            &self.app,
            "POST",
            &format!("/v1/payments/{payment}/{verb}"),
            &who.token,
            body,
        )
        .await
    }

    async fn refund(&self, who: &Person, payment: &str, body: Value) -> TestResponse {
        post_keyed(
            &self.app,
            &format!("/v1/payments/{payment}/refunds"),
            &who.token,
            &new_key(),
            body,
        )
        .await
    }

    async fn payment_state(&self, payment: &str) -> Value {
        let response = self
            .get(&self.admin, &format!("/v1/payments/{payment}"))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        response.json()
    }

    /// Balance and available, as printed.
    async fn funds(&self, account: &str) -> (String, String) {
        let account = self.account(account).await;
        (
            account["balance"].as_str().unwrap().to_owned(),
            account["available"].as_str().unwrap().to_owned(),
        )
    }
}

fn pair(balance: &str, available: &str) -> (String, String) {
    (balance.to_owned(), available.to_owned())
}

async fn the_full_lifecycle_moves_money_at_each_step(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let payer = bank.funded(&bank.alice, "100.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;

    let id = bank.payment(&bank.alice, &payer, &payee, "30.00").await;
    let pending = bank.payment_state(&id).await;
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["amount"], "30.00");
    for field in ["authorized_amount", "captured_amount", "refunded_amount"] {
        assert_eq!(pending[field], "0.00", "{field}");
    }
    assert_eq!(pending["authorization_code"], Value::Null);
    assert_eq!(pending["metadata"], json!({}));
    let keys: Vec<&String> = pending.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 15, "{pending}");
    assert_eq!(bank.funds(&payer).await, pair("100.00", "100.00"));

    let authorized = bank.act(&bank.alice, &id, "authorize", None).await;
    assert_eq!(authorized.status, StatusCode::OK, "{}", authorized.text());
    let authorized = authorized.json();
    assert_eq!(authorized["state"], "authorized");
    assert_eq!(authorized["authorized_amount"], "30.00");
    let code = authorized["authorization_code"].as_str().unwrap();
    assert_eq!(code.len(), 32);
    assert!(code.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(authorized["expires_at"].is_string());
    // The hold: available drops, balance does not.
    assert_eq!(bank.funds(&payer).await, pair("100.00", "70.00"));

    let captured = bank
        .act(&bank.bob, &id, "capture", Some(json!({"amount": "20.00"})))
        .await;
    assert_eq!(captured.status, StatusCode::OK, "{}", captured.text());
    assert_eq!(captured.json()["state"], "captured");
    assert_eq!(captured.json()["captured_amount"], "20.00");
    // 20.00 moved; the other 10.00 of the hold is released.
    assert_eq!(bank.funds(&payer).await, pair("80.00", "80.00"));
    assert_eq!(bank.funds(&payee).await, pair("20.00", "20.00"));

    let refund = bank.refund(&bank.bob, &id, json!({"amount": "5.00"})).await;
    assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.text());
    let refund = refund.json();
    assert_eq!(refund["kind"], "refund");
    assert_eq!(refund["from_account_id"], payee.as_str());
    assert_eq!(refund["to_account_id"], payer.as_str());
    assert_eq!(refund["amount"], "5.00");
    let partly = bank.payment_state(&id).await;
    assert_eq!(partly["state"], "captured");
    assert_eq!(partly["refunded_amount"], "5.00");

    let rest = bank.refund(&bank.bob, &id, json!({})).await;
    assert_eq!(rest.status, StatusCode::CREATED, "{}", rest.text());
    assert_eq!(rest.json()["amount"], "15.00");
    let refunded = bank.payment_state(&id).await;
    assert_eq!(refunded["state"], "refunded");
    assert_eq!(refunded["refunded_amount"], "20.00");
    assert_eq!(bank.funds(&payer).await, pair("100.00", "100.00"));
    assert_eq!(bank.funds(&payee).await, pair("0.00", "0.00"));

    let kinds: Vec<String> = bank
        .get(&bank.alice, &format!("/v1/transfers?account_id={payer}"))
        .await
        .json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["refund", "refund", "capture", "deposit"]);
    assert_eq!(
        bank.audit_actions(&id).await,
        [
            "PAYMENT_CREATED",
            "READ",
            "PAYMENT_AUTHORIZED",
            "PAYMENT_CAPTURED",
            "PAYMENT_REFUNDED",
            "READ",
            "PAYMENT_REFUNDED",
            "READ"
        ]
    );
    bank.assert_ledger_sound().await;
}

async fn an_authorization_without_funds_fails_the_payment(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let payer = bank.funded(&bank.alice, "10.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;
    let id = bank.payment(&bank.alice, &payer, &payee, "10.01").await;
    bank.act(&bank.alice, &id, "authorize", None)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
    let failed = bank.payment_state(&id).await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["failure_reason"], "insufficient_funds");
    assert_eq!(bank.funds(&payer).await, pair("10.00", "10.00"));
    assert_eq!(
        bank.audit_actions(&id).await,
        ["PAYMENT_CREATED", "PAYMENT_FAILED", "READ"]
    );
    let message = bank
        .act(&bank.alice, &id, "authorize", None)
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    assert!(
        message.contains("failed") && message.contains("authorized"),
        "{message}"
    );
}

async fn a_hold_stops_a_double_spend_until_released(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let payer = bank.funded(&bank.alice, "100.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;
    let id = bank.payment(&bank.alice, &payer, &payee, "80.00").await;
    let authorized = bank.act(&bank.alice, &id, "authorize", None).await;
    assert_eq!(authorized.status, StatusCode::OK);

    bank.transfer(&bank.alice, &payer, &payee, "30.00", "EUR")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
    bank.withdraw(&bank.alice, &payer, "30.00")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
    // A second authorization cannot take the same money either.
    let second = bank.payment(&bank.alice, &payer, &payee, "30.00").await;
    bank.act(&bank.alice, &second, "authorize", None)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
    let spendable = bank
        .transfer(&bank.alice, &payer, &payee, "20.00", "EUR")
        .await;
    assert_eq!(spendable.status, StatusCode::CREATED);

    let canceled = bank.act(&bank.bob, &id, "cancel", None).await;
    assert_eq!(canceled.status, StatusCode::OK, "{}", canceled.text());
    assert_eq!(canceled.json()["state"], "canceled");
    assert_eq!(canceled.json()["failure_reason"], Value::Null);
    assert_eq!(bank.funds(&payer).await, pair("80.00", "80.00"));
    bank.assert_ledger_sound().await;
}

async fn transitions_off_the_arrows_are_invalid_state(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let payer = bank.funded(&bank.alice, "100.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;
    let id = bank.payment(&bank.alice, &payer, &payee, "10.00").await;

    let message = bank
        .act(&bank.bob, &id, "capture", None)
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    assert!(
        message.contains("pending") && message.contains("captured"),
        "{message}"
    );
    bank.refund(&bank.bob, &id, json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");

    assert_eq!(
        bank.act(&bank.alice, &id, "authorize", None).await.status,
        StatusCode::OK
    );
    bank.act(&bank.manager, &id, "fail", Some(json!({"reason": "fraud"})))
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    bank.act(&bank.alice, &id, "authorize", None)
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    bank.act(&bank.bob, &id, "capture", Some(json!({"amount": "10.01"})))
        .await
        .assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "AMOUNT_EXCEEDS_AUTHORIZED",
        );
    bank.act(&bank.bob, &id, "capture", Some(json!({"amount": "1.001"})))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    assert_eq!(
        bank.act(&bank.bob, &id, "capture", Some(json!({"amount": "4.00"})))
            .await
            .status,
        StatusCode::OK
    );
    bank.act(&bank.alice, &id, "cancel", None)
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    bank.act(&bank.bob, &id, "capture", None)
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    bank.refund(&bank.bob, &id, json!({"amount": "4.01"}))
        .await
        .assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "AMOUNT_EXCEEDS_REFUNDABLE",
        );
    assert_eq!(
        bank.refund(&bank.bob, &id, json!({"amount": "4.00"}))
            .await
            .status,
        StatusCode::CREATED
    );
    bank.refund(&bank.bob, &id, json!({"amount": "0.01"}))
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    assert_eq!(bank.funds(&payer).await, pair("100.00", "100.00"));

    // Create-time checks are the transfer's.
    let create = |from: &str, to: &str, currency: &str| {
        json!({"payer_account_id": from, "payee_account_id": to, "amount": "1.00",
               "currency": currency})
    };
    let usd = bank.open(&bank.bob, "USD").await;
    for (body, status, code) in [
        (
            create(&payer, &payer, "EUR"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "SAME_ACCOUNT",
        ),
        (
            create(&payer, &usd, "EUR"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "CURRENCY_MISMATCH",
        ),
        (
            create(&payer, &payee, "USD"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "CURRENCY_MISMATCH",
        ),
        (
            create(&payee, &payer, "EUR"),
            StatusCode::NOT_FOUND,
            "ACCOUNT_NOT_FOUND",
        ),
    ] {
        post_keyed(
            &bank.app,
            "/v1/payments",
            &bank.alice.token,
            &new_key(),
            body,
        )
        .await
        .assert_error(status, code);
    }
}

async fn each_transition_has_its_actors(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let (carol_id, carol_token) = user(&bank.app, "carol@bank.test").await;
    let carol = Person {
        id: carol_id,
        token: carol_token,
    };
    let payer = bank.funded(&bank.alice, "100.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;

    // Only the payer's owner creates and authorizes.
    post_keyed(
        &bank.app,
        "/v1/payments",
        &bank.manager.token,
        &new_key(),
        json!({"payer_account_id": payer, "payee_account_id": payee, "amount": "1.00",
               "currency": "EUR"}),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    let id = bank.payment(&bank.alice, &payer, &payee, "10.00").await;
    bank.act(&carol, &id, "authorize", None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "PAYMENT_NOT_FOUND");
    for who in [&bank.bob, &bank.manager, &bank.admin] {
        bank.act(who, &id, "authorize", None)
            .await
            .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    }
    assert_eq!(
        bank.act(&bank.alice, &id, "authorize", None).await.status,
        StatusCode::OK
    );

    // The payee's owner or an admin captures.
    for who in [&bank.alice, &bank.manager] {
        bank.act(who, &id, "capture", None)
            .await
            .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    }
    bank.act(&carol, &id, "capture", None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "PAYMENT_NOT_FOUND");
    assert_eq!(
        bank.act(&bank.admin, &id, "capture", None).await.status,
        StatusCode::OK
    );

    // The payee's owner or an admin refunds.
    for who in [&bank.alice, &bank.manager] {
        bank.refund(who, &id, json!({"amount": "1.00"}))
            .await
            .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    }
    assert_eq!(
        bank.refund(&bank.admin, &id, json!({"amount": "1.00"}))
            .await
            .status,
        StatusCode::CREATED
    );

    // Managers fail pending payments; parties and managers cancel.
    let other = bank.payment(&bank.alice, &payer, &payee, "1.00").await;
    bank.act(&bank.alice, &other, "fail", Some(json!({"reason": "no"})))
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    bank.act(&bank.manager, &other, "fail", Some(json!({"reason": ""})))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    let failed = bank
        .act(
            &bank.manager,
            &other,
            "fail",
            Some(json!({"reason": "card reported stolen"})),
        )
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.text());
    assert_eq!(failed.json()["failure_reason"], "card reported stolen");
    let third = bank.payment(&bank.alice, &payer, &payee, "1.00").await;
    bank.act(&carol, &third, "cancel", None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "PAYMENT_NOT_FOUND");
    assert_eq!(
        bank.act(&bank.manager, &third, "cancel", None).await.status,
        StatusCode::OK
    );

    // Reading: the parties and managers; anyone else sees nothing.
    for who in [&bank.alice, &bank.bob, &bank.manager] {
        assert_eq!(
            bank.get(who, &format!("/v1/payments/{id}")).await.status,
            StatusCode::OK
        );
    }
    for uri in [format!("/v1/payments/{id}"), "/v1/payments/nope".to_owned()] {
        bank.get(&carol, &uri)
            .await
            .assert_error(StatusCode::NOT_FOUND, "PAYMENT_NOT_FOUND");
    }
    let listed = bank.get(&carol, "/v1/payments").await.json();
    assert_eq!(listed["data"], json!([]));
    let listed = bank.get(&bank.bob, "/v1/payments?limit=2").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    assert_eq!(listed["has_more"], true);
    assert_eq!(listed["data"][0]["id"], third.as_str());

    // `?account_id=` narrows a list to the payments of one account the caller may read.
    let elsewhere = bank.funded(&bank.alice, "5.00").await;
    let other = bank.payment(&bank.alice, &elsewhere, &payer, "1.00").await;
    let of_elsewhere = bank
        .get(&bank.alice, &format!("/v1/payments?account_id={elsewhere}"))
        .await
        .json();
    assert_eq!(of_elsewhere["data"].as_array().unwrap().len(), 1);
    assert_eq!(of_elsewhere["data"][0]["id"], other.as_str());
    let of_payee = bank
        .get(&bank.bob, &format!("/v1/payments?account_id={payee}"))
        .await
        .json();
    let of_payee = of_payee["data"].as_array().unwrap();
    assert!(!of_payee.is_empty());
    assert!(
        of_payee
            .iter()
            .all(|payment| payment["payee_account_id"] == payee.as_str())
    );
    bank.get(&carol, &format!("/v1/payments?account_id={payee}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
}

async fn an_expired_authorization_holds_nothing_and_cannot_be_captured(store: Arc<dyn Store>) {
    let mut short = settings();
    short.authorization_ttl_secs = 1;
    let bank = bank_on(store.clone(), app_with(store.clone(), short)).await;
    let payer = bank.funded(&bank.alice, "50.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;

    // Touched after its deadline: expired on the spot, and the capture is refused.
    let touched = bank.payment(&bank.alice, &payer, &payee, "20.00").await;
    assert_eq!(
        bank.act(&bank.alice, &touched, "authorize", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(bank.funds(&payer).await, pair("50.00", "30.00"));
    // Swept in the background: the sweep run by `serve` finds it once due.
    let swept = bank.payment(&bank.alice, &payer, &payee, "5.00").await;
    assert_eq!(
        bank.act(&bank.alice, &swept, "authorize", None)
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let message = bank
        .act(&bank.bob, &touched, "capture", None)
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    assert!(message.contains("canceled"), "{message}");
    let expired = bank.payment_state(&touched).await;
    assert_eq!(expired["state"], "canceled");
    assert_eq!(expired["failure_reason"], "expired");
    assert_eq!(expired["authorized_amount"], "0.00");
    assert_eq!(bank.funds(&payer).await, pair("50.00", "45.00"));

    let page = coffre_store::expire_due_holds(
        store.as_ref(),
        coffre_api::event_renderer(),
        coffre_domain::time::Timestamp::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        page,
        coffre_store::ExpiryPage {
            looked_at: 1,
            expired: 1
        }
    );
    assert_eq!(
        bank.payment_state(&swept).await["failure_reason"],
        "expired"
    );
    assert_eq!(bank.funds(&payer).await, pair("50.00", "50.00"));
    let actions = bank.audit_actions(&swept).await;
    assert!(
        actions.contains(&"PAYMENT_EXPIRED".to_owned()),
        "{actions:?}"
    );
    bank.assert_ledger_sound().await;
}

async fn keys_are_required_on_create_and_refunds_and_replayed_on_transitions(
    store: Arc<dyn Store>,
) {
    let bank = bank(store).await;
    let payer = bank.funded(&bank.alice, "10.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;
    call(
        &bank.app,
        "POST",
        "/v1/payments",
        &bank.alice.token,
        Some(
            json!({"payer_account_id": payer, "payee_account_id": payee, "amount": "1.00",
                    "currency": "EUR"}),
        ),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "IDEMPOTENCY_KEY_REQUIRED");
    let id = bank.payment(&bank.alice, &payer, &payee, "4.00").await;
    assert_eq!(
        bank.act(&bank.alice, &id, "authorize", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        bank.act(&bank.bob, &id, "capture", None).await.status,
        StatusCode::OK
    );
    bank.act(&bank.bob, &id, "refunds", Some(json!({})))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "IDEMPOTENCY_KEY_REQUIRED");

    // A retried capture with its key replays instead of answering INVALID_STATE.
    let other = bank.payment(&bank.alice, &payer, &payee, "1.00").await;
    assert_eq!(
        bank.act(&bank.alice, &other, "authorize", None)
            .await
            .status,
        StatusCode::OK
    );
    let key = new_key();
    let uri = format!("/v1/payments/{other}/capture");
    let first = post_keyed(&bank.app, &uri, &bank.bob.token, &key, json!({})).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let again = post_keyed(&bank.app, &uri, &bank.bob.token, &key, json!({})).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    // A retried refund with its key moves money once.
    let key = new_key();
    let uri = format!("/v1/payments/{id}/refunds");
    for _ in 0..2 {
        let refund = post_keyed(
            &bank.app,
            &uri,
            &bank.bob.token,
            &key,
            json!({"amount": "1.00"}),
        )
        .await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.text());
    }
    assert_eq!(bank.payment_state(&id).await["refunded_amount"], "1.00");
}

async fn racing_captures_have_one_winner(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let payer = bank.funded(&bank.alice, "100.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;
    let id = bank.payment(&bank.alice, &payer, &payee, "60.00").await;
    assert_eq!(
        bank.act(&bank.alice, &id, "authorize", None).await.status,
        StatusCode::OK
    );
    let tasks = (0..10).map(|_| {
        let (app, token, id) = (bank.app.clone(), bank.bob.token.clone(), id.clone());
        tokio::spawn(async move {
            call(
                &app,
                "POST",
                &format!("/v1/payments/{id}/capture"),
                &token,
                None,
            )
            .await
        })
    });
    let responses: Vec<TestResponse> = join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let wins = responses
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(wins, 1);
    for response in responses.iter().filter(|r| r.status != StatusCode::OK) {
        response.assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    }
    assert_eq!(bank.funds(&payer).await, pair("40.00", "40.00"));
    assert_eq!(bank.funds(&payee).await, pair("60.00", "60.00"));
    bank.assert_ledger_sound().await;
}

async fn capture_racing_cancel_has_one_winner(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let payer = bank.funded(&bank.alice, "100.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;
    for _ in 0..5 {
        let id = bank.payment(&bank.alice, &payer, &payee, "10.00").await;
        assert_eq!(
            bank.act(&bank.alice, &id, "authorize", None).await.status,
            StatusCode::OK
        );
        let capture = {
            let (app, token, id) = (bank.app.clone(), bank.bob.token.clone(), id.clone());
            tokio::spawn(async move {
                call(
                    &app,
                    "POST",
                    &format!("/v1/payments/{id}/capture"),
                    &token,
                    None,
                )
                .await
            })
        };
        let cancel = {
            let (app, token, id) = (bank.app.clone(), bank.alice.token.clone(), id.clone());
            tokio::spawn(async move {
                call(
                    &app,
                    "POST",
                    &format!("/v1/payments/{id}/cancel"),
                    &token,
                    None,
                )
                .await
            })
        };
        let (capture, cancel) = (capture.await.unwrap(), cancel.await.unwrap());
        let state = bank.payment_state(&id).await;
        match (capture.status, cancel.status) {
            (StatusCode::OK, StatusCode::CONFLICT) => assert_eq!(state["state"], "captured"),
            (StatusCode::CONFLICT, StatusCode::OK) => assert_eq!(state["state"], "canceled"),
            other => panic!("{other:?}: {} / {}", capture.text(), cancel.text()),
        }
    }
    let (balance, available) = bank.funds(&payer).await;
    assert_eq!(balance, available, "no hold is left behind");
    bank.assert_ledger_sound().await;
}
