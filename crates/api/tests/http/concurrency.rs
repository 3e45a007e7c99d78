//! The ledger under concurrent requests: storms of opposite transfers conserve money without
//! surfacing a deadlock, and a hot account never pays out more than it holds.

use std::sync::Arc;

use coffre_store::Store;
use futures_util::future::join_all;
use http::StatusCode;

use serde_json::json;

use crate::bank::{Bank, Person, bank};
use crate::support::{TestResponse, new_key, post_keyed, user};

on_both_backends!(
    multi_thread: a_storm_of_opposite_transfers_conserves_money,
    a_hot_account_pays_out_exactly_what_it_holds,
);

/// One transfer to run: who sends it (their token), from, to, how much (EUR).
struct Job {
    token: String,
    from: String,
    to: String,
    amount: String,
}

/// Sends every job at once, each in a task of its own so they spread over the runtime's
/// threads; the responses come back in job order.
async fn transfer_all(bank: &Bank, jobs: Vec<Job>) -> Vec<TestResponse> {
    let tasks = jobs.into_iter().map(|job| {
        let app = bank.app.clone();
        tokio::spawn(async move {
            post_keyed(
                &app,
                "/v1/transfers",
                &job.token,
                &new_key(),
                json!({"from_account_id": job.from, "to_account_id": job.to,
                       "amount": job.amount, "currency": "EUR"}),
            )
            .await
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect()
}

/// The sum of `accounts`' balances in cents.
async fn total_cents(bank: &Bank, accounts: &[String]) -> i64 {
    let mut total = 0;
    for account in accounts {
        let balance = bank.balance(account).await;
        total += balance.replace('.', "").parse::<i64>().unwrap();
    }
    total
}

async fn a_storm_of_opposite_transfers_conserves_money(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let mut people = Vec::new();
    for name in ["ann", "ben", "cat", "dan"] {
        let (id, token) = user(&bank.app, &format!("{name}@storm.test")).await;
        people.push(Person { id, token });
    }
    let mut accounts = Vec::new();
    for person in &people {
        accounts.push(bank.funded(person, "5.00").await);
    }
    let before = total_cents(&bank, &accounts).await;

    // Every ordered pair, several times, amounts that sometimes exceed what is left: transfers
    // in both directions between the same accounts run at once.
    let mut jobs = Vec::new();
    for round in 0..6_usize {
        for (from, sender) in people.iter().enumerate() {
            for to in 0..accounts.len() {
                if from != to {
                    let cents = 50 + (round * 37 + from * 11 + to * 7) % 200;
                    let amount = format!("{}.{:02}", cents / 100, cents % 100);
                    jobs.push(Job {
                        token: sender.token.clone(),
                        from: accounts[from].clone(),
                        to: accounts[to].clone(),
                        amount,
                    });
                }
            }
        }
    }
    let responses = transfer_all(&bank, jobs).await;
    let mut created = 0;
    for response in &responses {
        match response.status {
            StatusCode::CREATED => created += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
            }
            other => panic!("{other}: {}", response.text()),
        }
    }
    assert!(created > 0, "some transfers must go through");
    assert_eq!(total_cents(&bank, &accounts).await, before);
    for account in &accounts {
        assert!(!bank.balance(account).await.starts_with('-'));
    }
    bank.assert_ledger_sound().await;
}

async fn a_hot_account_pays_out_exactly_what_it_holds(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let hot = bank.funded(&bank.alice, "10.00").await;
    let sink = bank.open(&bank.bob, "EUR").await;
    let jobs = (0..30)
        .map(|_| Job {
            token: bank.alice.token.clone(),
            from: hot.clone(),
            to: sink.clone(),
            amount: "1.00".to_owned(),
        })
        .collect();
    let responses = transfer_all(&bank, jobs).await;
    let mut successes = 0;
    for response in &responses {
        match response.status {
            StatusCode::CREATED => successes += 1,
            _ => {
                response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS");
            }
        }
    }
    assert_eq!(successes, 10);
    assert_eq!(bank.balance(&hot).await, "0.00");
    assert_eq!(bank.balance(&sink).await, "10.00");
    bank.assert_ledger_sound().await;
}
