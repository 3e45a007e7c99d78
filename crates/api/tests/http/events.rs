//! The event log over HTTP (API.md "Events"): after a storm of concurrent transfers, payment and
//! hold transitions and account changes, the events are exactly the changes that happened
//! (none missing, none invented, none for a refusal), each carrying the resource as its GET
//! shows it; expiries have theirs; filters, paging and who may read.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use coffre_store::Store;
use futures_util::future::join_all;
use http::StatusCode;
use serde_json::{Value, json};

use crate::bank::{Bank, Person, bank, bank_on};
use crate::support::{TestResponse, app_with, call, new_key, post_keyed, settings};

on_both_backends!(
    multi_thread: a_storm_of_changes_has_exactly_its_events,
    expiries_have_their_events,
    events_filter_page_and_are_for_admins,
);

/// (type, the id of the object it carries).
type Change = (String, String);

/// Every event, oldest first, through the public list (paged by `starting_after`).
async fn all_events(bank: &Bank, query: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let cursor = after
            .as_ref()
            .map(|id| format!("&starting_after={id}"))
            .unwrap_or_default();
        let response = bank
            .get(&bank.admin, &format!("/v1/events?limit=7{query}{cursor}"))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let page = response.json();
        let data = page["data"].as_array().unwrap();
        after = data
            .last()
            .map(|event| event["id"].as_str().unwrap().to_owned());
        events.extend(data.iter().cloned());
        if page["has_more"] == false {
            break;
        }
    }
    events.reverse();
    events
}

fn change_of(event: &Value) -> Change {
    (
        event["type"].as_str().unwrap().to_owned(),
        event["data"]["object"]["id"].as_str().unwrap().to_owned(),
    )
}

/// How many times each change happened.
fn tally(changes: impl IntoIterator<Item = Change>) -> BTreeMap<Change, usize> {
    let mut counts = BTreeMap::new();
    for change in changes {
        *counts.entry(change).or_insert(0) += 1;
    }
    counts
}

fn id(response: &TestResponse) -> String {
    response.json()["id"].as_str().unwrap().to_owned()
}

async fn post(bank: &Bank, who: &Person, uri: &str, body: Value) -> TestResponse {
    post_keyed(&bank.app, uri, &who.token, &new_key(), body).await
}

/// The JSON `GET uri` answers the admin.
async fn read(bank: &Bank, uri: &str) -> Value {
    let response = bank.get(&bank.admin, uri).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{uri}: {}",
        response.text()
    );
    response.json()
}

/// Everything listed at `uri` (newest first), every page.
async fn list(bank: &Bank, uri: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let cursor = after
            .as_ref()
            .map(|id| format!("&starting_after={id}"))
            .unwrap_or_default();
        let page = read(bank, &format!("{uri}?limit=100{cursor}")).await;
        let data = page["data"].as_array().unwrap();
        after = data
            .last()
            .map(|item| item["id"].as_str().unwrap().to_owned());
        items.extend(data.iter().cloned());
        if page["has_more"] == false {
            return items;
        }
    }
}

async fn a_storm_of_changes_has_exactly_its_events(store: Arc<dyn Store>) {
    // A reference, so the racing requests below can each take a copy.
    let bank = &bank(store).await;
    let mut expected: Vec<Change> = Vec::new();
    let opened = |response: TestResponse, expected: &mut Vec<Change>| {
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        let account = id(&response);
        expected.push(("account.created".into(), account.clone()));
        account
    };
    let a = opened(
        call(
            &bank.app,
            "POST",
            "/v1/accounts",
            &bank.alice.token,
            Some(json!({"currency": "EUR"})),
        )
        .await,
        &mut expected,
    );
    let b = opened(
        call(
            &bank.app,
            "POST",
            "/v1/accounts",
            &bank.bob.token,
            Some(json!({"currency": "EUR"})),
        )
        .await,
        &mut expected,
    );

    // Account changes: each that changes something has its event, one that does not has none.
    let labelled = call(
        &bank.app,
        "PATCH",
        &format!("/v1/accounts/{a}"),
        &bank.alice.token,
        Some(json!({"metadata": {"team": "north"}})),
    )
    .await;
    assert_eq!(labelled.status, StatusCode::OK, "{}", labelled.text());
    expected.push(("account.updated".into(), a.clone()));
    let same = call(
        &bank.app,
        "PATCH",
        &format!("/v1/accounts/{a}"),
        &bank.alice.token,
        Some(json!({"metadata": {"team": "north"}})),
    )
    .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text());
    let limited = call(
        &bank.app,
        "PATCH",
        &format!("/v1/accounts/{b}"),
        &bank.admin.token,
        Some(json!({"overdraft_limit": "5.00"})),
    )
    .await;
    assert_eq!(limited.status, StatusCode::OK, "{}", limited.text());
    expected.push(("account.updated".into(), b.clone()));
    for verb in ["freeze", "freeze", "unfreeze"] {
        let response = bank
            .post(&bank.manager, &format!("/v1/accounts/{b}/{verb}"))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    }
    // The second freeze changed nothing.
    expected.push(("account.updated".into(), b.clone()));
    expected.push(("account.updated".into(), b.clone()));
    let refused = call(
        &bank.app,
        "PATCH",
        &format!("/v1/accounts/{b}"),
        &bank.alice.token,
        Some(json!({"overdraft_limit": "1.00"})),
    )
    .await;
    assert_ne!(refused.status, StatusCode::OK);

    // Before any money moves, each account's newest event shows it as GET does.
    let so_far = all_events(bank, "").await;
    for account in [&a, &b] {
        let newest = so_far
            .iter()
            .rev()
            .find(|event| event["data"]["object"]["id"] == account.as_str())
            .unwrap();
        assert_eq!(
            newest["data"]["object"],
            read(bank, &format!("/v1/accounts/{account}")).await
        );
    }

    for account in [&a, &b] {
        let deposit = bank.deposit(account, "100.00", "EUR").await;
        assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text());
        expected.push(("transfer.created".into(), id(&deposit)));
    }

    // Payments to authorize, and holds to post and void, made before the storm.
    let mut payments = Vec::new();
    for _ in 0..6 {
        let created = post(
            bank,
            &bank.alice,
            "/v1/payments",
            json!({"payer_account_id": a, "payee_account_id": b, "amount": "3.00",
                   "currency": "EUR"}),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        expected.push(("payment.created".into(), id(&created)));
        payments.push(id(&created));
    }
    let mut holds = Vec::new();
    for _ in 0..4 {
        let created = post(
            bank,
            &bank.bob,
            "/v1/holds",
            json!({"from_account_id": b, "to_account_id": a, "amount": "4.00",
                   "currency": "EUR"}),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        expected.push(("hold.created".into(), id(&created)));
        holds.push(id(&created));
    }
    let authorized: Vec<TestResponse> = join_all(payments.iter().map(|payment| async move {
        bank.post(&bank.alice, &format!("/v1/payments/{payment}/authorize"))
            .await
    }))
    .await;
    for (payment, response) in payments.iter().zip(&authorized) {
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        expected.push(("payment.authorized".into(), payment.clone()));
    }

    // The storm: transfers both ways (some beyond the funds), captures racing cancels,
    // refunds, partial posts racing voids, all at once.
    enum Sent {
        Transfer,
        Transaction,
        Capture(String),
        Cancel(String),
        Post(String),
        Void(String),
    }
    let mut sends = Vec::new();
    for round in 0..24 {
        let (who, from, to) = if round % 2 == 0 {
            (&bank.alice, &a, &b)
        } else {
            (&bank.bob, &b, &a)
        };
        let amount = if round % 5 == 0 { "500.00" } else { "1.50" };
        sends.push((Sent::Transfer, bank.transfer(who, from, to, amount, "EUR")));
    }
    let mut storm: Vec<(Sent, _)> = Vec::new();
    let sent = join_all(
        sends
            .into_iter()
            .map(|(kind, future)| async move { (kind, future.await) }),
    );
    // Half the payments see a capture race a cancel; the others are only captured.
    let racing_payments = join_all(payments.iter().enumerate().flat_map(|(index, payment)| {
        let capture = (Sent::Capture(payment.clone()), "capture");
        let cancel = (Sent::Cancel(payment.clone()), "cancel");
        let sent = if index % 2 == 0 {
            vec![capture, cancel]
        } else {
            vec![capture]
        };
        sent.into_iter().map(move |(kind, verb)| {
            let (who, body) = if verb == "capture" {
                (&bank.bob, Some(json!({"amount": "2.00"})))
            } else {
                (&bank.alice, None)
            };
            let uri = format!("/v1/payments/{payment}/{verb}");
            async move { (kind, call(&bank.app, "POST", &uri, &who.token, body).await) }
        })
    }));
    let racing_holds = join_all(holds.iter().flat_map(|hold| {
        [true, true, false]
            .into_iter()
            .map(move |posting| async move {
                if posting {
                    let uri = format!("/v1/holds/{hold}/post");
                    let response = post(bank, &bank.alice, &uri, json!({"amount": "1.00"})).await;
                    (Sent::Post(hold.clone()), response)
                } else {
                    let response = bank
                        .post(&bank.bob, &format!("/v1/holds/{hold}/void"))
                        .await;
                    (Sent::Void(hold.clone()), response)
                }
            })
    }));
    // Transactions of two postings; every third cannot pay its second, and so writes nothing.
    let transactions = join_all((0..6).map(|round| {
        let second = if round % 3 == 0 { "900.00" } else { "0.50" };
        let body = json!({"postings": [
            {"from_account_id": a, "to_account_id": b, "amount": "1.00", "currency": "EUR"},
            {"from_account_id": a, "to_account_id": b, "amount": second, "currency": "EUR"},
        ]});
        async move {
            (
                Sent::Transaction,
                post(bank, &bank.alice, "/v1/transactions", body).await,
            )
        }
    }));
    let (transfers, payment_races, hold_races, transactions) =
        tokio::join!(sent, racing_payments, racing_holds, transactions);
    storm.extend(transactions);
    storm.extend(transfers);
    storm.extend(payment_races);
    storm.extend(hold_races);

    // What the answers say happened.
    let hold_of: HashMap<String, String> = list(bank, "/v1/holds")
        .await
        .into_iter()
        .filter(|hold| hold["payment_id"].is_string())
        .map(|hold| {
            (
                hold["payment_id"].as_str().unwrap().to_owned(),
                hold["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for payment in &payments {
        expected.push(("hold.created".into(), hold_of[payment].clone()));
    }
    let mut captured = Vec::new();
    let mut refusals = 0;
    for (kind, response) in &storm {
        let ok = response.status.is_success();
        if !ok {
            assert!(response.status.is_client_error(), "{}", response.text());
            refusals += 1;
            continue;
        }
        match kind {
            Sent::Transfer => expected.push(("transfer.created".into(), id(response))),
            Sent::Transaction => {
                let transaction = response.json();
                for posting in transaction["postings"].as_array().unwrap() {
                    let transfer = posting["id"].as_str().unwrap().to_owned();
                    expected.push(("transfer.created".into(), transfer));
                }
                expected.push(("transaction.created".into(), id(response)));
            }
            Sent::Capture(payment) => {
                // The capture's transfer is found below, among the transfers listed.
                expected.push(("hold.posted".into(), hold_of[payment].clone()));
                expected.push(("payment.captured".into(), payment.clone()));
                captured.push(payment.clone());
            }
            Sent::Cancel(payment) => {
                expected.push(("hold.voided".into(), hold_of[payment].clone()));
                expected.push(("payment.canceled".into(), payment.clone()));
            }
            Sent::Post(hold) => {
                expected.push(("transfer.created".into(), id(response)));
                expected.push(("hold.posted".into(), hold.clone()));
            }
            Sent::Void(hold) => expected.push(("hold.voided".into(), hold.clone())),
        }
    }
    assert!(refusals > 0, "the storm should include refusals");
    assert!(captured.len() >= 3, "{captured:?}");
    // Refunds of what was captured, after the storm.
    for payment in &captured {
        let refund = post(
            bank,
            &bank.bob,
            &format!("/v1/payments/{payment}/refunds"),
            json!({"amount": "0.50"}),
        )
        .await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.text());
        expected.push(("transfer.created".into(), id(&refund)));
        expected.push(("payment.refunded".into(), payment.clone()));
    }
    let transfers = list(bank, "/v1/transfers").await;
    for transfer in &transfers {
        if transfer["kind"] == "capture" {
            expected.push((
                "transfer.created".into(),
                transfer["id"].as_str().unwrap().to_owned(),
            ));
        }
    }

    let events = all_events(bank, "").await;
    let published = tally(events.iter().map(change_of));
    assert_eq!(published, tally(expected), "events against the changes");
    // One transfer.created per stored transfer, no more.
    assert_eq!(
        events
            .iter()
            .filter(|event| event["type"] == "transfer.created")
            .count(),
        transfers.len()
    );

    // Each event is whole, and carries the resource as its GET shows it: every transfer (which
    // never changes), and every payment's and hold's newest state.
    let mut newest: HashMap<String, &Value> = HashMap::new();
    for event in &events {
        let keys: Vec<&str> = event
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 4, "{event}");
        assert!(event["id"].as_str().unwrap().starts_with("evt_"), "{event}");
        assert!(event["created_at"].is_string(), "{event}");
        let (kind, object) = change_of(event);
        let resource = match kind.as_str() {
            "transfer.created" => "transfers",
            "transaction.created" => "transactions",
            _ => "",
        };
        if !resource.is_empty() {
            assert_eq!(
                event["data"]["object"],
                read(bank, &format!("/v1/{resource}/{object}")).await
            );
        }
        newest.insert(object, event);
    }
    for payment in &payments {
        assert_eq!(
            newest[payment]["data"]["object"],
            read(bank, &format!("/v1/payments/{payment}")).await
        );
    }
    for hold in holds.iter().chain(hold_of.values()) {
        assert_eq!(
            newest[hold]["data"]["object"],
            read(bank, &format!("/v1/holds/{hold}")).await
        );
    }
    // Each payment event shows the state its type names.
    for event in &events {
        let state = match event["type"].as_str().unwrap() {
            "payment.authorized" => "authorized",
            "payment.captured" => "captured",
            "payment.canceled" => "canceled",
            "hold.voided" => "voided",
            _ => continue,
        };
        assert_eq!(event["data"]["object"]["state"], state, "{event}");
    }
    // And one GET of an event answers what the list showed.
    let first = &events[0];
    assert_eq!(
        &read(
            bank,
            &format!("/v1/events/{}", first["id"].as_str().unwrap())
        )
        .await,
        first
    );
    bank.assert_ledger_sound().await;
}

async fn expiries_have_their_events(store: Arc<dyn Store>) {
    let mut short = settings();
    short.authorization_ttl_secs = 1;
    let bank = bank_on(store.clone(), app_with(store.clone(), short)).await;
    let payer = bank.funded(&bank.alice, "50.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;
    let payment = id(&post(
        &bank,
        &bank.alice,
        "/v1/payments",
        json!({"payer_account_id": payer, "payee_account_id": payee, "amount": "5.00",
               "currency": "EUR"}),
    )
    .await);
    let authorized = bank
        .post(&bank.alice, &format!("/v1/payments/{payment}/authorize"))
        .await;
    assert_eq!(authorized.status, StatusCode::OK, "{}", authorized.text());
    let hold = id(&post(
        &bank,
        &bank.alice,
        "/v1/holds",
        json!({"from_account_id": payer, "to_account_id": payee, "amount": "2.00",
               "currency": "EUR", "expires_in_secs": 1}),
    )
    .await);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let page = coffre_store::expire_due_holds(
        store.as_ref(),
        coffre_api::event_renderer(),
        coffre_domain::time::Timestamp::now(),
    )
    .await
    .unwrap();
    assert_eq!(page.expired, 2);

    let events = all_events(&bank, "").await;
    let authorization = read(
        &bank,
        &format!("/v1/holds?account_id={payer}&state=expired"),
    )
    .await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hold| hold["id"].as_str().unwrap().to_owned())
        .find(|id| *id != hold)
        .unwrap();
    let tail: Vec<Change> = events[events.len() - 3..].iter().map(change_of).collect();
    let mut tail_sorted = tail.clone();
    tail_sorted.sort();
    let mut wanted = vec![
        ("hold.expired".to_owned(), authorization.clone()),
        ("payment.expired".to_owned(), payment.clone()),
        ("hold.expired".to_owned(), hold.clone()),
    ];
    wanted.sort();
    assert_eq!(tail_sorted, wanted, "{tail:?}");
    for event in &events[events.len() - 3..] {
        let (kind, object) = change_of(event);
        let uri = if kind == "payment.expired" {
            format!("/v1/payments/{object}")
        } else {
            format!("/v1/holds/{object}")
        };
        assert_eq!(event["data"]["object"], read(&bank, &uri).await, "{kind}");
    }
    let payment_event = events
        .iter()
        .find(|event| event["type"] == "payment.expired")
        .unwrap();
    assert_eq!(payment_event["data"]["object"]["state"], "canceled");
    assert_eq!(payment_event["data"]["object"]["failure_reason"], "expired");
}

async fn events_filter_page_and_are_for_admins(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let account = bank.funded(&bank.alice, "10.00").await;
    let before_payment = read(&bank, "/v1/events?limit=1").await["data"][0]["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = bank.open(&bank.bob, "EUR").await;
    let payment = id(&post(
        &bank,
        &bank.alice,
        "/v1/payments",
        json!({"payer_account_id": account, "payee_account_id": other, "amount": "1.00",
               "currency": "EUR"}),
    )
    .await);

    let all = all_events(&bank, "").await;
    let types: Vec<&str> = all
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "account.created",
            "transfer.created",
            "account.created",
            "payment.created"
        ]
    );
    let exact = all_events(&bank, "&type=account.created").await;
    assert_eq!(exact.len(), 2);
    assert_eq!(exact[0], all[0]);
    assert_eq!(exact[1], all[2]);
    let prefixed = all_events(&bank, "&type=payment.*").await;
    assert_eq!(prefixed, [all[3].clone()]);
    assert_eq!(prefixed[0]["data"]["object"]["id"], payment.as_str());
    assert_eq!(all_events(&bank, "&type=*").await, all);
    assert!(all_events(&bank, "&type=hold.created").await.is_empty());

    // The time window: at or after, and before.
    let from = urlencoding(&before_payment);
    let since = all_events(&bank, &format!("&created_gte={from}")).await;
    assert_eq!(since, all[1..]);
    let until = all_events(&bank, &format!("&created_lt={from}")).await;
    assert_eq!(until, all[..1]);

    // Paging: a page of one says more follow, and the next starts after it.
    let first = read(&bank, "/v1/events?limit=1").await;
    assert_eq!(first["has_more"], true);
    assert_eq!(first["data"][0], all[3]);
    let next = read(
        &bank,
        &format!(
            "/v1/events?limit=2&starting_after={}",
            all[3]["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(next["data"], json!([all[2], all[1]]));

    // A `*` ends a prefix; it is nowhere else.
    for query in ["type=Payment.*", "type=a*b", "type=*expired", "limit=0"] {
        bank.get(&bank.admin, &format!("/v1/events?{query}"))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    }
    for query in ["starting_after=nope", "created_gte=yesterday"] {
        bank.get(&bank.admin, &format!("/v1/events?{query}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
    }
    bank.get(
        &bank.admin,
        "/v1/events/evt_0193a5b0c1d27e3f8a9b0c1d2e3f4a5b",
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "EVENT_NOT_FOUND");
    bank.get(&bank.admin, "/v1/events/not-an-id")
        .await
        .assert_error(StatusCode::NOT_FOUND, "EVENT_NOT_FOUND");
    let event_id = all[0]["id"].as_str().unwrap();
    for who in [&bank.manager, &bank.alice] {
        bank.get(who, "/v1/events")
            .await
            .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
        bank.get(who, &format!("/v1/events/{event_id}"))
            .await
            .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    }
}

/// A timestamp made safe for a query string (`+` would read as a space).
fn urlencoding(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
