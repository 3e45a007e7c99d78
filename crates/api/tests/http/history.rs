//! An account's past over HTTP: balances as of an instant, statements as JSON pages and CSV.

use std::sync::Arc;

use axum::body::Body;
use coffre_store::Store;
use http::{Request, StatusCode};
use serde_json::Value;

use crate::bank::{Bank, bank};
use crate::support::send;

on_both_backends!(
    a_balance_as_of_an_instant_replays_the_lines,
    a_statement_adds_up_and_pages_oldest_first,
    a_statement_downloads_as_csv,
    history_is_the_owners_checked_and_audited,
);

/// Alice's account after a deposit of 10.00, two payments out and one back: its id and its
/// lines, oldest first.
async fn activity(bank: &Bank) -> (String, Vec<Value>) {
    let account = bank.funded(&bank.alice, "10.00").await;
    let other = bank.funded(&bank.bob, "5.00").await;
    for (from, to, amount, who) in [
        (&account, &other, "1.25", &bank.alice),
        (&account, &other, "2.00", &bank.alice),
        (&other, &account, "0.50", &bank.bob),
    ] {
        let moved = bank.transfer(who, from, to, amount, "EUR").await;
        assert_eq!(moved.status, StatusCode::CREATED, "{}", moved.text());
    }
    let lines = bank
        .get(
            &bank.alice,
            &format!("/v1/accounts/{account}/entries?limit=100"),
        )
        .await;
    assert_eq!(lines.status, StatusCode::OK, "{}", lines.text());
    let mut lines = lines.json()["data"].as_array().unwrap().clone();
    lines.reverse();
    assert_eq!(lines.len(), 4);
    (account, lines)
}

fn minor(amount: &Value) -> i64 {
    let text = amount.as_str().unwrap();
    let (units, cents) = text.trim_start_matches('-').split_once('.').unwrap();
    let value = units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap();
    if text.starts_with('-') { -value } else { value }
}

/// Alice's `GET /v1/accounts/{account}/{path}`, asserted 200.
async fn read(bank: &Bank, account: &str, path: String) -> Value {
    let response = bank
        .get(&bank.alice, &format!("/v1/accounts/{account}/{path}"))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()
}

fn at(line: &Value) -> &str {
    line["created_at"].as_str().unwrap()
}

async fn a_balance_as_of_an_instant_replays_the_lines(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let (account, lines) = activity(&bank).await;
    let balance = |as_of: String| read(&bank, &account, format!("balance{as_of}"));
    let mut replayed = 0;
    for line in &lines {
        replayed += minor(&line["amount"]);
        let answer = balance(format!("?as_of={}", at(line))).await;
        assert_eq!(minor(&answer["balance"]), replayed, "{answer} after {line}");
        assert_eq!(answer["balance"], line["balance_after"]);
        assert_eq!(answer["last_entry_id"], line["id"]);
        assert_eq!(answer["as_of"], line["created_at"]);
    }
    let before = balance("?as_of=2000-01-01T00:00:00Z".into()).await;
    assert_eq!(before["balance"], "0.00");
    assert_eq!(before["last_entry_id"], Value::Null);
    let now = balance(String::new()).await;
    assert_eq!(now["balance"], "7.25");
    assert_eq!(now["balance"], bank.balance(&account).await);
    assert_eq!(now["last_entry_id"], lines[3]["id"]);
}

async fn a_statement_adds_up_and_pages_oldest_first(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let (account, lines) = activity(&bank).await;
    let statement = |query: String| read(&bank, &account, format!("statement{query}"));
    // The two payments out: from the first one's instant (inclusive) to the refund's (exclusive).
    let window = format!("?from={}&to={}", at(&lines[1]), at(&lines[3]));
    let whole = statement(window.clone()).await;
    assert_eq!(whole["opening_balance"], "10.00");
    assert_eq!(whole["total_debits"], "3.25");
    assert_eq!(whole["total_credits"], "0.00");
    assert_eq!(whole["closing_balance"], "6.75");
    assert_eq!(whole["closing_balance"], lines[2]["balance_after"]);
    let ids: Vec<&Value> = whole["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(ids, [&lines[1]["id"], &lines[2]["id"]]);
    assert_eq!(whole["has_more"], false);

    let first = statement(format!("{window}&limit=1")).await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 1);
    assert_eq!(first["entries"][0]["id"], lines[1]["id"]);
    assert_eq!(first["has_more"], true);
    // Totals are the window's, whatever the page.
    assert_eq!(first["total_debits"], "3.25");
    let after = lines[1]["id"].as_str().unwrap();
    let second = statement(format!("{window}&limit=1&starting_after={after}")).await;
    assert_eq!(second["entries"][0]["id"], lines[2]["id"]);
    assert_eq!(second["has_more"], false);

    // By default the whole history up to now: opening zero, closing the balance.
    let all = statement(String::new()).await;
    assert_eq!(all["opening_balance"], "0.00");
    assert_eq!(all["total_credits"], "10.50");
    assert_eq!(all["total_debits"], "3.25");
    assert_eq!(all["closing_balance"], bank.balance(&account).await);
    assert_eq!(all["entries"].as_array().unwrap().len(), 4);
}

async fn a_statement_downloads_as_csv(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let (account, lines) = activity(&bank).await;
    let request = Request::get(format!("/v1/accounts/{account}/statement?limit=1"))
        .header("authorization", format!("Bearer {}", bank.alice.token))
        .header("accept", "text/csv")
        .body(Body::empty())
        .unwrap();
    let response = send(&bank.app, request).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.headers["content-type"], "text/csv; charset=utf-8");
    let text = response.text();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "id,transfer_id,amount,balance_after,created_at");
    // Every line of the window, not one page of them.
    assert_eq!(rows.len(), 1 + lines.len(), "{text}");
    for (row, line) in rows[1..].iter().zip(&lines) {
        let expected = format!(
            "{},{},{},{},{}",
            line["id"].as_str().unwrap(),
            line["transfer_id"].as_str().unwrap(),
            line["amount"].as_str().unwrap(),
            line["balance_after"].as_str().unwrap(),
            at(line),
        );
        assert_eq!(*row, expected);
    }
}

async fn history_is_the_owners_checked_and_audited(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let (account, _) = activity(&bank).await;
    for path in ["balance", "statement"] {
        let uri = format!("/v1/accounts/{account}/{path}");
        bank.get(&bank.bob, &uri)
            .await
            .assert_error(StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND");
        let read = bank.get(&bank.manager, &uri).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    }
    assert_eq!(
        bank.audit_actions(&account)
            .await
            .iter()
            .filter(|a| *a == "READ")
            .count(),
        2,
        "a manager's reads of alice's history are audited"
    );
    // Not an instant, or no such parameter: a bad query string.
    for malformed in [
        "balance?as_of=yesterday",
        "balance?as_of=2026-13-01T00:00:00Z",
        "statement?until=2026-01-01T00:00:00Z",
    ] {
        bank.get(&bank.alice, &format!("/v1/accounts/{account}/{malformed}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
    }
    // Well formed, but no window or no page.
    for invalid in [
        "statement?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "statement?from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "statement?limit=0",
    ] {
        bank.get(&bank.alice, &format!("/v1/accounts/{account}/{invalid}"))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    }
}
