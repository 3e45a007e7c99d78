//! Transactions over HTTP: postings applied in order, all or nothing; a refusal names its
//! posting and writes nothing; who may post and read them; and a race of many transactions
//! over shared accounts that leaves every one whole or absent and the books balanced.

use std::collections::HashMap;
use std::sync::Arc;

use coffre_store::Store;
use futures_util::future::join_all;
use http::StatusCode;
use serde_json::{Value, json};

use crate::bank::{Bank, Person, bank};
use crate::support::{TestResponse, call, new_key, post_keyed, user};

on_both_backends!(
    a_transaction_posts_each_posting_as_a_transfer_in_order,
    a_refused_posting_names_its_index_and_nothing_is_written,
    postings_are_validated_at_the_edge_and_need_a_key,
    an_admin_settles_from_any_account_in_order_and_across_currencies,
    transactions_are_visible_to_their_parties_and_managers,
);

/// On a multi-threaded runtime: the point is requests running in parallel.
mod race {
    use super::a_race_of_transactions_over_shared_accounts_is_all_or_nothing;

    on_both_backends!(multi_thread: a_race_of_transactions_over_shared_accounts_is_all_or_nothing);
}

fn leg(from: &str, to: &str, amount: &str) -> Value {
    json!({"from_account_id": from, "to_account_id": to, "amount": amount, "currency": "EUR"})
}

async fn post(bank: &Bank, who: &Person, body: Value) -> TestResponse {
    post_keyed(&bank.app, "/v1/transactions", &who.token, &new_key(), body).await
}

/// The error's `details.posting_index`.
fn posting_index(response: &TestResponse) -> Value {
    response.json()["error"]["details"]["posting_index"].clone()
}

async fn a_transaction_posts_each_posting_as_a_transfer_in_order(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    let other = bank.open(&bank.bob, "EUR").await;
    let created = post(
        &bank,
        &bank.alice,
        json!({"postings": [
            {"from_account_id": alices, "to_account_id": bobs, "amount": "3.00",
             "currency": "EUR", "description": "rent"},
            leg(&alices, &other, "1.50"),
        ], "description": "March", "metadata": {"order": "A-17", "channel": ""}}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let transaction = created.json();
    let keys: Vec<&String> = transaction.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["created_at", "description", "id", "metadata", "postings"]
    );
    assert_eq!(transaction["description"], "March");
    assert_eq!(
        transaction["metadata"],
        json!({"channel": "", "order": "A-17"})
    );
    let id = transaction["id"].as_str().unwrap();
    let postings = transaction["postings"].as_array().unwrap();
    assert_eq!(postings.len(), 2);
    for posting in postings {
        assert_eq!(posting["kind"], "transfer");
        assert_eq!(posting["transaction_id"], id);
    }
    assert_eq!(postings[0]["description"], "rent");
    assert_eq!(postings[0]["amount"], "3.00");
    assert_eq!(postings[1]["to_account_id"], other.as_str());
    assert_eq!(postings[1]["description"], Value::Null);
    assert_eq!(bank.balance(&alices).await, "5.50");
    assert_eq!(bank.balance(&bobs).await, "3.00");
    assert_eq!(bank.balance(&other).await, "1.50");

    // It reads back the same, postings in order; each posting reads as a transfer naming it.
    let read = bank
        .get(&bank.alice, &format!("/v1/transactions/{id}"))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    assert_eq!(read.json(), transaction);
    let second = postings[1]["id"].as_str().unwrap();
    let transfer = bank
        .get(&bank.alice, &format!("/v1/transfers/{second}"))
        .await;
    assert_eq!(transfer.json(), postings[1]);
    // Other transfers belong to no transaction.
    let plain = bank
        .transfer(&bank.alice, &alices, &bobs, "0.50", "EUR")
        .await;
    assert_eq!(plain.json()["transaction_id"], Value::Null);

    // One audit event for the whole transaction, naming its postings.
    assert_eq!(bank.audit_actions(id).await, ["TRANSACTION"]);
    let events = bank
        .get(&bank.admin, &format!("/v1/audit-events?resource_id={id}"))
        .await
        .json();
    let event = &events["data"][0];
    assert_eq!(event["resource_type"], "transaction");
    assert_eq!(event["actor_id"], bank.alice.id.as_str());
    assert_eq!(event["new_value"]["metadata"]["order"], "A-17");
    let named: Vec<&Value> = event["new_value"]["postings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|posting| &posting["transfer_id"])
        .collect();
    assert_eq!(named, [&postings[0]["id"], &postings[1]["id"]]);
    for posting in postings {
        let transfer_id = posting["id"].as_str().unwrap();
        assert!(bank.audit_actions(transfer_id).await.is_empty());
    }
    bank.assert_ledger_sound().await;
}

async fn a_refused_posting_names_its_index_and_nothing_is_written(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.funded(&bank.bob, "10.00").await;
    let jpy = bank.open(&bank.bob, "JPY").await;
    let frozen = bank.open(&bank.bob, "EUR").await;
    let freeze = bank
        .post(&bank.manager, &format!("/v1/accounts/{frozen}/freeze"))
        .await;
    assert_eq!(freeze.status, StatusCode::OK, "{}", freeze.text());
    let missing = uuid::Uuid::now_v7().to_string();

    let cases = [
        (
            &bank.alice,
            vec![leg(&alices, &bobs, "6.00"), leg(&alices, &bobs, "6.00")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "INSUFFICIENT_FUNDS",
            1,
        ),
        // Bob's account is, to alice, absent; to a manager, visible but not theirs to move.
        (
            &bank.alice,
            vec![leg(&alices, &bobs, "1.00"), leg(&bobs, &alices, "1.00")],
            StatusCode::NOT_FOUND,
            "ACCOUNT_NOT_FOUND",
            1,
        ),
        (
            &bank.manager,
            vec![leg(&bobs, &alices, "1.00")],
            StatusCode::FORBIDDEN,
            "INSUFFICIENT_PERMISSIONS",
            0,
        ),
        (
            &bank.alice,
            vec![leg(&alices, &missing, "1.00")],
            StatusCode::NOT_FOUND,
            "ACCOUNT_NOT_FOUND",
            0,
        ),
        (
            &bank.alice,
            vec![
                leg(&alices, &bobs, "1.00"),
                leg(&alices, &bobs, "1.00"),
                leg(&alices, &alices, "1.00"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "SAME_ACCOUNT",
            2,
        ),
        (
            &bank.alice,
            vec![leg(&alices, &bobs, "1.00"), leg(&alices, &jpy, "1.00")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "CURRENCY_MISMATCH",
            1,
        ),
        (
            &bank.alice,
            vec![leg(&alices, &bobs, "1.00"), leg(&alices, &frozen, "1.00")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "ACCOUNT_FROZEN",
            1,
        ),
    ];
    for (who, postings, status, code, index) in cases {
        let key = new_key();
        let body = json!({ "postings": postings });
        let refused = post_keyed(
            &bank.app,
            "/v1/transactions",
            &who.token,
            &key,
            body.clone(),
        )
        .await;
        let message = refused.assert_error(status, code);
        assert!(
            message.starts_with(&format!("Posting {index}")),
            "{message}"
        );
        assert_eq!(posting_index(&refused), index, "{code}");
        // The refusal is kept with its key, like any business failure.
        let replayed = post_keyed(&bank.app, "/v1/transactions", &who.token, &key, body).await;
        assert_eq!(replayed.status, status);
        assert_eq!(replayed.body, refused.body);
    }

    // Nothing of any of them was written.
    assert_eq!(bank.balance(&alices).await, "10.00");
    assert_eq!(bank.balance(&bobs).await, "10.00");
    let listed = bank.get(&bank.admin, "/v1/transactions").await.json();
    assert_eq!(listed["data"], json!([]));
    let transfers = bank
        .get(&bank.admin, &format!("/v1/transfers?account_id={alices}"))
        .await
        .json();
    assert_eq!(
        transfers["data"].as_array().unwrap().len(),
        1,
        "the deposit"
    );
    let events = bank
        .get(&bank.admin, "/v1/audit-events?action=TRANSACTION")
        .await
        .json();
    assert_eq!(events["data"], json!([]));
    bank.assert_ledger_sound().await;
}

async fn postings_are_validated_at_the_edge_and_need_a_key(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    let many: Vec<Value> = (0..65).map(|_| leg(&alices, &bobs, "0.01")).collect();
    let most: Vec<Value> = (0..64).map(|_| leg(&alices, &bobs, "0.01")).collect();
    for (body, field, index) in [
        (json!({"postings": []}), "postings", None),
        (json!({"postings": many}), "postings", None),
        (json!({}), "postings", None),
        (
            json!({"postings": [leg(&alices, &bobs, "1.00"), leg(&alices, &bobs, "1.001")]}),
            "postings[1].amount",
            Some(1),
        ),
        (
            json!({"postings": [{"from_account_id": alices, "to_account_id": bobs,
                                 "amount": "1.00", "currency": "EURO"}]}),
            "postings[0].currency",
            Some(0),
        ),
        (
            json!({"postings": [leg(&alices, &bobs, "1.00")], "description": ""}),
            "description",
            None,
        ),
        (
            json!({"postings": [leg(&alices, &bobs, "1.00")], "metadata": {"a[b]": "x"}}),
            "metadata",
            None,
        ),
        (
            json!({"postings": [leg(&alices, &bobs, "1.00")], "metadata": {"n": 1}}),
            "metadata",
            None,
        ),
        (
            json!({"postings": [{"from_account_id": alices, "to_account_id": bobs,
                                 "amount": "1.00", "currency": "EUR", "memo": "x"}]}),
            "memo",
            None,
        ),
    ] {
        let response = post(&bank, &bank.alice, body).await;
        let message = response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(message.contains(field), "{field}: {message}");
        let expected = index.map_or(Value::Null, |index: u8| json!(index));
        assert_eq!(posting_index(&response), expected, "{message}");
    }
    let unkeyed = call(
        &bank.app,
        "POST",
        "/v1/transactions",
        &bank.alice.token,
        Some(json!({"postings": [leg(&alices, &bobs, "1.00")]})),
    )
    .await;
    unkeyed.assert_error(StatusCode::BAD_REQUEST, "IDEMPOTENCY_KEY_REQUIRED");
    assert_eq!(bank.balance(&alices).await, "10.00");

    // 64 postings are one transaction.
    let full = post(&bank, &bank.alice, json!({ "postings": most })).await;
    assert_eq!(full.status, StatusCode::CREATED, "{}", full.text());
    let postings = full.json()["postings"].as_array().unwrap().clone();
    assert_eq!(postings.len(), 64);
    assert_eq!(full.json()["metadata"], json!({}));
    assert_eq!(bank.balance(&bobs).await, "0.64");
    let id = full.json()["id"].as_str().unwrap().to_owned();
    let read = bank
        .get(&bank.bob, &format!("/v1/transactions/{id}"))
        .await
        .json();
    assert_eq!(read["postings"].as_array().unwrap(), &postings);
}

async fn an_admin_settles_from_any_account_in_order_and_across_currencies(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let payer = bank.funded(&bank.alice, "100.00").await;
    // The merchant starts empty: its fee and tax are paid out of what the first posting brings.
    let merchant = bank.open(&bank.bob, "EUR").await;
    let platform = bank.open(&bank.admin, "EUR").await;
    let tax = bank.open(&bank.admin, "EUR").await;
    let settle = json!({"postings": [
        leg(&payer, &merchant, "40.00"),
        leg(&merchant, &platform, "1.20"),
        leg(&merchant, &tax, "8.00"),
    ]});
    let settled = post(&bank, &bank.admin, settle).await;
    assert_eq!(settled.status, StatusCode::CREATED, "{}", settled.text());
    assert_eq!(bank.balance(&payer).await, "60.00");
    assert_eq!(bank.balance(&merchant).await, "30.80");
    assert_eq!(bank.balance(&platform).await, "1.20");
    assert_eq!(bank.balance(&tax).await, "8.00");
    // The other order spends before it receives.
    let backwards = post(
        &bank,
        &bank.admin,
        json!({"postings": [leg(&merchant, &tax, "40.00"), leg(&payer, &merchant, "40.00")]}),
    )
    .await;
    backwards.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
    assert_eq!(posting_index(&backwards), 0);
    // A user may not spend from another's account, even one they receive into.
    let taking = post(
        &bank,
        &bank.bob,
        json!({"postings": [leg(&payer, &merchant, "1.00")]}),
    )
    .await;
    taking.assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");

    // An exchange: two postings through the operator's accounts, one per currency.
    let alice_jpy = bank.open(&bank.alice, "JPY").await;
    let operator_eur = bank.open(&bank.admin, "EUR").await;
    let operator_jpy = bank.open(&bank.admin, "JPY").await;
    let deposit = bank.deposit(&operator_jpy, "100000", "JPY").await;
    assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text());
    let exchange = post(
        &bank,
        &bank.alice,
        json!({"postings": [
            leg(&payer, &operator_eur, "10.00"),
            {"from_account_id": operator_jpy, "to_account_id": alice_jpy,
             "amount": "1600", "currency": "JPY"},
        ]}),
    )
    .await;
    // Alice does not own the operator's JPY account.
    exchange.assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    assert_eq!(posting_index(&exchange), 1);
    let exchange = post(
        &bank,
        &bank.admin,
        json!({"postings": [
            leg(&payer, &operator_eur, "10.00"),
            {"from_account_id": operator_jpy, "to_account_id": alice_jpy,
             "amount": "1600", "currency": "JPY"},
        ]}),
    )
    .await;
    assert_eq!(exchange.status, StatusCode::CREATED, "{}", exchange.text());
    assert_eq!(bank.balance(&payer).await, "50.00");
    assert_eq!(bank.balance(&alice_jpy).await, "1600");
    assert_eq!(bank.balance(&operator_jpy).await, "98400");
    let report = bank.assert_ledger_sound().await;
    assert_eq!(report["currencies"].as_array().unwrap().len(), 2);
}

async fn transactions_are_visible_to_their_parties_and_managers(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let (carol_id, carol_token) = user(&bank.app, "carol@bank.test").await;
    let carol = Person {
        id: carol_id,
        token: carol_token,
    };
    let alices = bank.funded(&bank.alice, "10.00").await;
    let bobs = bank.open(&bank.bob, "EUR").await;
    let carols = bank.funded(&carol, "10.00").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let created = post(
            &bank,
            &bank.alice,
            json!({"postings": [leg(&alices, &bobs, "1.00")]}),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        ids.push(created.json()["id"].as_str().unwrap().to_owned());
    }
    let carols_own = post(
        &bank,
        &carol,
        json!({"postings": [leg(&carols, &alices, "2.00")]}),
    )
    .await;
    let carols_own = carols_own.json()["id"].as_str().unwrap().to_owned();

    let first = &ids[0];
    for (who, status) in [
        (&bank.alice, StatusCode::OK),
        (&bank.bob, StatusCode::OK),
        (&bank.manager, StatusCode::OK),
        (&bank.admin, StatusCode::OK),
        (&carol, StatusCode::NOT_FOUND),
    ] {
        let read = bank.get(who, &format!("/v1/transactions/{first}")).await;
        if status == StatusCode::OK {
            assert_eq!(read.status, status, "{}", read.text());
        } else {
            read.assert_error(status, "TRANSACTION_NOT_FOUND");
        }
    }
    bank.get(&bank.alice, "/v1/transactions/not-a-uuid")
        .await
        .assert_error(StatusCode::NOT_FOUND, "TRANSACTION_NOT_FOUND");
    let unknown = uuid::Uuid::now_v7();
    bank.get(&bank.admin, &format!("/v1/transactions/{unknown}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "TRANSACTION_NOT_FOUND");
    // The manager's read of others' data is audited; the parties' own reads are not.
    assert_eq!(
        bank.audit_actions(first).await,
        ["TRANSACTION", "READ", "READ"]
    );

    let listed = |who: &Person, query: String| {
        let app = bank.app.clone();
        let token = who.token.clone();
        async move {
            let response = call(
                &app,
                "GET",
                &format!("/v1/transactions{query}"),
                &token,
                None,
            )
            .await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.text());
            let page = response.json();
            let ids: Vec<String> = page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|transaction| transaction["id"].as_str().unwrap().to_owned())
                .collect();
            (ids, page["has_more"].as_bool().unwrap())
        }
    };
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    // Alice received carol's; bob only alice's; the manager everything.
    let mut alices_view = vec![carols_own.clone()];
    alices_view.extend(newest_first.clone());
    assert_eq!(
        listed(&bank.alice, String::new()).await,
        (alices_view.clone(), false)
    );
    assert_eq!(
        listed(&bank.bob, String::new()).await,
        (newest_first.clone(), false)
    );
    assert_eq!(
        listed(&carol, String::new()).await,
        (vec![carols_own.clone()], false)
    );
    assert_eq!(
        listed(&bank.manager, String::new()).await,
        (alices_view, false)
    );
    assert_eq!(
        listed(&bank.bob, format!("?account_id={bobs}")).await,
        (newest_first.clone(), false)
    );
    assert_eq!(
        listed(&bank.manager, format!("?account_id={carols}")).await,
        (vec![carols_own.clone()], false)
    );
    bank.get(&carol, &format!("/v1/transactions?account_id={bobs}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
    // Pages of one, newest first.
    let (page, more) = listed(&bank.bob, "?limit=2".to_owned()).await;
    assert_eq!((page.as_slice(), more), (&newest_first[..2], true));
    let after = &page[1];
    let (page, more) = listed(&bank.bob, format!("?limit=2&starting_after={after}")).await;
    assert_eq!((page.as_slice(), more), (&newest_first[2..], false));
}

/// How many transactions the race sends, each of three postings over four shared accounts.
const RACE_TRANSACTIONS: usize = 48;

async fn a_race_of_transactions_over_shared_accounts_is_all_or_nothing(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let mut accounts = Vec::new();
    for _ in 0..4 {
        accounts.push(bank.funded(&bank.alice, "5.00").await);
    }
    let cents_of = |text: &str| text.replace('.', "").parse::<i64>().unwrap();
    let mut expected: HashMap<String, i64> = HashMap::new();
    for account in &accounts {
        expected.insert(account.clone(), cents_of(&bank.balance(account).await));
    }

    // Each transaction runs a ring over three of the accounts, in both directions and with
    // amounts that sometimes exceed what is left, so that some postings find too little.
    let bodies: Vec<Value> = (0..RACE_TRANSACTIONS)
        .map(|n| {
            let ring = [n % 4, (n + 1 + n / 4 % 3) % 4, (n + 3) % 4];
            let cents = |k: usize| 50 + (n * 37 + k * 101) % 400;
            let amount = |k: usize| format!("{}.{:02}", cents(k) / 100, cents(k) % 100);
            let postings: Vec<Value> = (0..3)
                .map(|k| {
                    let from = &accounts[ring[k]];
                    let to = &accounts[ring[(k + 1) % 3]];
                    leg(from, to, &amount(k))
                })
                .filter(|posting| posting["from_account_id"] != posting["to_account_id"])
                .collect();
            json!({ "postings": postings })
        })
        .collect();
    let tasks = bodies.iter().cloned().map(|body| {
        let app = bank.app.clone();
        let token = bank.alice.token.clone();
        tokio::spawn(
            async move { post_keyed(&app, "/v1/transactions", &token, &new_key(), body).await },
        )
    });
    let responses: Vec<TestResponse> = join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();

    let mut created = Vec::new();
    for response in &responses {
        match response.status {
            StatusCode::CREATED => created.push(response.json()),
            StatusCode::UNPROCESSABLE_ENTITY => {
                response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
                assert!(posting_index(response).is_u64(), "{}", response.text());
            }
            other => panic!("{other}: {}", response.text()),
        }
    }
    assert!(!created.is_empty(), "some transactions must go through");

    // Every accepted transaction was written whole; the refused ones not at all: the balances
    // are the starting ones moved by exactly the accepted transactions' postings.
    let mut posted_transfers = 0;
    for transaction in &created {
        let id = transaction["id"].as_str().unwrap();
        let read = bank
            .get(&bank.admin, &format!("/v1/transactions/{id}"))
            .await;
        assert_eq!(&read.json(), transaction);
        for posting in transaction["postings"].as_array().unwrap() {
            let cents = cents_of(posting["amount"].as_str().unwrap());
            *expected
                .get_mut(posting["from_account_id"].as_str().unwrap())
                .unwrap() -= cents;
            *expected
                .get_mut(posting["to_account_id"].as_str().unwrap())
                .unwrap() += cents;
            posted_transfers += 1;
        }
    }
    for account in &accounts {
        let balance = cents_of(&bank.balance(account).await);
        assert_eq!(balance, expected[account], "{account}");
        assert!(balance >= 0);
    }
    let mut listed_transfers = 0;
    for account in &accounts {
        let page = bank
            .get(
                &bank.admin,
                &format!("/v1/transfers?account_id={account}&limit=100"),
            )
            .await
            .json();
        listed_transfers += page["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|transfer| !transfer["transaction_id"].is_null())
            .count();
    }
    // Each posting touches two of the accounts.
    assert_eq!(listed_transfers, 2 * posted_transfers);
    let events = bank
        .get(&bank.admin, "/v1/audit-events?action=TRANSACTION&limit=100")
        .await
        .json();
    assert_eq!(events["data"].as_array().unwrap().len(), created.len());
    bank.assert_ledger_sound().await;
}
