//! Holds over HTTP: the lifecycle with balances and availability at each step, partial posts,
//! void, expiry, who may do what, the checks and their codes, payments' authorizations seen as
//! holds, and a race of posts against a void on one hold.

use std::sync::Arc;
use std::time::Duration;

use coffre_store::Store;
use futures_util::future::join_all;
use http::StatusCode;
use serde_json::{Value, json};

use crate::bank::{Bank, Person, bank};
use crate::support::{TestResponse, call, new_key, post_keyed};

on_both_backends!(
    multi_thread: partial_posts_move_money_until_nothing_is_held,
    void_releases_the_rest_and_ends_the_hold,
    an_expired_hold_holds_nothing_and_cannot_be_posted_or_voided,
    each_hold_action_has_its_actors,
    holds_are_checked_in_the_contract_order,
    holds_list_by_account_and_state,
    a_payments_authorization_is_a_hold_that_moves_only_through_the_payment,
    posts_racing_a_void_never_move_more_than_the_hold,
);

impl Bank {
    async fn hold(&self, who: &Person, body: Value) -> TestResponse {
        post_keyed(&self.app, "/v1/holds", &who.token, &new_key(), body).await
    }

    /// A hold of `amount` EUR from `from` to `to`, created by `who`; its id.
    async fn held(&self, who: &Person, from: &str, to: &str, amount: &str) -> String {
        let response = self
            .hold(
                who,
                json!({"from_account_id": from, "to_account_id": to, "amount": amount,
                       "currency": "EUR"}),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()["id"].as_str().unwrap().to_owned()
    }

    async fn post_hold(&self, who: &Person, hold: &str, body: Value) -> TestResponse {
        post_keyed(
            &self.app,
            &format!("/v1/holds/{hold}/post"),
            &who.token,
            &new_key(),
            body,
        )
        .await
    }

    async fn void_hold(&self, who: &Person, hold: &str) -> TestResponse {
        self.post(who, &format!("/v1/holds/{hold}/void")).await
    }

    async fn hold_state(&self, hold: &str) -> Value {
        let response = self.get(&self.admin, &format!("/v1/holds/{hold}")).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        response.json()
    }

    /// Balance and available, as printed.
    async fn balances(&self, account: &str) -> (String, String) {
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

/// held, posted and released amounts of a hold, as printed.
fn split(hold: &Value) -> [&str; 3] {
    ["held_amount", "posted_amount", "released_amount"].map(|field| hold[field].as_str().unwrap())
}

async fn partial_posts_move_money_until_nothing_is_held(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let from = bank.funded(&bank.alice, "100.00").await;
    let to = bank.open(&bank.bob, "EUR").await;

    let created = bank
        .hold(
            &bank.alice,
            json!({"from_account_id": from, "to_account_id": to, "amount": "30.00",
                   "currency": "EUR", "expires_in_secs": 3600,
                   "metadata": {"order": "A-17"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let hold = created.json();
    let id = hold["id"].as_str().unwrap().to_owned();
    assert_eq!(hold["state"], "held");
    assert_eq!(hold["amount"], "30.00");
    assert_eq!(split(&hold), ["30.00", "0.00", "0.00"]);
    assert_eq!(hold["payment_id"], Value::Null);
    assert_eq!(hold["metadata"], json!({"order": "A-17"}));
    let created_at = chrono::DateTime::parse_from_rfc3339(hold["created_at"].as_str().unwrap());
    let expires_at = chrono::DateTime::parse_from_rfc3339(hold["expires_at"].as_str().unwrap());
    assert_eq!(
        (expires_at.unwrap() - created_at.unwrap()).num_seconds(),
        3600
    );
    let keys: Vec<&String> = hold.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 14, "{hold}");
    assert_eq!(bank.balances(&from).await, pair("100.00", "70.00"));

    // The receiver collects a part: a transfer of kind `transfer` naming the hold.
    let posted = bank
        .post_hold(&bank.bob, &id, json!({"amount": "12.50"}))
        .await;
    assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.text());
    let transfer = posted.json();
    assert_eq!(transfer["kind"], "transfer");
    assert_eq!(transfer["amount"], "12.50");
    assert_eq!(transfer["hold_id"], id.as_str());
    assert_eq!(
        (
            transfer["from_account_id"].as_str(),
            transfer["to_account_id"].as_str()
        ),
        (Some(from.as_str()), Some(to.as_str()))
    );
    let transfer_id = transfer["id"].as_str().unwrap();
    let read = bank
        .get(&bank.bob, &format!("/v1/transfers/{transfer_id}"))
        .await;
    assert_eq!(read.json()["hold_id"], id.as_str());
    let lines = bank
        .get(&bank.bob, &format!("/v1/accounts/{to}/entries"))
        .await
        .json();
    assert_eq!(lines["data"][0]["transfer_id"], transfer_id);
    assert_eq!(lines["data"][0]["amount"], "12.50");
    let hold = bank.hold_state(&id).await;
    assert_eq!(hold["state"], "held");
    assert_eq!(split(&hold), ["17.50", "12.50", "0.00"]);
    assert_eq!(hold["metadata"], json!({"order": "A-17"}));
    assert_eq!(bank.balances(&from).await, pair("87.50", "70.00"));
    assert_eq!(bank.balances(&to).await, pair("12.50", "12.50"));

    bank.post_hold(&bank.bob, &id, json!({"amount": "17.51"}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "AMOUNT_EXCEEDS_HELD");
    bank.post_hold(&bank.bob, &id, json!({"amount": "0.001"}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");

    // The sender pays the rest (no amount: all that is held); then the hold is posted.
    let rest = bank.post_hold(&bank.alice, &id, json!({})).await;
    assert_eq!(rest.status, StatusCode::CREATED, "{}", rest.text());
    assert_eq!(rest.json()["amount"], "17.50");
    let hold = bank.hold_state(&id).await;
    assert_eq!(hold["state"], "posted");
    assert_eq!(split(&hold), ["0.00", "30.00", "0.00"]);
    assert_eq!(bank.balances(&from).await, pair("70.00", "70.00"));
    assert_eq!(bank.balances(&to).await, pair("30.00", "30.00"));

    let message = bank
        .post_hold(&bank.bob, &id, json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    assert!(message.contains("posted"), "{message}");
    bank.void_hold(&bank.alice, &id)
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    assert_eq!(
        bank.audit_actions(&id).await,
        ["HOLD_CREATED", "HOLD_POSTED", "READ", "HOLD_POSTED", "READ"]
    );
    bank.assert_ledger_sound().await;
}

async fn void_releases_the_rest_and_ends_the_hold(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let from = bank.funded(&bank.alice, "50.00").await;
    let to = bank.open(&bank.bob, "EUR").await;
    let id = bank.held(&bank.alice, &from, &to, "20.00").await;
    assert_eq!(
        bank.post_hold(&bank.bob, &id, json!({"amount": "5.00"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let voided = bank.void_hold(&bank.bob, &id).await;
    assert_eq!(voided.status, StatusCode::OK, "{}", voided.text());
    let voided = voided.json();
    assert_eq!(voided["state"], "voided");
    assert_eq!(split(&voided), ["0.00", "5.00", "15.00"]);
    assert_eq!(bank.balances(&from).await, pair("45.00", "45.00"));
    assert_eq!(bank.balances(&to).await, pair("5.00", "5.00"));
    let message = bank
        .void_hold(&bank.alice, &id)
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    assert!(message.contains("voided"), "{message}");
    bank.post_hold(&bank.bob, &id, json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    assert_eq!(
        bank.audit_actions(&id).await,
        ["HOLD_CREATED", "HOLD_POSTED", "HOLD_VOIDED"]
    );
    bank.assert_ledger_sound().await;
}

async fn an_expired_hold_holds_nothing_and_cannot_be_posted_or_voided(store: Arc<dyn Store>) {
    let bank = bank(store.clone()).await;
    let from = bank.funded(&bank.alice, "50.00").await;
    let to = bank.open(&bank.bob, "EUR").await;
    let short = json!({"from_account_id": from, "to_account_id": to, "amount": "10.00",
                       "currency": "EUR", "expires_in_secs": 1});
    let touched = bank.hold(&bank.alice, short.clone()).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let swept = bank.hold(&bank.alice, short).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(bank.balances(&from).await, pair("50.00", "30.00"));
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let message = bank
        .post_hold(&bank.bob, &touched, json!({"amount": "1.00"}))
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    assert!(message.contains("expired"), "{message}");
    bank.void_hold(&bank.alice, &touched)
        .await
        .assert_error(StatusCode::CONFLICT, "INVALID_STATE");
    let expired = bank.hold_state(&touched).await;
    assert_eq!(expired["state"], "expired");
    assert_eq!(split(&expired), ["0.00", "0.00", "10.00"]);
    assert_eq!(bank.balances(&from).await, pair("50.00", "40.00"));

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
    assert_eq!(bank.hold_state(&swept).await["state"], "expired");
    assert_eq!(bank.balances(&from).await, pair("50.00", "50.00"));
    // The expiry is the server's: no actor.
    let events = bank
        .get(
            &bank.admin,
            &format!("/v1/audit-events?resource_id={swept}&action=HOLD_EXPIRED"),
        )
        .await
        .json();
    assert_eq!(events["data"][0]["actor_id"], Value::Null);
    assert_eq!(events["data"][0]["resource_type"], "hold");
    bank.assert_ledger_sound().await;
}

async fn each_hold_action_has_its_actors(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let from = bank.funded(&bank.alice, "50.00").await;
    let to = bank.open(&bank.bob, "EUR").await;
    let body = json!({"from_account_id": from, "to_account_id": to, "amount": "1.00",
                      "currency": "EUR"});
    // Creating: the source's owner or an admin; the receiver does not see the source.
    bank.hold(&bank.bob, body.clone())
        .await
        .assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    bank.hold(&bank.manager, body.clone())
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    assert_eq!(
        bank.hold(&bank.admin, body).await.status,
        StatusCode::CREATED
    );
    let id = bank.held(&bank.alice, &from, &to, "10.00").await;

    let (carol_id, carol) = crate::support::user(&bank.app, "carol@bank.test").await;
    let carol = Person {
        id: carol_id,
        token: carol,
    };
    bank.post_hold(&carol, &id, json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "HOLD_NOT_FOUND");
    bank.void_hold(&carol, &id)
        .await
        .assert_error(StatusCode::NOT_FOUND, "HOLD_NOT_FOUND");
    bank.get(&carol, &format!("/v1/holds/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "HOLD_NOT_FOUND");
    bank.get(&carol, "/v1/holds/not-a-uuid")
        .await
        .assert_error(StatusCode::NOT_FOUND, "HOLD_NOT_FOUND");
    // A manager sees holds and may void them, but moves no one's money.
    bank.post_hold(&bank.manager, &id, json!({}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    assert_eq!(
        bank.get(&bank.manager, &format!("/v1/holds/{id}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        bank.post_hold(&bank.admin, &id, json!({"amount": "1.00"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        bank.post_hold(&bank.alice, &id, json!({"amount": "1.00"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        bank.post_hold(&bank.bob, &id, json!({"amount": "1.00"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        bank.void_hold(&bank.manager, &id).await.status,
        StatusCode::OK
    );
    assert_eq!(split(&bank.hold_state(&id).await), ["0.00", "3.00", "7.00"]);
    bank.assert_ledger_sound().await;
}

async fn holds_are_checked_in_the_contract_order(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let from = bank.funded(&bank.alice, "10.00").await;
    let to = bank.open(&bank.bob, "EUR").await;
    let yen = bank.open(&bank.bob, "JPY").await;
    let body = |to: &str, amount: &str, extra: Value| {
        let mut body = json!({"from_account_id": from, "to_account_id": to, "amount": amount,
                              "currency": "EUR"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    call(
        &bank.app,
        "POST",
        "/v1/holds",
        &bank.alice.token,
        Some(body(&to, "1.00", json!({}))),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "IDEMPOTENCY_KEY_REQUIRED");
    for (extra, what) in [
        (json!({"expires_in_secs": 0}), "expires_in_secs"),
        (json!({"expires_in_secs": 2_592_001}), "expires_in_secs"),
        (json!({"expires_in_secs": -1}), "expires_in_secs"),
        (json!({"note": "x"}), "note"),
        (json!({"metadata": {"k": 1}}), "metadata"),
        (json!({"metadata": {"a[b]": "x"}}), "metadata"),
    ] {
        let message = bank
            .hold(&bank.alice, body(&to, "1.00", extra))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(message.contains(what), "{message}");
    }
    assert_eq!(
        bank.hold(
            &bank.alice,
            body(&to, "1.00", json!({"expires_in_secs": 2_592_000}))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    bank.hold(&bank.alice, body(&from, "1.00", json!({})))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "SAME_ACCOUNT");
    bank.hold(&bank.alice, body(&yen, "1.00", json!({})))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "CURRENCY_MISMATCH");
    bank.hold(&bank.alice, body(&to, "9.01", json!({})))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
    let id = bank.held(&bank.alice, &from, &to, "9.00").await;
    assert_eq!(bank.balances(&from).await, pair("10.00", "0.00"));
    // Held money is not available to a transfer either.
    bank.transfer(&bank.alice, &from, &to, "0.01", "EUR")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");

    let frozen = bank
        .post(&bank.manager, &format!("/v1/accounts/{to}/freeze"))
        .await;
    assert_eq!(frozen.status, StatusCode::OK, "{}", frozen.text());
    bank.post_hold(&bank.bob, &id, json!({}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "ACCOUNT_FROZEN");
    assert_eq!(bank.hold_state(&id).await["state"], "held");
    let other = bank.open(&bank.bob, "EUR").await;
    bank.post(&bank.manager, &format!("/v1/accounts/{other}/freeze"))
        .await;
    bank.void_hold(&bank.alice, &id).await;
    bank.hold(&bank.alice, body(&other, "1.00", json!({})))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "ACCOUNT_FROZEN");
    bank.post_hold(&bank.bob, &uuid::Uuid::now_v7().to_string(), json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "HOLD_NOT_FOUND");
    bank.assert_ledger_sound().await;
}

async fn holds_list_by_account_and_state(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let from = bank.funded(&bank.alice, "50.00").await;
    let to = bank.open(&bank.bob, "EUR").await;
    let elsewhere = bank.funded(&bank.bob, "5.00").await;
    let dave = bank.open(&bank.alice, "EUR").await;
    let first = bank.held(&bank.alice, &from, &to, "1.00").await;
    let second = bank.held(&bank.alice, &from, &to, "2.00").await;
    let third = bank.held(&bank.bob, &elsewhere, &dave, "3.00").await;
    bank.void_hold(&bank.alice, &first).await;
    let ids = |response: TestResponse| -> Vec<String> {
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        response.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hold| hold["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(bank.get(&bank.alice, "/v1/holds").await),
        [third.clone(), second.clone(), first.clone()]
    );
    assert_eq!(
        ids(bank
            .get(&bank.alice, &format!("/v1/holds?account_id={from}"))
            .await),
        [second.clone(), first.clone()]
    );
    assert_eq!(
        ids(bank
            .get(&bank.bob, &format!("/v1/holds?account_id={to}&state=held"))
            .await),
        [second.as_str()]
    );
    assert_eq!(
        ids(bank.get(&bank.manager, "/v1/holds?state=voided").await),
        [first.as_str()]
    );
    let page = bank.get(&bank.admin, "/v1/holds?limit=1").await.json();
    assert_eq!(page["has_more"], true);
    assert_eq!(
        ids(bank
            .get(&bank.admin, &format!("/v1/holds?starting_after={third}"))
            .await),
        [second, first]
    );
    let (_, carol) = crate::support::user(&bank.app, "carol@bank.test").await;
    let carol = Person {
        id: String::new(),
        token: carol,
    };
    assert!(ids(bank.get(&carol, "/v1/holds").await).is_empty());
    bank.get(&carol, &format!("/v1/holds?account_id={from}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    bank.get(&bank.alice, "/v1/holds?state=pending")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
}

async fn a_payments_authorization_is_a_hold_that_moves_only_through_the_payment(
    store: Arc<dyn Store>,
) {
    let bank = bank(store).await;
    let payer = bank.funded(&bank.alice, "50.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;
    let payment = post_keyed(
        &bank.app,
        "/v1/payments",
        &bank.alice.token,
        &new_key(),
        json!({"payer_account_id": payer, "payee_account_id": payee, "amount": "20.00",
               "currency": "EUR"}),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let authorized = bank
        .post(&bank.alice, &format!("/v1/payments/{payment}/authorize"))
        .await;
    assert_eq!(authorized.status, StatusCode::OK, "{}", authorized.text());
    let listed = bank
        .get(&bank.alice, &format!("/v1/holds?account_id={payer}"))
        .await
        .json();
    let hold = &listed["data"][0];
    assert_eq!(hold["payment_id"], payment.as_str());
    assert_eq!(hold["state"], "held");
    assert_eq!(hold["amount"], "20.00");
    assert_eq!(hold["expires_at"], authorized.json()["expires_at"]);
    assert_eq!(hold["metadata"], json!({}));
    let hold_id = hold["id"].as_str().unwrap().to_owned();
    for response in [
        bank.post_hold(&bank.bob, &hold_id, json!({})).await,
        bank.void_hold(&bank.alice, &hold_id).await,
    ] {
        let message = response.assert_error(StatusCode::CONFLICT, "INVALID_STATE");
        assert!(message.contains("payment"), "{message}");
    }
    // A capture of part posts the hold once and releases the rest.
    let captured = call(
        &bank.app,
        "POST",
        &format!("/v1/payments/{payment}/capture"),
        &bank.bob.token,
        Some(json!({"amount": "15.00"})),
    )
    .await;
    assert_eq!(captured.status, StatusCode::OK, "{}", captured.text());
    let hold = bank.hold_state(&hold_id).await;
    assert_eq!(hold["state"], "posted");
    assert_eq!(split(&hold), ["0.00", "15.00", "5.00"]);
    let capture = bank
        .get(&bank.bob, &format!("/v1/transfers?account_id={payee}"))
        .await
        .json();
    assert_eq!(capture["data"][0]["kind"], "capture");
    assert_eq!(capture["data"][0]["hold_id"], hold_id.as_str());
    assert_eq!(bank.balances(&payer).await, pair("35.00", "35.00"));
    assert_eq!(
        bank.audit_actions(&hold_id).await,
        ["HOLD_CREATED", "HOLD_POSTED", "READ"]
    );
    bank.assert_ledger_sound().await;
}

/// Posts of 1.00 race one void on a hold of 10.00: whatever the interleaving, each post
/// either moves 1.00 or finds the hold voided, the void releases exactly what is left (the
/// posts together cannot use it all up, so the void always finds something), and the
/// balances, the hold, its transfers and the ledger check agree.
async fn posts_racing_a_void_never_move_more_than_the_hold(store: Arc<dyn Store>) {
    const POSTS: usize = 8;
    let bank = bank(store).await;
    let from = bank.funded(&bank.alice, "100.00").await;
    let to = bank.open(&bank.bob, "EUR").await;
    let id = bank.held(&bank.alice, &from, &to, "10.00").await;
    let posts = (0..POSTS).map(|_| bank.post_hold(&bank.bob, &id, json!({"amount": "1.00"})));
    let void = bank.void_hold(&bank.alice, &id);
    let (posts, void) = tokio::join!(join_all(posts), void);
    assert_eq!(void.status, StatusCode::OK, "{}", void.text());
    let mut posted = 0;
    for response in &posts {
        match response.status {
            StatusCode::CREATED => posted += 1,
            StatusCode::CONFLICT => {
                let message = response.assert_error(StatusCode::CONFLICT, "INVALID_STATE");
                assert!(message.contains("voided"), "{message}");
            }
            other => panic!("unexpected {other}: {}", response.text()),
        }
    }
    let hold = bank.hold_state(&id).await;
    assert_eq!(hold["state"], "voided");
    let posted_text = format!("{posted}.00");
    let released_text = format!("{}.00", 10 - posted);
    assert_eq!(
        split(&hold),
        ["0.00", posted_text.as_str(), released_text.as_str()]
    );
    let void_body = void.json();
    assert_eq!(void_body["released_amount"], released_text.as_str());
    let to_balance = format!("{posted}.00");
    assert_eq!(bank.balances(&to).await, pair(&to_balance, &to_balance));
    let from_balance = format!("{}.00", 100 - posted);
    assert_eq!(
        bank.balances(&from).await,
        pair(&from_balance, &from_balance)
    );
    let transfers = bank
        .get(
            &bank.bob,
            &format!("/v1/transfers?account_id={to}&limit=100"),
        )
        .await
        .json();
    let with_hold = transfers["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|transfer| transfer["hold_id"] == id.as_str())
        .count();
    assert_eq!(with_hold, posted);
    bank.assert_ledger_sound().await;
}
